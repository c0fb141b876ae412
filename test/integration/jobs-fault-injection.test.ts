import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, createTenant } from "../fixtures/gateway";
import { chatBody, deliver, getJobView, ledgerRowsFor, postJob, QUEUE, TERMINAL, waitFor } from "../fixtures/jobs-fixtures";

describe("nothing lost under injected failures", () => {
  it("every job ends terminal, redelivered messages change nothing, and the ledger agrees with every job", { timeout: 90_000 }, async () => {
    const tenant = await createTenant({ limits: { rpm: 100_000, tpm: 100_000_000, max_in_flight: 1_000 } });
    // Per-job faults, stored with the job from its x-tollgate-sim-fault header.
    const plans: { fault?: string; expect: string[] }[] = [
      ...Array.from({ length: 6 }, () => ({ expect: ["succeeded"] })),
      ...Array.from({ length: 6 }, () => ({ fault: "500@0.5", expect: ["succeeded", "dead"] })),
      ...Array.from({ length: 3 }, () => ({ fault: "500;provider=sim-a", expect: ["succeeded"] })),
      ...Array.from({ length: 3 }, () => ({ fault: "malformed@0.7", expect: ["succeeded", "dead"] })),
      ...Array.from({ length: 2 }, () => ({ fault: "429@0.5;retry_after=0", expect: ["succeeded", "dead"] })),
      { fault: "500", expect: ["dead"] },
    ];
    const jobs = await Promise.all(
      plans.map((plan, i) => postJob(tenant.key, { request: chatBody(`Fault drill ${i}`), priority: "interactive" }, plan.fault ? { "x-tollgate-sim-fault": plan.fault } : {})),
    );

    // A message retried mid-run: deliver every job's message again while the real consumer is working.
    const bodies = jobs.map((j) => ({ type: "job" as const, job_id: j.id, tenant_id: tenant.id, lane: "interactive" as const }));
    const redelivered = await deliver(QUEUE.interactive, bodies, 2);
    expect(redelivered.explicitAcks.length + redelivered.retryMessages.length).toBe(jobs.length);
    // Where this copy won the claim and asked for a retry, do what the platform does: deliver it again later.
    for (const { body, delaySeconds } of redelivered.retried) await env.JOBS_INTERACTIVE.send(body, { contentType: "json", delaySeconds });

    const finals = await waitFor(async () => {
      const views = await Promise.all(jobs.map((j) => getJobView(tenant.key, j.id)));
      return views.every((v) => TERMINAL.has(v.status)) ? views : null;
    }, "every job to be terminal", 80_000).catch(async (error: Error) => {
      const stuck = (await Promise.all(jobs.map((j) => getJobView(tenant.key, j.id)))).filter((v) => !TERMINAL.has(v.status));
      throw new Error(`${error.message}: ${JSON.stringify(stuck.map((v) => ({ id: v.id, status: v.status, attempts: v.attempts })))}`);
    });

    for (const [i, view] of finals.entries()) expect(plans[i]?.expect, `job ${i} (${plans[i]?.fault ?? "no fault"})`).toContain(view.status);
    // And once more after the end: a late duplicate is a no-op.
    await deliver(QUEUE.interactive, jobs.map((j) => ({ type: "job", job_id: j.id, tenant_id: tenant.id, lane: "interactive" })), 3);

    // The ledger agrees: one row per attempt, exactly one 200 per succeeded job, costs equal to the job's.
    for (const view of finals) {
      const rows = await waitFor(async () => {
        const found = await ledgerRowsFor(view.id);
        return found.length === view.attempts ? found : null;
      }, `ledger rows of ${view.id}`);
      const ok = rows.filter((r) => r.status === 200);
      expect(ok.length, view.id).toBe(view.status === "succeeded" ? 1 : 0);
      expect(rows.reduce((sum, r) => sum + r.cost_usd, 0)).toBeCloseTo(view.cost_usd, 12);
      expect(rows.every((r) => r.tenant_id === tenant.id && r.endpoint === "/v1/jobs")).toBe(true);
      if (view.status === "succeeded") expect(view.cost_usd).toBeGreaterThan(0);
    }
    const dead = finals.filter((v) => v.status === "dead").map((v) => v.id);
    const letters = await waitFor(async () => {
      const { results } = await env.DB.prepare("SELECT body_json FROM dead_letters WHERE tenant_id = ?").bind(tenant.id).all<{ body_json: string }>();
      return results.length === dead.length ? results : null;
    }, "a dead letter per dead job");
    expect(letters.map((l) => (JSON.parse(l.body_json) as { job_id: string }).job_id).sort()).toEqual(dead.sort());
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { admin, createTenant } from "../fixtures/gateway";
import { deliver, ledgerRowsFor, QUEUE, runCron, tenantCall, waitFor } from "../fixtures/jobs-fixtures";

type StepView = { name: string; status: string; output: string | null; tier: string | null; cache: string | null; cost_usd: number; attempts: number; note: string | null; error: { code: string } | null; started_at: number | null; finished_at: number | null };
type RunView = { id: string; status: string; cost_usd: number; partial: boolean; error: { code: string; step?: string } | null; steps: StepView[] };

async function define(key: string, name: string, definition: unknown): Promise<Response> {
  return tenantCall(key, `/v1/workflows/${name}`, "PUT", definition);
}

async function startRun(key: string, name: string, body: unknown): Promise<string> {
  const res = await tenantCall(key, `/v1/workflows/${name}/runs`, "POST", body);
  if (res.status !== 202) throw new Error(`start run: ${res.status} ${await res.text()}`);
  return (await res.json<{ id: string }>()).id;
}

const getRun = async (key: string, id: string) => (await tenantCall(key, `/v1/workflow-runs/${id}`)).json<RunView>();
const waitForRun = (key: string, id: string) =>
  waitFor(async () => {
    const run = await getRun(key, id);
    return run.status === "running" ? null : run;
  }, `run ${id} to end`);
const step = (run: RunView, name: string): StepView => {
  const found = run.steps.find((s) => s.name === name);
  if (!found) throw new Error(`no step ${name}`);
  return found;
};

// Three steps, one parallel pair: `facts` and `angles` fan out, `brief` joins them.
const BRIEF = {
  deadline_s: 120,
  steps: [
    { name: "facts", prompt: "List facts about {{input.topic}}", tier: "fast", timeout_s: 30 },
    { name: "angles", prompt: "Suggest angles on {{input.topic}}", tier: "fast", timeout_s: 30, max_attempts: 1 },
    { name: "brief", prompt: "Write a brief. FACTS: {{steps.facts.output}} ANGLES: {{steps.angles.output}}", tier: "balanced", depends_on: ["facts", "angles"], cacheable: false },
  ],
};

describe("workflows", () => {
  it("runs a three-step workflow with one parallel pair through the normal pipeline", async () => {
    const tenant = await createTenant();
    const put = await define(tenant.key, "brief", BRIEF);
    expect(await put.json()).toMatchObject({ name: "brief", version: 1 });
    const runId = await startRun(tenant.key, "brief", { input: { topic: "toll roads" } });

    // The coordinator queued both independent steps at once, before either ran.
    const queued = await env.DB.prepare("SELECT name, enqueued_at FROM workflow_steps WHERE run_id = ? AND enqueued_at IS NOT NULL ORDER BY name").bind(runId).all<{ name: string }>();
    expect(queued.results.map((r) => r.name)).toEqual(["angles", "facts"]);

    const run = await waitForRun(tenant.key, runId);
    expect(run.status).toBe("succeeded");
    const [facts, angles, brief] = [step(run, "facts"), step(run, "angles"), step(run, "brief")];
    expect(facts.output).toContain("toll roads");
    // The join step's prompt had the first step's output in it (the sim echoes a prompt's opening words).
    expect(brief.output).toContain('FACTS: On "List facts about');
    expect(brief.started_at).toBeGreaterThanOrEqual(Math.max(facts.finished_at ?? Infinity, angles.finished_at ?? Infinity));
    expect([facts.tier, angles.tier, brief.tier]).toEqual(["fast", "fast", "balanced"]);
    expect(brief.cache).toBe("bypass");
    expect(run.cost_usd).toBeCloseTo(facts.cost_usd + angles.cost_usd + brief.cost_usd, 12);

    // Each step is an ordinary ledger row, and the ledger agrees with the run's cost.
    const rows = await waitFor(async () => {
      const all = [...(await ledgerRowsFor(`${runId}/facts`)), ...(await ledgerRowsFor(`${runId}/angles`)), ...(await ledgerRowsFor(`${runId}/brief`))];
      return all.length === 3 ? all : null;
    }, "three step ledger rows");
    expect(rows.every((r) => r.endpoint === "/v1/workflows" && r.tenant_id === tenant.id)).toBe(true);
    expect(rows.reduce((sum, r) => sum + r.cost_usd, 0)).toBeCloseTo(run.cost_usd, 12);
  });

  it("a failed optional step is skipped and noted; the run goes on and succeeds", async () => {
    const tenant = await createTenant();
    const def = structuredClone(BRIEF);
    Object.assign(def.steps[1] ?? {}, { optional: true });
    await define(tenant.key, "brief", def);
    const runId = await startRun(tenant.key, "brief", { input: { topic: "bridges" }, sim_faults: { angles: "500" } });
    const run = await waitForRun(tenant.key, runId);
    expect(run.status).toBe("succeeded");
    expect(step(run, "angles")).toMatchObject({ status: "skipped", output: null, error: { code: "upstream_error" }, note: expect.stringMatching(/optional step skipped after 1 attempt/) });
    expect(step(run, "brief").status).toBe("succeeded");
    expect(step(run, "brief").output).toContain('FACTS: On "List facts about');
  });

  it("a failed required step fails the run with partial results; replaying its dead letter resumes the run", async () => {
    const tenant = await createTenant();
    await define(tenant.key, "brief", BRIEF);
    const runId = await startRun(tenant.key, "brief", { input: { topic: "tunnels" }, sim_faults: { angles: "500" } });
    const run = await waitForRun(tenant.key, runId);
    expect(run).toMatchObject({ status: "failed", partial: true, error: { code: "upstream_error", step: "angles" } });
    expect(step(run, "facts")).toMatchObject({ status: "succeeded", output: expect.stringContaining("tunnels") });
    expect(step(run, "angles").status).toBe("failed");
    expect(step(run, "brief").status).toBe("cancelled");

    const letter = await waitFor(() => env.DB.prepare("SELECT id, queue FROM dead_letters WHERE body_json LIKE ?").bind(`%${runId}%`).first<{ id: string; queue: string }>(), "the step's dead letter");
    expect(letter.queue).toBe("jobs-standard");
    // The cause goes away (the fault is removed), then an operator replays the step.
    await env.DB.prepare("UPDATE workflow_runs SET hints_json = '{\"task\":\"default\",\"cache\":\"default\"}' WHERE id = ?").bind(runId).run();
    const replay = await admin(`/admin/dead-letters/${letter.id}/replay`, "POST");
    expect(replay.status).toBe(200);
    const resumed = await waitForRun(tenant.key, runId);
    expect(resumed.status).toBe("succeeded");
    expect(step(resumed, "angles")).toMatchObject({ status: "succeeded", attempts: 2 });
    expect(step(resumed, "brief").status).toBe("succeeded");
  });

  it("the run's deadline ends it with partial results", async () => {
    const tenant = await createTenant();
    await define(tenant.key, "brief", { ...BRIEF, deadline_s: 2 });
    const runId = await startRun(tenant.key, "brief", { input: { topic: "ferries" }, sim_faults: { angles: "timeout" } });
    const run = await waitForRun(tenant.key, runId);
    expect(run).toMatchObject({ status: "timed_out", partial: true, error: { code: "deadline_exceeded" } });
    expect(step(run, "facts").status).toBe("succeeded");
    expect(step(run, "angles")).toMatchObject({ status: "failed", error: { code: "deadline_exceeded" } });
    expect(step(run, "brief")).toMatchObject({ status: "cancelled", note: expect.stringMatching(/run ended/) });
  });

  it("the cron sweep times out a run whose steps never ran", async () => {
    const tenant = await createTenant();
    await define(tenant.key, "brief", BRIEF);
    // The fault: the standard lane loses every message (sendBatch succeeds, nothing is delivered), so the
    // run's first steps stay queued and no consumer ever sees them.
    const lost = vi.spyOn(env.JOBS_STANDARD, "sendBatch").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
    let runId: string;
    try {
      runId = await startRun(tenant.key, "brief", { input: { topic: "canals" } });
      expect(lost).toHaveBeenCalled();
    } finally {
      lost.mockRestore();
    }
    const stuck = await getRun(tenant.key, runId);
    expect(stuck.status).toBe("running");
    expect(stuck.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([["facts", "queued", 0], ["angles", "queued", 0], ["brief", "pending", 0]]);

    // Before the deadline the sweep leaves it alone; past it (BRIEF.deadline_s), it ends the run.
    await runCron(new Date(Date.now() + (BRIEF.deadline_s - 10) * 1000));
    expect((await getRun(tenant.key, runId)).status).toBe("running");
    await runCron(new Date(Date.now() + (BRIEF.deadline_s + 10) * 1000));
    const ended = await getRun(tenant.key, runId);
    expect(ended).toMatchObject({ status: "timed_out", cost_usd: 0, error: { code: "deadline_exceeded" } });
    expect(ended.steps.every((s) => s.attempts === 0 && s.started_at === null && s.status !== "succeeded")).toBe(true);
    expect(await ledgerRowsFor(`${runId}/facts`)).toEqual([]);
  });

  it("the cron sweep retries a step whose consumer died", async () => {
    const tenant = await createTenant();
    await define(tenant.key, "brief", BRIEF);
    // Simulate a consumer that died mid-step on a finished run: the step is running with an expired lease.
    const runId = await startRun(tenant.key, "brief", { input: { topic: "locks" } });
    await waitForRun(tenant.key, runId);
    await env.DB.batch([
      env.DB.prepare("UPDATE workflow_runs SET status = 'running', finished_at = NULL WHERE id = ?").bind(runId),
      env.DB.prepare("UPDATE workflow_steps SET status = 'running', attempts = 1, lease_until = ?, output = NULL WHERE run_id = ? AND name = 'brief'").bind(Date.now() - 1, runId),
    ]);
    await runCron(new Date());
    const recovered = await waitFor(async () => {
      const run = await getRun(tenant.key, runId);
      return run.status === "succeeded" && step(run, "brief").attempts === 2 ? run : null;
    }, "the stuck step to be retried");
    expect(step(recovered, "brief").output).toContain("Write a brief");
  });

  it("redelivered step messages run nothing twice", async () => {
    const tenant = await createTenant();
    await define(tenant.key, "brief", BRIEF);
    const runId = await startRun(tenant.key, "brief", { input: { topic: "dams" } });
    const run = await waitForRun(tenant.key, runId);
    const result = await deliver(QUEUE.standard, [{ type: "workflow_step", run_id: runId, step: "facts", tenant_id: tenant.id, lane: "standard" }], 2);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await getRun(tenant.key, runId)).toEqual(run);
  });

  it("validates definitions and runs, and keeps tenants apart", async () => {
    const owner = await createTenant();
    const stranger = await createTenant();
    const cyclic = await define(owner.key, "loop", { steps: [{ name: "a", prompt: "x", depends_on: ["b"] }, { name: "b", prompt: "y", depends_on: ["a"] }] });
    expect(cyclic.status).toBe(400);
    expect(((await cyclic.json()) as { error: { message: string } }).error.message).toMatch(/cycle/);
    expect((await define(owner.key, "bad name!", BRIEF)).status).toBe(400);
    expect((await define(owner.key, "m", { steps: [{ name: "a", prompt: "x", model: "nope/x" }] })).status).toBe(400);

    await define(owner.key, "brief", BRIEF);
    const missing = await tenantCall(owner.key, "/v1/workflows/brief/runs", "POST", { input: {} });
    expect(await missing.json()).toMatchObject({ error: { param: "input.topic" } });

    const runId = await startRun(owner.key, "brief", { input: { topic: "owner only" } });
    expect((await tenantCall(stranger.key, `/v1/workflow-runs/${runId}`)).status).toBe(404);
    expect((await tenantCall(stranger.key, "/v1/workflows/brief")).status).toBe(404);
    expect((await tenantCall(stranger.key, "/v1/workflows/brief/runs", "POST", { input: { topic: "x" } })).status).toBe(404);
    await waitForRun(owner.key, runId);
  });
});

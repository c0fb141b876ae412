import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emptyLedgerEvent } from "../../src/ledger/ledger-event";
import { admin, call, createTenant, ledgerRow } from "../fixtures/gateway";
import { deliver, getJobView, insertQueuedJob, QUEUE, waitForJob } from "../fixtures/jobs-fixtures";

type Letter = { id: string; queue: string; tenant_id: string | null; reason: string; attempts: number; body: unknown; replayed_at: number | null };
const list = async (query = "") => (await (await admin(`/admin/dead-letters${query}`, "GET")).json<{ data: Letter[] }>()).data;

describe("dead-letter queue", () => {
  it("records every kind of message the queues give up on, with where it came from", async () => {
    const tenant = await createTenant();
    const job = await insertQueuedJob(tenant.id, "the queue gave up on me");
    const ledgerEvent = { ...emptyLedgerEvent(`dlq-ledger-${Date.now()}`, "/v1/chat/completions", Date.now()), tenant_id: tenant.id, status: 200 };
    const alert = { type: "budget_alert", tenant_id: tenant.id, scope: "tenant", period: "day", threshold: 0.8 };
    const junk = { hello: "world" };
    const result = await deliver(QUEUE.dead, [job, ledgerEvent, alert, junk], 1);
    expect(result.explicitAcks).toHaveLength(4);

    const letters = await list(`?tenant_id=${tenant.id}`);
    const byQueue = new Map(letters.map((l) => [l.queue, l]));
    expect([...byQueue.keys()].sort()).toEqual(["alerts", "jobs-interactive", "ledger"]);
    expect(byQueue.get("jobs-interactive")).toMatchObject({ body: job, reason: expect.stringMatching(/queue gave up/), replayed_at: null });
    expect(byQueue.get("ledger")?.reason).toMatch(/ledger consumer/);
    expect((await list("?queue=unknown")).some((l) => JSON.stringify(l.body) === JSON.stringify(junk))).toBe(true);
    // The job the queue gave up on is closed as dead, never left queued.
    expect(await getJobView(tenant.key, job.job_id)).toMatchObject({ status: "dead", error: { message: expect.stringMatching(/Dead-lettered/) } });

    // Redelivery of the same dead letter is recorded once.
    const before = (await list()).length;
    const batch = await deliver(QUEUE.dead, [junk]);
    expect(batch.explicitAcks).toHaveLength(1);
    expect((await list()).length).toBe(before + 1);
  });

  it("replays a job to its lane (it then succeeds), a ledger event to the ledger queue, and only once", async () => {
    const tenant = await createTenant();
    const job = await insertQueuedJob(tenant.id, "second chance");
    const requestId = `dlq-replay-${Date.now()}`;
    const ledgerEvent = { ...emptyLedgerEvent(requestId, "/v1/chat/completions", Date.now()), tenant_id: tenant.id, status: 200, cost_usd: 0.001 };
    await deliver(QUEUE.dead, [job, ledgerEvent]);
    const letters = await list(`?tenant_id=${tenant.id}`);
    const jobLetter = letters.find((l) => l.queue === "jobs-interactive");
    const ledgerLetter = letters.find((l) => l.queue === "ledger");
    if (!jobLetter || !ledgerLetter) throw new Error("letters missing");

    const replay = await admin(`/admin/dead-letters/${jobLetter.id}/replay`, "POST");
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ id: jobLetter.id, queue: "jobs-interactive", replayed_at: expect.any(Number) });
    const done = await waitForJob(tenant.key, job.job_id);
    expect(done).toMatchObject({ status: "succeeded", attempts: 1, max_attempts: 4 });

    expect((await admin(`/admin/dead-letters/${ledgerLetter.id}/replay`, "POST")).status).toBe(200);
    expect((await ledgerRow<{ cost_usd: number }>(requestId)).cost_usd).toBe(0.001);

    const twice = await admin(`/admin/dead-letters/${jobLetter.id}/replay`, "POST");
    expect(twice.status).toBe(409);
    expect(await twice.json()).toMatchObject({ error: { message: expect.stringMatching(/already replayed/) } });
    expect((await list(`?tenant_id=${tenant.id}&replayed=true`)).map((l) => l.id).sort()).toEqual([jobLetter.id, ledgerLetter.id].sort());
  });

  it("refuses what it cannot replay, and is admin-only", async () => {
    await deliver(QUEUE.dead, [{ mystery: true }]);
    const [unknown] = await list("?queue=unknown");
    if (!unknown) throw new Error("no unknown letter");
    expect((await admin(`/admin/dead-letters/${unknown.id}/replay`, "POST")).status).toBe(409);
    expect((await admin("/admin/dead-letters/dl_nope/replay", "POST")).status).toBe(404);
    const tenant = await createTenant();
    expect((await call("/admin/dead-letters", { headers: { authorization: `Bearer ${tenant.key}` } })).status).toBe(401);
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM dead_letters WHERE replayed_at IS NOT NULL AND id = ?").bind(unknown.id).first<{ n: number }>();
    expect(row?.n).toBe(0);
  });
});

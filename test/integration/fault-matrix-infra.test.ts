import { abortAllDurableObjects, createExecutionContext, createMessageBatch, evictDurableObject, getQueueResult, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumeLedgerBatch, recordLedgerEvent } from "../../src/ledger/ledger-consumer";
import { emptyLedgerEvent, type LedgerEvent } from "../../src/ledger/ledger-event";
import { routeQueueBatch } from "../../src/queue-router";
import { admin, chat, createTenant } from "../fixtures/gateway";
import { budgetedTenant, budgetLine, d1WithOutage, holdingUpstream, queueWithOutage, settledSpend, tenantLedger, useUpstream, withFailingWrites } from "../fixtures/fault-fixtures";
import { deliver, getJobView, ledgerRowsFor, postJob, QUEUE, waitFor, waitForJob } from "../fixtures/jobs-fixtures";

/**
 * The fault matrix for the machinery behind the request: the ledger consumer, the job consumers and the
 * budget object. The promises are the same as on the request path: no ledger event is lost (a retry,
 * then the dead-letter queue, never a silent drop), nothing is billed twice, nothing is left hanging.
 */
const ledgerEvent = (requestId: string, tenantId: string, cost = 0.001): LedgerEvent => ({ ...emptyLedgerEvent(requestId, "/v1/chat/completions", Date.now()), tenant_id: tenantId, status: 200, cost_usd: cost });

const rowCount = async (requestIds: string[]) =>
  (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ledger WHERE request_id IN (${requestIds.map(() => "?").join(",")})`).bind(...requestIds).first<{ n: number }>())?.n ?? 0;

/** The real Env with the real D1 binding wrapped so that every statement fails, as during an outage. */
const d1Down = (): Env => ({ ...env, DB: d1WithOutage(env.DB) });

const letters = async (where: string, value: string) =>
  (await env.DB.prepare(`SELECT * FROM dead_letters WHERE ${where} = ?`).bind(value).all<{ queue: string; body_json: string; reason: string }>()).results;

afterEach(() => vi.restoreAllMocks());

describe("fault matrix: the ledger consumer", () => {
  it("a D1 outage retries the whole batch (nothing acked, nothing lost); redelivery writes each row once", async () => {
    const tenant = await createTenant();
    const events = [1, 2, 3].map((i) => ledgerEvent(`fm-outage-${tenant.id}-${i}`, tenant.id));
    const messages = () => events.map((body, i) => ({ id: `m-${i}`, timestamp: new Date(), attempts: 1, body }));

    const failed = createMessageBatch("tollgate-ledger", messages());
    await consumeLedgerBatch(failed, d1Down());
    const outage = await getQueueResult(failed, createExecutionContext());
    expect(outage.explicitAcks).toEqual([]);
    expect(outage.retryMessages.map((m) => m.msgId).sort()).toEqual(["m-0", "m-1", "m-2"]);
    expect(await rowCount(events.map((e) => e.request_id))).toBe(0);

    // The queue delivers them again once D1 is back; and once more, as at-least-once delivery may.
    for (let i = 0; i < 2; i++) {
      const again = createMessageBatch("tollgate-ledger", messages());
      await consumeLedgerBatch(again, env);
      expect((await getQueueResult(again, createExecutionContext())).explicitAcks.sort()).toEqual(["m-0", "m-1", "m-2"]);
    }
    const { results } = await env.DB.prepare("SELECT request_id, cost_usd FROM ledger WHERE tenant_id = ?").bind(tenant.id).all<{ cost_usd: number }>();
    expect(results).toHaveLength(3);
    expect(results.reduce((s, r) => s + r.cost_usd, 0)).toBeCloseTo(0.003, 12);
  });

  it("an event that can never be valid is kept as a dead letter, not dropped", async () => {
    const junk = { request_id: "", cost_usd: -1, hello: "world" };
    const batch = createMessageBatch("tollgate-ledger", [{ id: "fm-junk-1", timestamp: new Date(), attempts: 1, body: junk }]);
    await consumeLedgerBatch(batch, env);
    expect((await getQueueResult(batch, createExecutionContext())).explicitAcks).toEqual(["fm-junk-1"]);
    const [letter] = await letters("id", "dl_fm-junk-1");
    expect(letter).toMatchObject({ queue: "ledger", reason: expect.stringMatching(/invalid ledger event/) });
    expect(JSON.parse(letter?.body_json ?? "{}")).toEqual(junk);
  });

  it("with the ledger queue down the request path writes to D1 itself; with D1 down too the event goes to the logs whole", async () => {
    const tenant = await createTenant();
    const queueDown = queueWithOutage(env.LEDGER_QUEUE);
    const direct = ledgerEvent(`fm-direct-${tenant.id}`, tenant.id);
    await recordLedgerEvent({ ...env, LEDGER_QUEUE: queueDown }, direct);
    expect(await rowCount([direct.request_id])).toBe(1);

    const logged: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void logged.push(String(line)));
    const lost = ledgerEvent(`fm-both-down-${tenant.id}`, tenant.id);
    await expect(recordLedgerEvent({ ...d1Down(), LEDGER_QUEUE: queueDown }, lost)).rejects.toThrow(/D1_ERROR/);
    const line = logged.map((l) => JSON.parse(l) as { msg: string; event?: LedgerEvent }).find((l) => l.msg === "ledger event not recorded");
    expect(line?.event).toEqual(lost);
  });
});

describe("fault matrix: a job consumer that throws", () => {
  it("D1 failing under the consumer: the message is retried, never acked; the dead-letter consumer then closes the job; nothing billed", async () => {
    const tenant = await createTenant();
    const job = await postJob(tenant.key, { request: { model: "sim/fast", messages: [{ role: "user", content: "fm consumer throws" }] }, priority: "batch" });
    const body = { type: "job", job_id: job.id, tenant_id: tenant.id, lane: "batch" };
    const batch = createMessageBatch(QUEUE.batch, [{ id: "fm-throw-1", timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await routeQueueBatch(batch, d1Down(), ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["fm-throw-1"]);

    // After max_retries the platform hands the message to the dead-letter queue.
    await deliver(QUEUE.dead, [body], 4);
    expect(await getJobView(tenant.key, job.id)).toMatchObject({ status: "dead", attempts: 0, cost_usd: 0 });
    expect((await letters("tenant_id", tenant.id)).map((l) => l.queue)).toEqual(["jobs-batch"]);
    expect(await ledgerRowsFor(job.id)).toEqual([]);
  });

});

describe("fault matrix: the budget object reset mid-flight", () => {
  const stubFor = (tenantId: string) => env.TENANT_BUDGET.get(env.TENANT_BUDGET.idFromName(tenantId));

  it("evicted between admission and settlement: the reservation survives in storage and is settled once", async () => {
    const tenant = await budgetedTenant();
    const res = await chat(tenant.key, { model: "sim/fast", stream: true, messages: [{ role: "user", content: "fm evict mid-stream" }] }, { "x-tollgate-cache": "no-store" });
    expect(res.status).toBe(200);
    // Admitted and reserved; the stream is not read yet, so settlement has not happened.
    expect(Number(res.headers.get("x-tollgate-reserved-usd"))).toBeGreaterThan(0);
    await evictDurableObject(stubFor(tenant.id));
    expect(await res.text()).toMatch(/data: \[DONE\]\s*$/);
    const [row] = await tenantLedger(tenant.id, 1);
    expect(row?.status).toBe(200);
    expect(await settledSpend(tenant.key)).toBeCloseTo(row?.cost_usd ?? -1, 10);
  });

  /**
   * Two requests (one JSON, one stream) held at a mocked upstream until the test lets go. Once the
   * upstream has both calls, both are provably past admission (reserved in the budget object) and not yet
   * settled; then every Durable Object is reset, and the upstream answers.
   */
  async function resetWhileHeld() {
    const upstream = holdingUpstream("held then streamed");
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      return await useUpstream(async () => {
        const tenant = await createTenant({ budgets: [{ scope: "tenant", period: "day", limit_usd: 100 }], policy: { allowed_models: ["openai/gpt-4o-mini"] } });
        const send = (stream: boolean) =>
          chat(tenant.key, { model: "openai/gpt-4o-mini", stream, messages: [{ role: "user", content: `fm reset in flight ${stream}` }] }, { "x-tollgate-cache": "no-store", "x-tollgate-deadline-ms": "5000" })
            .then(async (r) => ({ status: r.status, id: r.headers.get("x-request-id"), text: await r.text() }));
        const sends = [send(false), send(true)] as const;
        await waitFor(async () => (upstream.arrived.length === 2 ? true : null), "both requests to reach the upstream", 10_000);
        expect((await budgetLine(tenant.key)).reserved_usd).toBeGreaterThan(0);

        await abortAllDurableObjects();
        upstream.release();
        const [json, stream] = await Promise.all(sends);
        expect(json.status).toBe(200);
        expect(JSON.parse(json.text)).toMatchObject({ choices: [{ message: { content: "held then streamed" } }] });
        expect(stream.status).toBe(200);
        const streamed = stream.text.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => (JSON.parse(e.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? "");
        expect(streamed.join("")).toBe("held then streamed");
        expect(stream.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
        const rows = await tenantLedger(tenant.id, 2);
        expect(rows.map((r) => [r.request_id, r.status]).sort()).toEqual([[json.id, 200], [stream.id, 200]].sort());
        const cost = rows.reduce((sum, r) => sum + r.cost_usd, 0);
        expect(cost).toBeGreaterThan(0);

        // Past every hold (an injected clock, then the object's own alarm): no reservation may be left.
        vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 10 * 60_000 });
        try {
          await runDurableObjectAlarm(stubFor(tenant.id));
        } finally {
          vi.useRealTimers();
        }
        const line = await budgetLine(tenant.key);
        expect(line.reserved_usd).toBeLessThan(1e-12);
        return { cost, spent: line.spent_usd };
      });
    } finally {
      upstream.release();
    }
  }

  it("reset while requests are in flight: both held requests answer 200 in full, each has one ledger row, no reservation is left", async () => {
    await resetWhileHeld();
  });

  // Settle makes a fresh stub on each try (a stub that saw the reset stays broken), so the held
  // requests' cost reaches the budget after the reset.
  it("reset while requests are in flight: spend equals the ledger (settled after the reset)", async () => {
    const outcome = await resetWhileHeld();
    expect(outcome.spent).toBeCloseTo(outcome.cost, 10);
  });
});

// The two that wait on the platform's own retry schedule (the ledger queue: 5 retries 2 s apart; the
// interactive lane: 3 retries at 1, 2, 4 s) run side by side: they touch different tables and tenants.
describe("fault matrix: through the local queues' own retries and dead-letter queue", () => {
  it.concurrent("a row D1 keeps refusing is retried by the queue, then dead-lettered; its neighbours land at once; a replay records it once", { timeout: 60_000 }, async () => {
    const tenant = await createTenant();
    const poison = ledgerEvent(`fm-poison-${tenant.id}`, tenant.id, 0.5);
    const good = [1, 2, 3].map((i) => ledgerEvent(`fm-good-${tenant.id}-${i}`, tenant.id));
    await withFailingWrites("fm_poison_ledger", "ledger", "INSERT", `NEW.request_id = '${poison.request_id}'`, async () => {
      await env.LEDGER_QUEUE.sendBatch([...good, poison].map((body) => ({ body, contentType: "json" as const })));
      // The good rows do not wait for the poisoned one.
      await waitFor(async () => ((await rowCount(good.map((e) => e.request_id))) === 3 ? true : null), "the good rows", 10_000);
      // The platform retries it (max_retries) and then moves it to the dead-letter queue, whose consumer keeps it.
      const [letter] = await waitFor(async () => {
        const found = await letters("tenant_id", tenant.id);
        return found.length ? found : null;
      }, "the poisoned event in dead_letters", 45_000);
      expect(letter).toMatchObject({ queue: "ledger", reason: expect.stringMatching(/ledger consumer/) });
      expect(JSON.parse(letter?.body_json ?? "{}")).toMatchObject({ request_id: poison.request_id, cost_usd: 0.5 });
      expect(await rowCount([poison.request_id])).toBe(0);
    });
    // D1 accepts it again: the operator replays the letter, the row appears exactly once.
    const [letter] = (await (await admin(`/admin/dead-letters?tenant_id=${tenant.id}`, "GET")).json<{ data: { id: string }[] }>()).data;
    expect((await admin(`/admin/dead-letters/${letter?.id}/replay`, "POST")).status).toBe(200);
    await waitFor(async () => ((await rowCount([poison.request_id])) === 1 ? true : null), "the replayed row");
    expect((await admin(`/admin/dead-letters/${letter?.id}/replay`, "POST")).status).toBe(409);
    expect(await rowCount([poison.request_id, ...good.map((e) => e.request_id)])).toBe(4);
  });

  it.concurrent("end to end on the local queues: a claim D1 keeps refusing ends dead via the queue's own retries, never stuck", { timeout: 60_000 }, async () => {
    const tenant = await createTenant();
        const job = await withFailingWrites("fm_claim_fails", "jobs", "UPDATE", "NEW.status = 'running' AND OLD.request_json LIKE '%fm claim refused%'", async () => {
      const submitted = await postJob(tenant.key, { request: { model: "sim/fast", messages: [{ role: "user", content: "fm claim refused" }] }, priority: "interactive" });
      return waitForJob(tenant.key, submitted.id, undefined, 45_000);
    });
    expect(job).toMatchObject({ status: "dead", attempts: 0, cost_usd: 0, error: { message: expect.stringMatching(/Dead-lettered/) } });
    expect((await letters("tenant_id", tenant.id)).map((l) => l.queue)).toEqual(["jobs-interactive"]);
    expect(await ledgerRowsFor(job.id)).toEqual([]);
  });
});

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TenantBudget } from "../../durable-objects/tenant-budget";
import type { AdmitInput } from "../../src/budget/budget-types";
import { TenantLimitsSchema } from "../../src/config/tenant-policy";
import { emptyLedgerEvent, type LedgerEvent } from "../../src/ledger/ledger-event";
import { RequestLedger } from "../../src/ledger/request-ledger";
import { withFailingWrites } from "../fixtures/fault-fixtures";
import { waitFor } from "../fixtures/jobs-fixtures";

/**
 * Finding 5 of issue 11: a ledger row rides with the budget settlement. The object stores it in an
 * outbox in the same write as the spend and forwards it to D1; nothing is lost when D1 is down, and
 * settling twice neither bills twice nor writes the row twice.
 */
let n = 0;
async function budgetObject() {
  const tenantId = `ten_outbox_${++n}_${Date.now()}`;
  const stub = env.TENANT_BUDGET.get(env.TENANT_BUDGET.idFromName(tenantId));
  const budget = { scope: "tenant", period: "day" as const, limit_usd: 10, alert_at: 0.8, degrade_at: 0.9, throttle_at: 0.95 };
  await stub.configure(tenantId, { budgets: [budget], limits: TenantLimitsSchema.parse({}) });
  return { tenantId, stub };
}
const admitInput = (requestId: string, over: Partial<AdmitInput> = {}): AdmitInput => ({
  requestId, task: "default", keyId: "key_a", estimateUsd: 0.05, degradedEstimateUsd: 0.05, estimateTokens: 100, holdMs: 60_000, ...over,
});
const event = (requestId: string, tenantId: string, cost: number): LedgerEvent => ({ ...emptyLedgerEvent(requestId, "/v1/chat/completions", Date.now()), tenant_id: tenantId, status: 200, cost_usd: cost });
const ledgerRows = async (requestId: string) => (await env.DB.prepare("SELECT request_id, cost_usd FROM ledger WHERE request_id = ?").bind(requestId).all<{ cost_usd: number }>()).results;
const outbox = (stub: DurableObjectStub<TenantBudget>) =>
  runInDurableObject(stub, (_i: TenantBudget, state) => state.storage.sql.exec<{ request_id: string; attempts: number }>("SELECT request_id, attempts FROM outbox").toArray());
const spent = async (stub: DurableObjectStub<TenantBudget>, tenantId: string) => (await stub.status(tenantId))[0]?.spent_usd;

describe("ledger rows ride with the budget settlement", () => {
  it("the settled row lands in D1; settling the same request twice bills once and writes one row", async () => {
    const { tenantId, stub } = await budgetObject();
    const id = `ob-twice-${tenantId}`;
    await stub.admit(tenantId, admitInput(id));
    await stub.settle(tenantId, { requestId: id, actualUsd: 0.003, actualTokens: 40, event: event(id, tenantId, 0.003) });
    await stub.settle(tenantId, { requestId: id, actualUsd: 0.003, actualTokens: 40, event: event(id, tenantId, 0.003) });
    const rows = await waitFor(async () => ((await ledgerRows(id)).length ? ledgerRows(id) : null), "the forwarded row");
    expect(rows).toEqual([{ request_id: id, cost_usd: 0.003 }]);
    expect(await spent(stub, tenantId)).toBeCloseTo(0.003, 12);
    await waitFor(async () => ((await outbox(stub)).length === 0 ? true : null), "the outbox to empty once D1 confirmed");
  });

  it("rows reported under a lease ride the same way: stored with the lease's spend, then forwarded to D1", async () => {
    const { tenantId, stub } = await budgetObject();
    const id = `ob-lease-${tenantId}`;
    const admitted = await stub.admit(tenantId, admitInput(`ob-lease-admit-${tenantId}`, { lease: { leaseId: `lease_ob_${tenantId}`, ttlMs: 10_000 } }));
    const lease = admitted.lease;
    if (!lease) throw new Error("expected a lease far from every limit");
    await stub.reportLease(tenantId, { leaseId: lease.leaseId, keys: lease.keys, reservedUsd: 0.05, spentUsd: 0.003, settled: [{ index: 0, tokens: 40 }], events: [event(id, tenantId, 0.003)], usedRequests: 1, close: false });
    const rows = await waitFor(async () => ((await ledgerRows(id)).length ? ledgerRows(id) : null), "the reported row");
    expect(rows).toEqual([{ request_id: id, cost_usd: 0.003 }]);
  });

  it("D1 failing: the row waits in the outbox, retried by the alarm, and lands once D1 is back", async () => {
    const { tenantId, stub } = await budgetObject();
    const id = `ob-outage-${tenantId}`;
    await stub.admit(tenantId, admitInput(id));
    await withFailingWrites("ob_outage", "ledger", "INSERT", `NEW.request_id = '${id}'`, async () => {
      await stub.settle(tenantId, { requestId: id, actualUsd: 0.002, actualTokens: 40, event: event(id, tenantId, 0.002) });
      // The forward after the settlement failed; the row is kept with a retry scheduled.
      await waitFor(async () => ((await outbox(stub))[0]?.attempts ?? 0) >= 1 || null, "a failed forward");
      await runDurableObjectAlarm(stub);
      expect(await ledgerRows(id)).toEqual([]);
      expect((await outbox(stub)).map((r) => r.request_id)).toEqual([id]);
    });
    // D1 is back: the next alarm forwards it (the alarm is the retry; no settle, no queue involved).
    await runInDurableObject(stub, (_i: TenantBudget, state) => state.storage.sql.exec("UPDATE outbox SET next_at = 0"));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await ledgerRows(id)).toEqual([{ request_id: id, cost_usd: 0.002 }]);
    expect(await outbox(stub)).toEqual([]);
    expect(await spent(stub, tenantId)).toBeCloseTo(0.002, 12);
  });

  it("a settlement that arrives after its reservation expired is still billed, once", async () => {
    const { tenantId, stub } = await budgetObject();
    const id = `ob-late-${tenantId}`;
    await stub.admit(tenantId, admitInput(id, { holdMs: 1_000, now: Date.now() - 60_000 }));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.status(tenantId))[0]).toMatchObject({ spent_usd: 0, reserved_usd: 0 });
    await stub.settle(tenantId, { requestId: id, actualUsd: 0.004, actualTokens: 40, event: event(id, tenantId, 0.004) });
    await stub.settle(tenantId, { requestId: id, actualUsd: 0.004, actualTokens: 40, event: event(id, tenantId, 0.004) });
    expect(await spent(stub, tenantId)).toBeCloseTo(0.004, 12);
    await waitFor(async () => ((await ledgerRows(id)).length === 1 ? true : null), "the late row");
  });
});

describe("RequestLedger.settleWith", () => {
  function recordingQueue() {
    const sent: unknown[] = [];
    // Rows without a settlement go out in per-isolate batches (src/ledger/ledger-batch.ts): both kinds of send count.
    const queue = {
      send: async (body: unknown) => void sent.push(body),
      sendBatch: async (messages: { body: unknown }[]) => void sent.push(...messages.map((m) => m.body)),
    } as unknown as Queue;
    return { sent, env: { ...env, LEDGER_QUEUE: queue } as Env };
  }

  it("flush hands the final row to the settlement instead of the ledger queue", async () => {
    const { sent, env: e } = recordingQueue();
    const ledger = new RequestLedger("rl-settle-1", "/v1/chat/completions");
    let resolveStream: () => void = () => undefined;
    ledger.until(new Promise<void>((resolve) => (resolveStream = resolve)));
    const settled: LedgerEvent[] = [];
    ledger.settleWith(async (row) => void settled.push(structuredClone(row)));
    const flushing = ledger.flush(e, 200);
    ledger.event.completion_tokens = 42; // the stream's end fills the usage before the row is final
    resolveStream();
    await flushing;
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({ request_id: "rl-settle-1", status: 200, completion_tokens: 42 });
    expect(sent).toEqual([]);
  });

  it("a settlement that fails falls back to the ledger queue, so the row is not lost", async () => {
    const { sent, env: e } = recordingQueue();
    const ledger = new RequestLedger("rl-settle-2", "/v1/chat/completions");
    ledger.settleWith(async () => {
      throw new Error("budget object unreachable");
    });
    await ledger.flush(e, 502);
    expect(sent).toMatchObject([{ request_id: "rl-settle-2", status: 502 }]);
  });
});

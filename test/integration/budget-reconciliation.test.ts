import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emptyLedgerEvent } from "../../src/ledger/ledger-event";
import { insertLedgerEvents } from "../../src/ledger/ledger-store";
import { admin, call, createTenant } from "../fixtures/gateway";
import { runCron } from "../fixtures/jobs-fixtures";

/**
 * Finding 5 of issue 11: budget spend and ledger reconcile. The cron repairs what the ledger proves
 * (a request whose row was written but whose settlement died with its worker) and reports the rest.
 */
type Budgets = { budgets: { scope: string; period: string; spent_usd: number; ledger_usd: number; difference_usd: number; repaired_count: number; repaired_usd: number; unexplained_usd: number; detail: { repaired_ids: string[] } }[]; unexplained: boolean };

const stubFor = (tenantId: string) => env.TENANT_BUDGET.get(env.TENANT_BUDGET.idFromName(tenantId));
const admitInput = (requestId: string, now: number) => ({ requestId, task: "default", keyId: "k", estimateUsd: 0.05, degradedEstimateUsd: 0.05, estimateTokens: 10, holdMs: 1_000, now });
const row = (requestId: string, tenantId: string, cost: number) => ({ ...emptyLedgerEvent(requestId, "/v1/jobs", Date.now()), tenant_id: tenantId, status: 200, cost_usd: cost });

async function report(tenantId: string): Promise<Budgets> {
  const res = await admin(`/admin/reconciliation?tenant_id=${tenantId}`, "GET");
  expect(res.status).toBe(200);
  const body = await res.json<{ data: (Budgets & { tenant_id: string })[] }>();
  const mine = body.data.find((t) => t.tenant_id === tenantId);
  if (!mine) throw new Error(`no reconciliation for ${tenantId}: ${JSON.stringify(body)}`);
  return mine;
}

const budgeted = () => createTenant({ budgets: [{ scope: "tenant", period: "day", limit_usd: 5 }], limits: { rpm: 1000, tpm: 10_000_000, max_in_flight: 100 } });

describe("budget reconciliation", () => {
  it("adds to spend what the ledger proves a crashed worker never settled, once", async () => {
    const tenant = await budgeted();
    const stub = stubFor(tenant.id);
    // A job attempt was admitted, wrote its row with its `succeeded` (one D1 batch), and its worker died
    // before settling: the reservation expired unsettled.
    const lost = `job_lost_${tenant.id}.1`;
    await stub.admit(tenant.id, admitInput(lost, Date.now() - 120_000));
    await insertLedgerEvents(env.DB, [row(lost, tenant.id, 0.002)]);
    // One request settled normally, row and all.
    const fine = `req_fine_${tenant.id}`;
    await stub.admit(tenant.id, admitInput(fine, Date.now()));
    await stub.settle(tenant.id, { requestId: fine, actualUsd: 0.001, actualTokens: 10, event: row(fine, tenant.id, 0.001) });

    await runCron(new Date(), "*/5 * * * *");
    const first = await report(tenant.id);
    expect(first.unexplained).toBe(false);
    expect(first.budgets).toHaveLength(1);
    expect(first.budgets[0]).toMatchObject({ scope: "tenant", period: "day", repaired_count: 1, difference_usd: 0, unexplained_usd: 0, detail: { repaired_ids: [lost] } });
    expect(first.budgets[0]?.spent_usd).toBeCloseTo(0.003, 12);
    expect(first.budgets[0]?.ledger_usd).toBeCloseTo(0.003, 12);
    expect(first.budgets[0]?.repaired_usd).toBeCloseTo(0.002, 12);

    // Running again repairs nothing more: the expired reservation was accounted for once.
    await runCron(new Date(), "*/5 * * * *");
    const second = await report(tenant.id);
    expect(second.budgets[0]).toMatchObject({ repaired_count: 0, difference_usd: 0 });
    expect((await stub.status(tenant.id))[0]?.spent_usd).toBeCloseTo(0.003, 12);
  });

  it("a live reservation whose row the ledger already holds is billed from the row; its late settlement bills nothing more", async () => {
    const tenant = await budgeted();
    const stub = stubFor(tenant.id);
    const id = `job_slow_${tenant.id}.1`;
    await stub.admit(tenant.id, { ...admitInput(id, Date.now()), holdMs: 600_000 });
    await insertLedgerEvents(env.DB, [row(id, tenant.id, 0.0025)]);
    await runCron(new Date(), "*/5 * * * *");
    expect((await report(tenant.id)).budgets[0]).toMatchObject({ repaired_count: 1, difference_usd: 0 });
    await stub.settle(tenant.id, { requestId: id, actualUsd: 0.0025, actualTokens: 10 });
    expect((await stub.status(tenant.id))[0]).toMatchObject({ reserved_usd: 0 });
    expect((await stub.status(tenant.id))[0]?.spent_usd).toBeCloseTo(0.0025, 12);
  });

  it("reports spend the ledger cannot account for, and changes nothing it cannot prove", async () => {
    const tenant = await budgeted();
    const stub = stubFor(tenant.id);
    const orphan = `req_orphan_${tenant.id}`;
    await stub.admit(tenant.id, admitInput(orphan, Date.now()));
    // Settled without its row, and the row never reached the ledger (a queue message lost in a crash).
    await stub.settle(tenant.id, { requestId: orphan, actualUsd: 0.0015, actualTokens: 10 });
    await runCron(new Date(), "*/5 * * * *");
    const result = await report(tenant.id);
    expect(result.unexplained).toBe(true);
    expect(result.budgets[0]?.unexplained_usd).toBeCloseTo(0.0015, 12);
    expect(result.budgets[0]?.repaired_count).toBe(0);
    expect((await stub.status(tenant.id))[0]?.spent_usd).toBeCloseTo(0.0015, 12);
  });

  it("is admin-only", async () => {
    expect((await call("/admin/reconciliation")).status).toBe(401);
  });
});

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LocalLease } from "../../src/budget/budget-lease";
import type { AdmitInput, BudgetConfig, LeaseReport } from "../../src/budget/budget-types";
import type { Budget } from "../../src/config/budget-config";
import { TenantLimitsSchema } from "../../src/config/tenant-policy";
import type { TenantBudget } from "../../durable-objects/tenant-budget";
import { call, chat, createTenant, hello } from "../fixtures/gateway";

// Issue 13: most requests are admitted in the isolate, against a lease, and a limit still holds.

let n = 0;
const stubFor = (tenantId: string) => env.TENANT_BUDGET.get(env.TENANT_BUDGET.idFromName(tenantId));
const budget = (over: Partial<Budget> = {}): Budget => ({ scope: "tenant", period: "day", limit_usd: 1, alert_at: 0.8, degrade_at: 0.9, throttle_at: 0.95, ...over });
const limits = (over: Partial<BudgetConfig["limits"]> = {}) => ({ ...TenantLimitsSchema.parse({}), ...over });
const admitInput = (over: Partial<AdmitInput> = {}): AdmitInput => ({
  requestId: `req_${++n}`,
  task: "default",
  keyId: "key_a",
  estimateUsd: 0.001,
  degradedEstimateUsd: 0.001,
  estimateTokens: 100,
  holdMs: 60_000,
  ...over,
});

async function configured(config: Partial<BudgetConfig>) {
  const tenantId = `ten_lease_${++n}_${Date.now()}`;
  const stub = stubFor(tenantId);
  await stub.configure(tenantId, { budgets: config.budgets ?? [], limits: config.limits ?? limits() });
  return { tenantId, stub };
}

/** Requests the object admitted one by one: each leaves a rate-window row named after its request id. */
async function singleAdmissions(tenantId: string): Promise<number> {
  return runInDurableObject(stubFor(tenantId), (_: TenantBudget, state: DurableObjectState) => state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM rate_log WHERE id NOT LIKE 'lease_%'`).one().n);
}

describe("budget leases", () => {
  it("a tenant far from its limits makes at most 0.1 blocking object calls per request", async () => {
    const tenant = await createTenant({ budgets: [{ scope: "tenant", period: "day", limit_usd: 100 }] });
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await chat(tenant.key, hello(`lease ${i}`), { "x-tollgate-cache": "no-store" })).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(await singleAdmissions(tenant.id)).toBeLessThanOrEqual(6);
  });

  it("near its limit the object grants no lease: the last of a budget goes one request at a time", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ limit_usd: 0.003 })] });
    const result = await stub.admit(tenantId, admitInput({ lease: { leaseId: `lease_near_${n}`, ttlMs: 10_000 } }));
    expect(result.decision).toBe("allow");
    expect(result.lease).toBeUndefined();
  });

  it("many isolates holding leases at once never overspend one small budget", async () => {
    const limit = 0.05;
    const estimate = 0.0001;
    const { tenantId, stub } = await configured({ budgets: [budget({ limit_usd: limit, degrade_at: 1, throttle_at: 1 })], limits: limits({ max_in_flight: 10_000, rpm: 1_000_000, tpm: 1_000_000_000 }) });
    const reports: Promise<void>[] = [];
    const io = { send: (report: LeaseReport) => stub.reportLease(tenantId, report), recordElsewhere: async () => undefined };
    // Twenty isolates, each asking with its own first request; each then admits locally as much as its slice holds.
    const isolates = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const input = admitInput({ estimateUsd: estimate, degradedEstimateUsd: estimate, lease: { leaseId: `lease_iso${i}_${n}`, ttlMs: 10_000 } });
        const result = await stub.admit(tenantId, input);
        return { input, result, lease: result.lease ? new LocalLease(result.lease, io) : undefined };
      }),
    );
    const leased = isolates.filter((x) => x.lease);
    expect(leased.length).toBeGreaterThan(1);
    let admitted = isolates.filter((x) => x.result.decision !== "deny").length;
    for (const { input, result } of isolates) if (result.decision !== "deny") reports.push(stub.settle(tenantId, { requestId: input.requestId, actualUsd: estimate, actualTokens: 10 }));
    for (const { lease } of leased) {
      for (let ticket = lease?.admit(estimate, 10); ticket; ticket = lease?.admit(estimate, 10)) {
        admitted++;
        // The worst case: every request costs all it reserved.
        reports.push(ticket.settle(estimate, 10));
      }
    }
    await Promise.all(reports);
    const [status] = await stub.status(tenantId);
    expect(status?.spent_usd ?? 0).toBeLessThanOrEqual(limit + 1e-12);
    expect(admitted * estimate).toBeGreaterThan(0);
  });

  it("a lease whose isolate died is given back by the alarm", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ limit_usd: 10 })] });
    const result = await stub.admit(tenantId, admitInput({ lease: { leaseId: `lease_dead_${n}`, ttlMs: 1 } }));
    expect(result.lease?.usd).toBeGreaterThan(0);
    const before = (await stub.status(tenantId))[0]?.reserved_usd ?? 0;
    expect(before).toBeGreaterThan(result.lease?.usd ?? 0);
    await stub.settle(tenantId, { requestId: `req_${n}`, actualUsd: 0, actualTokens: 0 });
    // Expire it: the object holds a lease's slice past its end for requests still in flight.
    await runInDurableObject(stub, (_: TenantBudget, state: DurableObjectState) => state.storage.sql.exec(`UPDATE leases SET expires_at = 0`));
    await runDurableObjectAlarm(stub);
    expect((await stub.status(tenantId))[0]?.reserved_usd).toBeLessThan(1e-12);
  });

  it("GET /v1/budget shows no lease held once the isolate goes idle", async () => {
    const tenant = await createTenant({ budgets: [{ scope: "tenant", period: "day", limit_usd: 100 }] });
    for (let i = 0; i < 5; i++) expect((await chat(tenant.key, hello(`idle ${i}`), { "x-tollgate-cache": "no-store" })).status).toBe(200);
    let reserved = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 200 && reserved > 1e-12; i++) {
      const view = await (await call("/v1/budget", { headers: { authorization: `Bearer ${tenant.key}` } })).json<{ data: { reserved_usd: number; spent_usd: number }[] }>();
      reserved = view.data[0]?.reserved_usd ?? 0;
      if (reserved > 1e-12) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(reserved).toBeLessThan(1e-12);
  });
});

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AdmitInput, BudgetConfig } from "../../src/budget/budget-types";
import type { Budget } from "../../src/config/budget-config";
import { TenantLimitsSchema } from "../../src/config/tenant-policy";
import type { TenantBudget } from "../../durable-objects/tenant-budget";

let n = 0;
const fresh = () => `ten_budget_${++n}_${Date.now()}`;
const stubFor = (tenantId: string) => env.TENANT_BUDGET.get(env.TENANT_BUDGET.idFromName(tenantId));
const budget = (over: Partial<Budget> = {}): Budget => ({ scope: "tenant", period: "day", limit_usd: 1, alert_at: 0.8, degrade_at: 0.9, throttle_at: 0.95, ...over });
const limits = (over: Partial<BudgetConfig["limits"]> = {}) => ({ ...TenantLimitsSchema.parse({}), ...over });
let r = 0;
const admitInput = (over: Partial<AdmitInput> = {}): AdmitInput => ({
  requestId: `req_${++r}`,
  task: "default",
  keyId: "key_a",
  estimateUsd: 0.1,
  degradedEstimateUsd: 0.01,
  estimateTokens: 100,
  holdMs: 60_000,
  ...over,
});

async function configured(config: Partial<BudgetConfig>) {
  const tenantId = fresh();
  const stub = stubFor(tenantId);
  await stub.configure(tenantId, { budgets: config.budgets ?? [], limits: config.limits ?? limits() });
  return { tenantId, stub };
}

describe("TenantBudget admission", () => {
  it("never reserves past the limit under 200 concurrent admissions", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ limit_usd: 2 })], limits: limits({ max_in_flight: 1000, rpm: 10_000 }) });
    const results = await Promise.all(Array.from({ length: 200 }, () => stub.admit(tenantId, admitInput({ estimateUsd: 0.1, degradedEstimateUsd: 0.1 }))));
    const admitted = results.filter((x) => x.decision !== "deny");
    expect(admitted.length).toBe(20);
    expect(results.filter((x) => x.code === "budget_exceeded").length).toBe(180);
    const [status] = await stub.status(tenantId);
    expect(status?.reserved_usd).toBeCloseTo(2, 9);
    expect(status?.spent_usd).toBe(0);
  });

  it("admits more, cheaper requests once degrading, still never past the limit", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ limit_usd: 2 })], limits: limits({ max_in_flight: 1000, rpm: 10_000 }) });
    const results = await Promise.all(Array.from({ length: 200 }, () => stub.admit(tenantId, admitInput({ estimateUsd: 0.1, degradedEstimateUsd: 0.01 }))));
    // 18 at full price reach degrade_at (0.9 × $2); the remaining $0.20 takes 20 at the degraded price.
    expect(results.filter((x) => x.decision === "allow").length).toBe(18);
    expect(results.filter((x) => x.decision === "degrade" || x.decision === "throttle").length).toBe(20);
    const [status] = await stub.status(tenantId);
    expect(status?.reserved_usd).toBeLessThanOrEqual(2 + 1e-9);
  });

  it("settles the actual cost in place of the reservation, once", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ limit_usd: 1 })] });
    const input = admitInput({ estimateUsd: 0.3 });
    expect((await stub.admit(tenantId, input)).remainingUsd).toBeCloseTo(0.7, 9);
    await stub.settle(tenantId, { requestId: input.requestId, actualUsd: 0.05, actualTokens: 40 });
    await stub.settle(tenantId, { requestId: input.requestId, actualUsd: 0.05, actualTokens: 40 });
    const [status] = await stub.status(tenantId);
    expect(status).toMatchObject({ spent_usd: 0.05, reserved_usd: 0, state: "ok" });
    expect(status?.remaining_usd).toBeCloseTo(0.95, 9);
  });

  it("applies task- and key-scoped budgets only to their own traffic", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ scope: "task:research", limit_usd: 0.2 }), budget({ scope: "key:key_b", limit_usd: 0.1 })] });
    expect((await stub.admit(tenantId, admitInput({ task: "research" }))).decision).toBe("allow");
    expect((await stub.admit(tenantId, admitInput({ task: "research" }))).decision).not.toBe("deny");
    expect((await stub.admit(tenantId, admitInput({ task: "research" }))).code).toBe("budget_exceeded");
    expect((await stub.admit(tenantId, admitInput({ task: "chat" }))).decision).toBe("allow");
    expect((await stub.admit(tenantId, admitInput({ keyId: "key_b" }))).decision).toBe("allow");
    expect((await stub.admit(tenantId, admitInput({ keyId: "key_b" }))).code).toBe("budget_exceeded");
  });

  it("degrades at degrade_at (reserving the cheaper estimate) and throttles at throttle_at", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ limit_usd: 1 })], limits: limits({ max_in_flight: 4 }) });
    const first = admitInput({ estimateUsd: 0.91 });
    await stub.admit(tenantId, first);
    await stub.settle(tenantId, { requestId: first.requestId, actualUsd: 0.91, actualTokens: 10 });
    const degraded = await stub.admit(tenantId, admitInput({ estimateUsd: 0.2, degradedEstimateUsd: 0.05 }));
    expect(degraded).toMatchObject({ decision: "degrade", reservedUsd: 0.05 });
    const throttled = await stub.admit(tenantId, admitInput({ estimateUsd: 0.2, degradedEstimateUsd: 0.02 }));
    expect(throttled.decision).toBe("throttle");
    // Throttled: the in-flight limit of 4 is halved to 2, and two reservations are now open.
    const blocked = await stub.admit(tenantId, admitInput({ degradedEstimateUsd: 0.001 }));
    expect(blocked).toMatchObject({ decision: "deny", code: "concurrency_limited", retryAfterS: 1 });
  });
});

describe("TenantBudget periods, alarms and rate limits", () => {
  it("resets day budgets at 00:00 UTC and month budgets on the 1st (injected clock)", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ period: "day", limit_usd: 0.1 }), budget({ scope: "task:t", period: "month", limit_usd: 0.1 })] });
    const lateJan31 = Date.UTC(2026, 0, 31, 23, 59, 0);
    const a = admitInput({ estimateUsd: 0.1, now: lateJan31 });
    await stub.admit(tenantId, a);
    await stub.settle(tenantId, { requestId: a.requestId, actualUsd: 0.1, actualTokens: 1, now: lateJan31 });
    const sameDay = await stub.admit(tenantId, admitInput({ estimateUsd: 0.01, now: lateJan31 + 30_000 }));
    expect(sameDay).toMatchObject({ decision: "deny", code: "budget_exceeded" });
    expect(sameDay.retryAfterS).toBe(30);
    const nextDay = await stub.admit(tenantId, admitInput({ estimateUsd: 0.01, now: Date.UTC(2026, 1, 1, 0, 0, 1) }));
    expect(nextDay.decision).toBe("allow");

    const t = admitInput({ task: "t", estimateUsd: 0.1, now: Date.UTC(2026, 1, 2, 12) });
    await stub.admit(tenantId, t);
    await stub.settle(tenantId, { requestId: t.requestId, actualUsd: 0.1, actualTokens: 1, now: Date.UTC(2026, 1, 2, 12) });
    expect((await stub.admit(tenantId, admitInput({ task: "t", estimateUsd: 0.01, now: Date.UTC(2026, 1, 28, 23) }))).code).toBe("budget_exceeded");
    expect((await stub.admit(tenantId, admitInput({ task: "t", estimateUsd: 0.01, now: Date.UTC(2026, 2, 1, 0, 0, 1) }))).decision).not.toBe("deny");
  });

  it("releases an unsettled reservation when its alarm fires", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ limit_usd: 0.1 })], limits: limits({ max_in_flight: 1 }) });
    // Reserved two minutes ago for one minute: the worker that took it is gone.
    await stub.admit(tenantId, admitInput({ estimateUsd: 0.1, holdMs: 60_000, now: Date.now() - 120_000 }));
    expect((await stub.admit(tenantId, admitInput({ estimateUsd: 0.01 }))).code).toBe("concurrency_limited");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const [status] = await stub.status(tenantId);
    expect(status).toMatchObject({ reserved_usd: 0, spent_usd: 0 });
    expect((await stub.admit(tenantId, admitInput({ estimateUsd: 0.1 }))).decision).toBe("allow");
  });

  it("limits RPM with an accurate Retry-After, and TPM on real tokens after settlement", async () => {
    const { tenantId, stub } = await configured({ limits: limits({ rpm: 3, tpm: 1000 }) });
    const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
    for (let i = 0; i < 3; i++) expect((await stub.admit(tenantId, admitInput({ now: t0 + i * 10_000, estimateTokens: 10 }))).decision).toBe("allow");
    const limited = await stub.admit(tenantId, admitInput({ now: t0 + 25_000, estimateTokens: 10 }));
    expect(limited).toMatchObject({ decision: "deny", code: "rate_limited", retryAfterS: 35 });

    const tpm = await configured({ limits: limits({ tpm: 1000, max_in_flight: 100 }) });
    const big = admitInput({ estimateTokens: 900, now: t0 });
    await tpm.stub.admit(tpm.tenantId, big);
    expect((await tpm.stub.admit(tpm.tenantId, admitInput({ estimateTokens: 200, now: t0 + 1000 }))).code).toBe("rate_limited");
    await tpm.stub.settle(tpm.tenantId, { requestId: big.requestId, actualUsd: 0.001, actualTokens: 150, now: t0 + 2000 });
    expect((await tpm.stub.admit(tpm.tenantId, admitInput({ estimateTokens: 200, now: t0 + 3000 }))).decision).toBe("allow");
  });

  it("loads its config from D1 when it was never pushed one", async () => {
    const tenantId = fresh();
    await env.DB.prepare("INSERT INTO tenants (id, name, created_at) VALUES (?, 'cold', ?)").bind(tenantId, Date.now()).run();
    await env.DB.prepare("INSERT INTO budgets (tenant_id, scope, period, limit_usd) VALUES (?, 'tenant', 'total', 0.05)").bind(tenantId).run();
    const stub = stubFor(tenantId);
    expect((await stub.admit(tenantId, admitInput({ estimateUsd: 0.06 }))).code).toBe("budget_exceeded");
    const stored = await runInDurableObject(stub, (_instance: TenantBudget, state) => state.storage.sql.exec<{ json: string }>("SELECT json FROM config").one().json);
    expect(JSON.parse(stored).budgets[0].limit_usd).toBe(0.05);
  });
});

describe("TenantBudget velocity", () => {
  it("projects month-end spend and raises one velocity alert before the money is gone", async () => {
    const { tenantId, stub } = await configured({ budgets: [budget({ period: "month", limit_usd: 10 })] });
    const day10 = Date.UTC(2026, 10, 10, 0, 0, 0);
    // $4 in the first nine days projects to ~$13 for November: above the $10 limit, though only 40% is spent.
    for (const requestId of ["v1", "v2"]) {
      await stub.admit(tenantId, admitInput({ requestId, estimateUsd: 2, now: day10 }));
      await stub.settle(tenantId, { requestId, actualUsd: 2, actualTokens: 10, now: day10 });
    }
    const [status] = await stub.status(tenantId, day10);
    expect(status?.projected_month_end_usd).toBeCloseTo(4 * (30 / 9), 6);
    const sent = await runInDurableObject(stub, (_instance: TenantBudget, state) =>
      state.storage.sql.exec<{ kind: string; threshold: number }>("SELECT kind, threshold FROM alerts_sent ORDER BY kind").toArray(),
    );
    expect(sent).toEqual([{ kind: "velocity", threshold: 1 }]);
  });
});

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { estimateCost } from "../../src/budget/budget-client";
import { DEFAULT_CATALOG, findModel } from "../../src/config/model-catalog";
import type { ChatRequest } from "../../src/validate/chat-request";
import { admin, call, chat, createTenant, ledgerRow } from "../fixtures/gateway";
import { holdingUpstream, useUpstream } from "../fixtures/fault-fixtures";
import { waitFor } from "../fixtures/jobs-fixtures";

afterEach(() => vi.restoreAllMocks());

const NO_CACHE = { "x-tollgate-cache": "no-store" };
const model = (id: string) => {
  const found = findModel(DEFAULT_CATALOG, id);
  if (!found) throw new Error(id);
  return found;
};
const request = (i: number): ChatRequest => ({ model: "sim/fast", max_tokens: 40, messages: [{ role: "user", content: `Summarise ticket number ${1000 + i} in one line` }] });

interface BudgetView { data: { scope: string; spent_usd: number; reserved_usd: number; limit_usd: number; state: string }[] }

async function settledBudget(key: string): Promise<BudgetView> {
  // Settlement runs after the response (waitUntil): wait until nothing is reserved any more.
  for (let i = 0; i < 100; i++) {
    const view = await (await call("/v1/budget", { headers: { authorization: `Bearer ${key}` } })).json<BudgetView>();
    if (view.data.every((b) => b.reserved_usd < 1e-12)) return view;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("reservations never settled");
}

describe("budgets on the request path", () => {
  for (const scope of ["tenant", "task:triage", "key"] as const) {
    it(`200 concurrent requests never overspend a ${scope} budget that covers about 20`, async () => {
      const perRequest = estimateCost(request(0), model("sim/fast")).usd;
      const limit = perRequest * 20;
      const tenant = await createTenant({ limits: { rpm: 100_000, tpm: 100_000_000, max_in_flight: 1000 } });
      const budgetScope = scope === "key" ? `key:${tenant.keyId}` : scope;
      expect((await admin(`/admin/tenants/${tenant.id}/budgets`, "PUT", [{ scope: budgetScope, period: "day", limit_usd: limit }])).status).toBe(200);

      const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => chat(tenant.key, request(i), { ...NO_CACHE, "x-tollgate-task": "triage" })));
      const ok = responses.filter((r) => r.status === 200);
      const denied = responses.filter((r) => r.status === 402);
      expect(ok.length).toBeGreaterThanOrEqual(18);
      expect(ok.length + denied.length).toBe(200);
      for (const res of denied.slice(0, 5)) {
        expect(await res.json()).toMatchObject({ error: { code: "budget_exceeded", type: "insufficient_quota", param: null } });
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      const view = await settledBudget(tenant.key);
      const budget = view.data.find((b) => b.scope === budgetScope);
      expect(budget?.spent_usd).toBeGreaterThan(0);
      expect(budget?.spent_usd).toBeLessThanOrEqual(limit + 1e-12);
      await Promise.all(ok.map((r) => ledgerRow(r.headers.get("x-request-id") ?? "")));
      const ledger = await env.DB.prepare("SELECT SUM(cost_usd) AS spent FROM ledger WHERE tenant_id = ?").bind(tenant.id).first<{ spent: number }>();
      expect(ledger?.spent).toBeLessThanOrEqual(limit + 1e-12);
      expect(ledger?.spent).toBeCloseTo(budget?.spent_usd ?? -1, 12);
    }, 60_000);
  }

  it("degrades to the fast tier past degrade_at, and keeps serving cached answers after the hard stop", async () => {
    const powerful: ChatRequest = { model: "auto", max_tokens: 60, messages: [{ role: "user", content: "Explain toll pricing" }] };
    const limit = estimateCost(powerful, model("sim/powerful")).usd;
    const tenant = await createTenant({ budgets: [{ scope: "tenant", period: "day", limit_usd: limit }] });
    const first = await chat(tenant.key, powerful, { "x-tollgate-tier": "powerful" });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-tollgate-tier")).toBe("powerful");
    expect(first.headers.get("x-tollgate-degraded")).toBeNull();
    expect(Number(first.headers.get("x-tollgate-cost-usd")) / limit).toBeGreaterThan(0.9);
    await settledBudget(tenant.key);

    const second = await chat(tenant.key, { ...powerful, messages: [{ role: "user", content: "Explain toll pricing for trucks" }] }, { "x-tollgate-tier": "powerful" });
    expect(second.status).toBe(200);
    expect(second.headers.get("x-tollgate-degraded")).toBe("budget");
    expect(second.headers.get("x-tollgate-tier")).toBe("fast");

    // Spend the rest, then: a new question is refused, the cached one still answers at $0.
    await admin(`/admin/tenants/${tenant.id}/budgets`, "PUT", [{ scope: "tenant", period: "day", limit_usd: limit * 0.5 }]);
    const refused = await chat(tenant.key, { ...powerful, messages: [{ role: "user", content: "A brand new question" }] });
    expect(refused.status).toBe(402);
    const cached = await chat(tenant.key, powerful, { "x-tollgate-tier": "powerful" });
    expect(cached.status).toBe(200);
    expect(cached.headers.get("x-tollgate-cache")).toBe("exact");
    expect(Number(cached.headers.get("x-tollgate-cost-usd"))).toBe(0);
  });

  it("answers RPM and in-flight excess with 429 and Retry-After", async () => {
    const rpm = await createTenant({ limits: { rpm: 2, tpm: 1_000_000, max_in_flight: 10 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await chat(rpm.key, request(i), NO_CACHE));
    expect(statuses.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(await statuses[2]?.json()).toMatchObject({ error: { code: "rate_limited" } });
    const retryAfter = Number(statuses[2]?.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(50);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // The first request is held at the provider, so it provably holds the only slot while the second asks.
    const upstream = holdingUpstream();
    await useUpstream(async () => {
      const inFlight = await createTenant({ limits: { rpm: 100, tpm: 1_000_000, max_in_flight: 1 }, policy: { allowed_models: ["openai/gpt-4o-mini"] } });
      const viaUpstream = (i: number) => ({ ...request(i), model: "openai/gpt-4o-mini" });
      const holding = chat(inFlight.key, viaUpstream(1), NO_CACHE);
      try {
        await waitFor(async () => (upstream.arrived.length === 1 ? true : null), "the first request to reach the provider", 10_000);
        const blocked = await chat(inFlight.key, viaUpstream(2), NO_CACHE);
        expect(blocked.status).toBe(429);
        expect(await blocked.json()).toMatchObject({ error: { code: "concurrency_limited" } });
        expect(blocked.headers.get("retry-after")).toBe("1");
      } finally {
        upstream.release();
      }
      expect((await holding).status).toBe(200);
      expect(upstream.arrived).toHaveLength(1);
      // Once it has finished and settled, the slot is free again.
      await settledBudget(inFlight.key);
      expect((await chat(inFlight.key, viaUpstream(3), NO_CACHE)).status).toBe(200);
    });
  });
});

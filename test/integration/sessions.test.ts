import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { estimateChain, estimateCost } from "../../src/budget/budget-client";
import { DEFAULT_CATALOG, findModel } from "../../src/config/model-catalog";
import type { SessionView } from "../../src/sessions/session-types";
import type { ChatRequest } from "../../src/validate/chat-request";
import { admin, call, chat, createTenant, ledgerRow } from "../fixtures/gateway";

const NO_CACHE = { "x-tollgate-cache": "no-store" };
const ask = (i: number): ChatRequest => ({ model: "sim/fast", max_tokens: 40, messages: [{ role: "user", content: `Plan step ${i} of the migration` }] });
const inSession = (id: string, extra: Record<string, string> = {}) => ({ ...NO_CACHE, "x-tollgate-session": id, ...extra });
const bigTenant = (policy: Record<string, unknown>) => createTenant({ policy, limits: { rpm: 100_000, tpm: 100_000_000, max_in_flight: 1000 } });

async function sessionView(key: string, id: string): Promise<Response> {
  return call(`/v1/sessions/${id}`, { headers: { authorization: `Bearer ${key}` } });
}

/** Settlement runs after the response (waitUntil): wait until no step holds a reservation. */
async function settledSession(key: string, id: string): Promise<SessionView> {
  for (let i = 0; i < 200; i++) {
    const res = await sessionView(key, id);
    if (res.status === 200) {
      const view = await res.json<SessionView>();
      if (view.timeline.every((s) => s.status !== "running")) return view;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`session ${id} never settled`);
}

describe("agent sessions", () => {
  it("refuses the 4th model call of a session with max_steps 3, before any provider is called", async () => {
    const tenant = await bigTenant({ sessions: { max_steps: 3 } });
    for (let i = 0; i < 3; i++) expect((await chat(tenant.key, ask(i), inSession("s-steps"))).status).toBe(200);
    const refused = await chat(tenant.key, ask(3), inSession("s-steps"));
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: "session_limit_exceeded", param: "max_steps" } });
    expect(refused.headers.get("x-tollgate-session-remaining")).toBe("steps=0");
    const row = await ledgerRow<{ model: string | null; attempts: number; session_id: string; status: number }>(refused.headers.get("x-request-id") ?? "");
    expect(row).toMatchObject({ model: null, attempts: 0, session_id: "s-steps", status: 403 });
    // Another session of the same tenant is not affected.
    expect((await chat(tenant.key, ask(3), inSession("s-other"))).status).toBe(200);
  });

  it("never exceeds max_usd under 50 concurrent calls in one session", async () => {
    const model = findModel(DEFAULT_CATALOG, "sim/fast");
    if (!model) throw new Error("sim/fast");
    const worstCase = estimateCost(ask(0), model).usd;
    const maxUsd = worstCase * 3.5;
    const tenant = await bigTenant({ sessions: { max_usd: maxUsd } });
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => chat(tenant.key, ask(i), inSession("s-usd"))));
    const ok = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status === 403);
    expect(ok.length).toBeGreaterThanOrEqual(3);
    expect(ok.length + refused.length).toBe(50);
    for (const res of refused.slice(0, 3)) expect(await res.json()).toMatchObject({ error: { code: "session_limit_exceeded", param: "max_usd" } });
    const view = await settledSession(tenant.key, "s-usd");
    expect(view.counters.cost_usd).toBeGreaterThan(0);
    expect(view.counters.cost_usd).toBeLessThanOrEqual(maxUsd + 1e-12);
    await Promise.all(ok.map((r) => ledgerRow(r.headers.get("x-request-id") ?? "")));
    const ledger = await env.DB.prepare("SELECT SUM(cost_usd) AS spent FROM ledger WHERE tenant_id = ? AND session_id = 's-usd'").bind(tenant.id).first<{ spent: number }>();
    expect(ledger?.spent).toBeLessThanOrEqual(maxUsd + 1e-12);
    expect(ledger?.spent).toBeCloseTo(view.counters.cost_usd, 12);
  }, 60_000);

  it("fires the loop guard on the 4th identical call with loop_repeat_limit 3 (cache hits included)", async () => {
    const tenant = await bigTenant({ sessions: { loop_repeat_limit: 3 } });
    const statuses: number[] = [];
    // Cached: the repeats are served from the cache, and still count as the agent going round in circles.
    for (let i = 0; i < 3; i++) statuses.push((await chat(tenant.key, ask(0), { "x-tollgate-session": "s-loop" })).status);
    expect(statuses).toEqual([200, 200, 200]);
    const looped = await chat(tenant.key, ask(0), { "x-tollgate-session": "s-loop" });
    expect(looped.status).toBe(403);
    expect(await looped.json()).toMatchObject({ error: { code: "loop_detected", param: "loop_repeat_limit" } });
    // A different request is not a loop.
    expect((await chat(tenant.key, ask(1), { "x-tollgate-session": "s-loop" })).status).toBe(200);
  });

  it("counts the remaining header down, and a request can tighten but never loosen the limits", async () => {
    const tenant = await bigTenant({ sessions: { max_steps: 5, max_tool_calls: 10 } });
    const seen: (string | null)[] = [];
    for (let i = 0; i < 3; i++) seen.push((await chat(tenant.key, ask(i), inSession("s-count"))).headers.get("x-tollgate-session-remaining"));
    expect(seen).toEqual(["steps=4,tool_calls=10", "steps=3,tool_calls=10", "steps=2,tool_calls=10"]);
    // Loosening is ignored: the policy's 5 still holds.
    const loose = await chat(tenant.key, ask(3), inSession("s-count", { "x-tollgate-session-limits": "max_steps=50" }));
    expect(loose.headers.get("x-tollgate-session-remaining")).toBe("steps=1,tool_calls=10");
    // Tightening sticks for later calls without the header too.
    const tight = await chat(tenant.key, ask(4), inSession("s-tight", { "x-tollgate-session-limits": "max_steps=1,max_usd=0.5" }));
    expect(tight.headers.get("x-tollgate-session-remaining")).toMatch(/^steps=0,tool_calls=10,usd=0\.49/);
    const after = await chat(tenant.key, ask(5), inSession("s-tight"));
    expect(after.status).toBe(403);
    expect(await after.json()).toMatchObject({ error: { param: "max_steps" } });
    const bad = await chat(tenant.key, ask(6), inSession("s-bad", { "x-tollgate-session-limits": "max_steps=lots" }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { param: "x-tollgate-session-limits" } });
    const badId = await chat(tenant.key, ask(6), { "x-tollgate-session": "no spaces/allowed" });
    expect(badId.status).toBe(400);
  });

  it("GET /v1/sessions/:id matches the ledger; DELETE ends the session; another tenant sees 404", async () => {
    const tenant = await bigTenant({ sessions: { max_steps: 10, tasks: { research: { max_steps: 4 } } } });
    const task = { "x-tollgate-task": "research" };
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await chat(tenant.key, ask(i), inSession("s-view", task))).headers.get("x-request-id") ?? "");
    await Promise.all(ids.map((id) => ledgerRow(id)));
    const view = await settledSession(tenant.key, "s-view");
    const ledger = await env.DB.prepare("SELECT COUNT(*) AS n, SUM(cost_usd) AS usd, SUM(prompt_tokens + completion_tokens) AS tokens FROM ledger WHERE tenant_id = ? AND session_id = 's-view' AND status = 200")
      .bind(tenant.id).first<{ n: number; usd: number; tokens: number }>();
    expect(view.state).toBe("limited");
    expect(view.limited_by).toBe("max_steps");
    expect(view.limits.max_steps).toBe(4);
    expect(view.counters.steps).toBe(4);
    expect(ledger?.n).toBe(4);
    expect(view.counters.cost_usd).toBeCloseTo(ledger?.usd ?? -1, 12);
    expect(view.counters.tokens).toBe(ledger?.tokens);
    expect(view.timeline.map((s) => s.status)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(view.timeline.every((s) => s.cost_usd > 0 && (s.latency_ms ?? -1) >= 0)).toBe(true);

    const other = await createTenant();
    expect((await sessionView(other.key, "s-view")).status).toBe(404);

    const ended = await call("/v1/sessions/s-view", { method: "DELETE", headers: { authorization: `Bearer ${tenant.key}` } });
    expect(await ended.json()).toMatchObject({ state: "ended" });
    const afterEnd = await chat(tenant.key, ask(9), inSession("s-view"));
    expect(afterEnd.status).toBe(403);
    expect(await afterEnd.json()).toMatchObject({ error: { code: "session_limit_exceeded", param: "session" } });
  });

  it("refuses a call whose worst case would pass max_tokens", async () => {
    const tenant = await bigTenant({ sessions: { max_tokens: 100 } });
    // 40 output tokens plus the padded prompt fit once; the second worst case does not.
    expect((await chat(tenant.key, ask(0), inSession("s-tokens"))).status).toBe(200);
    const refused = await chat(tenant.key, { ...ask(1), max_tokens: 90 }, inSession("s-tokens"));
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: "session_limit_exceeded", param: "max_tokens" } });
  });

  it("reports cost and steps per session, p50/p95 by task, in the task profiles", async () => {
    const tenant = await bigTenant({});
    const task = { "x-tollgate-task": "triage" };
    const ids: string[] = [];
    // Three sessions of 1, 2 and 4 steps.
    for (const [session, steps] of [["a", 1], ["b", 2], ["c", 4]] as const) {
      for (let i = 0; i < steps; i++) ids.push((await chat(tenant.key, ask(i + 10 * steps), inSession(`s-${session}`, task))).headers.get("x-request-id") ?? "");
    }
    await Promise.all(ids.map((id) => ledgerRow(id)));
    const from = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const res = await call(`/admin/reports/profiles?tenant=${tenant.id}&from=${from}`, { headers: { authorization: "Bearer test-admin-token" } });
    const { data } = await res.json<{ data: { task: string; sessions: { count: number; steps: { p50: number; p95: number }; cost_usd: { p50: number; p95: number } } | null }[] }>();
    const triage = data.find((p) => p.task === "triage");
    expect(triage?.sessions).toMatchObject({ count: 3, steps: { p50: 2, p95: 4 } });
    const costs = await env.DB.prepare("SELECT SUM(cost_usd) AS c FROM ledger WHERE tenant_id = ? GROUP BY session_id ORDER BY c").bind(tenant.id).all<{ c: number }>();
    expect(triage?.sessions?.cost_usd.p50).toBeCloseTo(costs.results[1]?.c ?? -1, 12);
    expect(triage?.sessions?.cost_usd.p95).toBeCloseTo(costs.results[2]?.c ?? -1, 12);
  });

  it("tops a step up before a dearer fallback, and skips one max_usd cannot cover", async () => {
    const req: ChatRequest = { model: "auto", max_tokens: 40, messages: [{ role: "user", content: "Summarise the session fallback case" }] };
    const [first, second] = ["sim/fast", "sim-b/fast"].map((id) => findModel(DEFAULT_CATALOG, id));
    if (!first || !second) throw new Error("catalog");
    const floor = estimateChain(req, [first]).usd;
    const dearer = estimateChain(req, [second]).usd;
    expect(dearer).toBeGreaterThan(floor);
    // Room for the first model's worst case, not for the dearer fallback's.
    const tenant = await bigTenant({ sessions: { max_usd: (floor + dearer) / 2 } });
    await admin("/admin/breakers", "DELETE");
    const fault = { "x-tollgate-tier": "fast", "x-tollgate-sim-fault": "500;provider=sim-a" };
    const refused = await chat(tenant.key, req, inSession("s-fallback", fault));
    expect(refused.status).toBe(402);
    expect(refused.headers.get("x-tollgate-skipped")).toContain("sim-b/fast=budget");
    const tight = await settledSession(tenant.key, "s-fallback");
    expect(tight.counters.cost_usd).toBeLessThanOrEqual((floor + dearer) / 2 + 1e-12);
    // With room for it, the same fallback answers: the step was topped up, and settles at its real cost.
    const roomy = await bigTenant({ sessions: { max_usd: dearer * 2 } });
    const served = await chat(roomy.key, req, inSession("s-fallback", fault));
    expect(served.status).toBe(200);
    expect(served.headers.get("x-tollgate-provider")).toBe("sim-b");
    const view = await settledSession(roomy.key, "s-fallback");
    const row = await ledgerRow<{ cost_usd: number }>(served.headers.get("x-request-id") ?? "");
    expect(view.counters.cost_usd).toBeCloseTo(row.cost_usd, 12);
  });

  it("counts streamed calls and settles them after the last chunk", async () => {
    const tenant = await bigTenant({ sessions: { max_steps: 2 } });
    const res = await chat(tenant.key, { ...ask(0), stream: true }, inSession("s-stream"));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-session-remaining")).toBe("steps=1");
    await res.text();
    const view = await settledSession(tenant.key, "s-stream");
    expect(view.timeline).toHaveLength(1);
    expect(view.timeline[0]?.status).toBe("ok");
    expect(view.counters.tokens).toBeGreaterThan(0);
  });
});

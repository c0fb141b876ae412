import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { estimateChain, estimateInput } from "../../src/budget/budget-client";
import { DEFAULT_CATALOG, findModel } from "../../src/config/model-catalog";
import type { ChatRequest } from "../../src/validate/chat-request";
import { useUpstream } from "../fixtures/fault-fixtures";
import { admin, call, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";

// Issue 11, findings 1–4: every path that spends goes through one admission that covers what the
// request may cost, and nothing a client controls moves the breakers every tenant shares.

const NO_CACHE = { "x-tollgate-cache": "no-store" };
const HIGH_LIMITS = { rpm: 100_000, tpm: 100_000_000, max_in_flight: 1000 };
const model = (id: string) => {
  const found = findModel(DEFAULT_CATALOG, id);
  if (!found) throw new Error(id);
  return found;
};

interface Breaker { key: string; state: string; failureRate: number; requests: number; consecutiveFailures: number }

async function breaker(key: string): Promise<Breaker | undefined> {
  const list = await (await admin("/admin/breakers", "GET")).json<{ data: Breaker[] }>();
  return list.data.find((b) => b.key === key);
}

/** Breaker reports travel in the background: wait until the object has seen at least `n` outcomes. */
async function breakerAfter(key: string, n: number): Promise<Breaker> {
  for (let i = 0; i < 200; i++) {
    const found = await breaker(key);
    if (found && found.requests >= n) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`breaker ${key} never saw ${n} outcomes`);
}

function embeddings(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return call("/v1/embeddings", { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

async function budgetView(key: string) {
  for (let i = 0; i < 200; i++) {
    const view = await (await call("/v1/budget", { headers: { authorization: `Bearer ${key}` } })).json<{ data: { scope: string; spent_usd: number; reserved_usd: number }[] }>();
    if (view.data.every((b) => b.reserved_usd < 1e-12)) return view;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("reservations never settled");
}

describe("breakers count provider faults only (finding 1)", () => {
  it("a client's own deadline cutting a hung attempt never counts against the provider", async () => {
    // The test is about the shared breaker's state, so it starts from a known one.
    await admin("/admin/breakers", "DELETE");
    const hostile = await createTenant();
    for (let i = 0; i < 8; i++) {
      const res = await chat(hostile.key, hello(`deadline ${i}`), { ...NO_CACHE, "x-tollgate-sim-fault": "timeout;provider=sim-a", "x-tollgate-deadline-ms": "30" });
      expect(res.status).toBe(504);
    }
    // One healthy answer from sim-a: once the object has counted it, every earlier report has landed too.
    const ok = await chat(hostile.key, hello("healthy"), NO_CACHE);
    expect(ok.headers.get("x-tollgate-provider")).toBe("sim-a");
    const state = await breakerAfter("sim-a:fast", 1);
    expect(state).toMatchObject({ state: "closed", failureRate: 0, consecutiveFailures: 0 });

    const other = await createTenant();
    const served = await chat(other.key, hello("am I served normally?"), NO_CACHE);
    expect(served.status).toBe(200);
    expect(served.headers.get("x-tollgate-provider")).toBe("sim-a");
    expect(served.headers.get("x-tollgate-degraded")).toBeNull();
  });

  it("a genuine outage (the attempt's own timeout, 5xx) still opens the breaker within the usual count", async () => {
    await admin("/admin/breakers", "DELETE");
    const tenant = await createTenant({ policy: { timeouts: { attempt_ms: 200, first_token_ms: 200, idle_ms: 200 } } });
    for (let i = 0; i < 3; i++) {
      const res = await chat(tenant.key, hello(`hung ${i}`, "sim/balanced"), { ...NO_CACHE, "x-tollgate-sim-fault": "timeout;provider=sim-a" });
      expect(res.headers.get("x-tollgate-provider")).toBe("sim-b");
    }
    const state = await breakerAfter("sim-a:balanced", 5);
    expect(state.state).toBe("open");
    await admin("/admin/breakers", "DELETE");
  });

  it("requests the provider rejects as invalid (400) never count against it", async () => {
    // An OpenAI-compatible upstream at the fetch boundary: a 400 for any question marked "invalid".
    const realFetch = globalThis.fetch;
    let rejected = 0;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (!request.url.startsWith("https://upstream.test/")) return realFetch(input, init);
      const sent = await request.json<{ messages: { content: string }[] }>();
      if (JSON.stringify(sent.messages).includes("invalid")) {
        rejected++;
        return Response.json({ error: { message: "bad request", type: "invalid_request_error" } }, { status: 400 });
      }
      const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
      return Response.json({ id: "up", choices: [{ index: 0, message: { role: "assistant", content: "fine" }, finish_reason: "stop" }], usage });
    });
    try {
      await useUpstream(async () => {
        const tenant = await createTenant();
        const model = "openai/gpt-4o-mini";
        // More than the consecutive-failure threshold (5), so counting them would open the breaker.
        for (let i = 0; i < 8; i++) await chat(tenant.key, hello(`invalid ${i}`, model), NO_CACHE);
        // Every one reached the provider: had the 400s counted, the breaker would open after five and skip it.
        expect(rejected).toBeGreaterThanOrEqual(8);
        // One healthy answer: once the object has counted it, every earlier report has landed too.
        const ok = await chat(tenant.key, hello("healthy", model), NO_CACHE);
        expect(ok.status).toBe(200);
        expect(ok.headers.get("x-tollgate-provider")).toBe("openai");
        const state = await breakerAfter("openai:gpt-4o-mini", 1);
        expect(state).toMatchObject({ state: "closed", failureRate: 0, consecutiveFailures: 0 });
      });
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("nothing one tenant sends changes what another tenant is served", async () => {
    await admin("/admin/breakers", "DELETE");
    const hostile = await createTenant({ limits: HIGH_LIMITS });
    const outcomes: (Response | undefined)[] = [];
    for (let i = 0; i < 12; i++) {
      // Small waves, so each request reaches its provider attempt before its deadline runs out.
      const deadline = String(20 + (i % 4) * 15);
      const abort = new AbortController();
      const wave: Promise<Response | undefined>[] = [
        chat(hostile.key, hello(`deadline ${i}`), { ...NO_CACHE, "x-tollgate-deadline-ms": deadline }),
        chat(hostile.key, { ...hello(`stream ${i}`), stream: true }, { ...NO_CACHE, "x-tollgate-deadline-ms": deadline }).then(async (r) => (await r.text(), r)),
        // A provider slower than the client's deadline: the sim's hang stands in for real latency.
        chat(hostile.key, hello(`slow ${i}`), { ...NO_CACHE, "x-tollgate-sim-fault": "timeout;provider=sim-a", "x-tollgate-deadline-ms": deadline }),
        chat(hostile.key, { ...hello(`slow stream ${i}`), stream: true }, { ...NO_CACHE, "x-tollgate-sim-fault": "timeout;provider=sim-a", "x-tollgate-deadline-ms": deadline }),
        chat(hostile.key, { ...hello(`bad ${i}`), max_tokens: -1 }, NO_CACHE),
        chat(hostile.key, hello(`unknown ${i}`, "sim/none"), NO_CACHE),
        call("/v1/chat/completions", { method: "POST", signal: abort.signal, headers: { authorization: `Bearer ${hostile.key}`, "content-type": "application/json", ...NO_CACHE }, body: JSON.stringify(hello(`abort ${i}`)) }).catch(() => undefined),
      ];
      abort.abort();
      outcomes.push(...(await Promise.all(wave)));
    }
    expect(outcomes.filter((r) => r?.status === 504).length).toBeGreaterThanOrEqual(12);

    const victim = await createTenant();
    const res = await chat(victim.key, hello("business as usual"), NO_CACHE);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-provider")).toBe("sim-a");
    expect(res.headers.get("x-tollgate-degraded")).toBeNull();
    const state = await breakerAfter("sim-a:fast", 1);
    expect(state).toMatchObject({ state: "closed", failureRate: 0 });
  });
});

describe("embeddings go through admission and policy (findings 2, 3)", () => {
  it("an exhausted budget refuses embeddings, and their spend moves the budget", async () => {
    const text = "toll ".repeat(19_000);
    const perCall = estimateInput([`0 ${text}`], model("sim/embed")).usd;
    const tenant = await createTenant({ limits: HIGH_LIMITS, budgets: [{ scope: "tenant", period: "total", limit_usd: 0.001 }] });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await embeddings(tenant.key, { model: "sim/embed", input: `${i} ${text}` }, NO_CACHE)).status);
    // Each call's worst case is ~$0.0005: the budget admits a couple, then refuses.
    expect(perCall).toBeGreaterThan(0.0001);
    expect(statuses.slice(0, 1)).toEqual([200]);
    expect(statuses.slice(-5)).toEqual([402, 402, 402, 402, 402]);
    const view = await budgetView(tenant.key);
    const spent = view.data.find((b) => b.scope === "tenant")?.spent_usd ?? 0;
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(0.001 + 1e-12);
    const refused = await embeddings(tenant.key, { model: "sim/embed", input: `again ${text}` });
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ error: { code: "budget_exceeded" } });
  });

  it("embeddings obey rate limits", async () => {
    const tenant = await createTenant({ limits: { rpm: 2, tpm: 100_000_000, max_in_flight: 10 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await embeddings(tenant.key, { model: "sim/embed", input: `rate ${i}` })).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it("a sensitive tenant's embeddings never reach a public model; nor do requests marked sensitive", async () => {
    const sensitive = await createTenant({ policy: { sensitive: true, allowed_models: ["sim-private/fast"] } });
    const refused = await embeddings(sensitive.key, { model: "sim/embed", input: "patient record 4411" });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: "invalid_request", param: "model" } });

    const plain = await createTenant();
    const marked = await embeddings(plain.key, { model: "sim/embed", input: "patient record 4412" }, { "x-tollgate-data": "sensitive" });
    expect(marked.status).toBe(400);
    const allowed = await createTenant({ policy: { allowed_models: ["sim/fast"] } });
    expect((await embeddings(allowed.key, { model: "sim/embed", input: "not on the list" })).status).toBe(400);
    const served = await embeddings(plain.key, { model: "sim/embed", input: "an ordinary text" });
    expect(served.status).toBe(200);
    const row = await ledgerRow<{ provider: string; cost_usd: number }>(served.headers.get("x-request-id") ?? "");
    expect(row.provider).toBe("sim-a");
  });
});

describe("a dearer fallback never overspends (finding 4)", () => {
  const request = (i: number): ChatRequest => ({ model: "auto", max_tokens: 40, messages: [{ role: "user", content: `Summarise ticket number ${2000 + i} in one line` }] });

  it("200 concurrent requests, the first providers failing and a dearer fallback, settle at or below the limit", async () => {
    const fast = { ...NO_CACHE, "x-tollgate-tier": "fast", "x-tollgate-sim-fault": "500;provider=sim-a,500;provider=sim-b" };
    const cheapest = estimateChain(request(0), [model("sim/fast")]).usd;
    const limit = cheapest * 20;
    const tenant = await createTenant({ limits: HIGH_LIMITS, budgets: [{ scope: "tenant", period: "day", limit_usd: limit }] });
    const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => chat(tenant.key, request(i), fast)));
    // At the edge of the budget, a fallback the reservation cannot be topped up for is refused, not run on credit.
    expect(burst.every((r) => r.status === 200 || r.status === 402)).toBe(true);
    await budgetView(tenant.key);
    // Once the burst has settled, what is left pays for fallbacks one at a time, until it runs out.
    const after: Response[] = [];
    for (let i = 200; i < 240; i++) after.push(await chat(tenant.key, request(i), fast));
    const responses = [...burst, ...after];
    const served = responses.filter((r) => r.status === 200);
    expect(served.length).toBeGreaterThan(0);
    expect(served.every((r) => r.headers.get("x-tollgate-provider") === "sim-private")).toBe(true);
    expect(after.at(-1)?.status).toBe(402);
    const view = await budgetView(tenant.key);
    const spent = view.data.find((b) => b.scope === "tenant")?.spent_usd ?? Number.NaN;
    expect(spent).toBeLessThanOrEqual(limit + 1e-12);
    await Promise.all(served.map((r) => ledgerRow(r.headers.get("x-request-id") ?? "")));
    const ledger = await env.DB.prepare("SELECT SUM(cost_usd) AS spent FROM ledger WHERE tenant_id = ?").bind(tenant.id).first<{ spent: number }>();
    expect(ledger?.spent ?? Number.NaN).toBeLessThanOrEqual(limit + 1e-12);
    expect(ledger?.spent).toBeCloseTo(spent, 12);
  }, 60_000);

  it("a fallback the reservation cannot cover is skipped, and the response says why", async () => {
    const req = request(9999);
    const [first, second] = ["sim/fast", "sim-b/fast"].map(model);
    if (!first || !second) throw new Error("catalog");
    // Room for the first model's worst case, not for the dearer fallback's.
    const floor = estimateChain(req, [first]).usd;
    const dearer = estimateChain(req, [second]).usd;
    const tenant = await createTenant({ budgets: [{ scope: "tenant", period: "total", limit_usd: (floor + dearer) / 2 }] });
    // The drill above really opened sim-a's breaker (a simulated outage); this test needs sim-a tried first.
    await admin("/admin/breakers", "DELETE");
    const res = await chat(tenant.key, req, { ...NO_CACHE, "x-tollgate-tier": "fast", "x-tollgate-sim-fault": "500;provider=sim-a" });
    expect(res.status).toBe(402);
    expect(res.headers.get("x-tollgate-skipped")).toContain("sim-b/fast=budget");
    const body = await res.json<{ error: { code: string; message: string } }>();
    expect(body.error.code).toBe("budget_exceeded");
    expect(body.error.message).toContain("sim-b/fast");
    await budgetView(tenant.key);
    const ok = await chat(tenant.key, req, { ...NO_CACHE, "x-tollgate-tier": "fast" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-tollgate-provider")).toBe("sim-a");
  });
});

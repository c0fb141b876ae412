import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_BREAKER } from "../../durable-objects/provider-breaker";
import { backoffMs, breakerKey, callWithFallback } from "../../src/providers/call-with-fallback";
import { isolateBreakerGate, rememberSnapshot } from "../../src/routing/breaker-gate";
import { waitFor } from "../fixtures/jobs-fixtures";
import { DEFAULT_CATALOG } from "../../src/config/model-catalog";
import { providerInstances } from "../../src/providers/provider-registry";

let n = 0;
const breaker = () => {
  const key = `test-provider-${++n}:model`;
  return { key, stub: env.PROVIDER_BREAKER.get(env.PROVIDER_BREAKER.idFromName(key)) };
};

describe("ProviderBreaker", () => {
  it("opens after a run of consecutive failures, half-opens after the cooldown, closes after successful probes", async () => {
    const { key, stub } = breaker();
    const t0 = Date.UTC(2026, 10, 21, 12);
    for (let i = 0; i < DEFAULT_BREAKER.consecutiveFailures - 1; i++) expect((await stub.report(key, false, t0 + i)).state).toBe("closed");
    const opened = await stub.report(key, false, t0 + 10);
    expect(opened).toMatchObject({ state: "open", openedAt: t0 + 10, retryAt: t0 + 10 + DEFAULT_BREAKER.cooldownMs });

    expect((await stub.snapshot(key, t0 + 10 + DEFAULT_BREAKER.cooldownMs - 1)).state).toBe("open");
    const later = t0 + 10 + DEFAULT_BREAKER.cooldownMs;
    expect((await stub.snapshot(key, later)).state).toBe("half_open");
    for (let i = 1; i < DEFAULT_BREAKER.halfOpenProbes; i++) expect((await stub.report(key, true, later + i)).state).toBe("half_open");
    const closed = await stub.report(key, true, later + 100);
    expect(closed).toMatchObject({ state: "closed", consecutiveFailures: 0, requests: 0 });
  });

  it("re-opens when a half-open probe fails", async () => {
    const { key, stub } = breaker();
    const t0 = Date.UTC(2026, 10, 21, 13);
    for (let i = 0; i < DEFAULT_BREAKER.consecutiveFailures; i++) await stub.report(key, false, t0);
    const probeAt = t0 + DEFAULT_BREAKER.cooldownMs;
    expect((await stub.snapshot(key, probeAt)).state).toBe("half_open");
    expect(await stub.report(key, false, probeAt + 1)).toMatchObject({ state: "open", openedAt: probeAt + 1 });
  });

  it("trips on the failure rate once the window holds enough requests", async () => {
    const { key, stub } = breaker();
    const t0 = Date.UTC(2026, 10, 21, 14);
    // Alternating outcomes never make 5 failures in a row, but half of 10 requests failed.
    let last = await stub.report(key, true, t0);
    for (let i = 1; i < DEFAULT_BREAKER.minRequests; i++) last = await stub.report(key, i % 2 === 0, t0 + i);
    expect(last.requests).toBe(DEFAULT_BREAKER.minRequests);
    expect(last.state).toBe("open");
  });
});

describe("the isolate's breaker reports", () => {
  it("batch successes into one Durable Object call, and send a failure at once, after the successes before it", async () => {
    const { key, stub } = breaker();
    const sent: number[] = [];
    const background: Promise<unknown>[] = [];
    // The real object, behind a wrapper that notes each batch's size.
    const bound = <T extends object>(target: T, prop: string | symbol) => {
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    };
    const counting = new Proxy(env.PROVIDER_BREAKER, {
      get: (ns, prop) =>
        prop !== "get"
          ? bound(ns, prop)
          : (id: DurableObjectId) =>
              new Proxy(ns.get(id), {
                get: (real, method) => (method !== "reportMany" ? bound(real, method) : (k: string, outcomes: boolean[]) => (sent.push(outcomes.length), real.reportMany(k, outcomes))),
              }),
    });
    const gate = isolateBreakerGate({ ...env, PROVIDER_BREAKER: counting }, (p) => void background.push(p));
    rememberSnapshot(await stub.snapshot(key));
    for (let i = 0; i < 10; i++) gate.report(key, true);
    await Promise.all(background.splice(0));
    expect(sent).toEqual([10]);
    for (let i = 0; i < 4; i++) gate.report(key, true);
    gate.report(key, false);
    await Promise.all(background.splice(0));
    expect(sent).toEqual([10, 5]);
    expect(await stub.snapshot(key)).toMatchObject({ state: "closed", requests: 15, consecutiveFailures: 1 });
  });
});

describe("retries and fallback", () => {
  const req = { model: "sim/fast", messages: [{ role: "user" as const, content: "hi" }] };
  const base = { req, stream: false, ids: { id: "x", model: "sim/fast", created: 1 }, attemptTimeoutMs: 5_000, firstTokenTimeoutMs: 5_000, idleTimeoutMs: 5_000, maxAttemptsPerModel: 3 };

  /**
   * The two fast sim models, served under provider names of this test's own, so their breakers (real
   * ProviderBreaker objects, keyed provider:model) are touched by nothing else. The sim still answers as
   * sim-a and sim-b, so an x-tollgate-sim-fault aimed at sim-a hits the first of them.
   */
  function ownChain(options: { simFaultHeader?: string } = {}) {
    const tag = ++n;
    const sims = providerInstances({ ...env, SIM_LATENCY_SCALE: "0" }, options);
    const instances = new Map(sims);
    const chain = DEFAULT_CATALOG.filter((m) => m.tier === "fast" && m.provider.startsWith("sim-") && !m.private).map((m) => {
      const provider = `${m.provider}-own-${tag}`;
      const instance = sims.get(m.provider);
      if (!instance) throw new Error(m.provider);
      instances.set(provider, { ...instance, name: provider });
      return { ...m, provider };
    });
    const keys = chain.map(breakerKey);
    return { instances, chain, keys };
  }

  /** The isolate's real breaker gate; its reports to the ProviderBreaker objects are awaited before reading them. */
  function realGate() {
    const pending: Promise<unknown>[] = [];
    return { gate: isolateBreakerGate(env, (p) => void pending.push(p)), settled: () => Promise.all(pending) };
  }
  const snapshot = (key: string) => env.PROVIDER_BREAKER.get(env.PROVIDER_BREAKER.idFromName(key)).snapshot(key);

  it("backs off with full jitter, and never waits less than Retry-After", () => {
    expect(backoffMs(0, undefined, () => 0.5)).toBe(50);
    expect(backoffMs(3, undefined, () => 1)).toBe(800);
    expect(backoffMs(10, undefined, () => 1)).toBe(2000);
    expect(backoffMs(0, 1500, () => 0.1)).toBe(1500);
    const samples = new Set(Array.from({ length: 20 }, () => backoffMs(2, undefined, Math.random)));
    expect(samples.size).toBeGreaterThan(10);
  });

  it("retries retryable failures on the same model, honouring Retry-After, then falls back; the breakers count each outcome", async () => {
    const waits: number[] = [];
    const { instances, chain, keys } = ownChain({ simFaultHeader: "429;retry_after=2;provider=sim-a" });
    const { gate, settled } = realGate();
    const result = await callWithFallback({ ...base, chain, instances, deadlineAt: Date.now() + 60_000, breaker: gate, sleep: async (ms) => void waits.push(ms), random: () => 0 });
    expect(result.ok && result.value.model.provider).toBe(chain[1]?.provider);
    expect(waits).toEqual([2000, 2000]);
    const attempts = result.ok ? result.value.attempts : [];
    expect(attempts.map((a) => [a.provider, a.status ?? null])).toEqual([[chain[0]?.provider, 429], [chain[0]?.provider, 429], [chain[0]?.provider, 429], [chain[1]?.provider, null]]);
    await settled();
    expect(await snapshot(keys[0] ?? "")).toMatchObject({ state: "closed", requests: 3, consecutiveFailures: 3, failureRate: 1 });
    expect(await snapshot(keys[1] ?? "")).toMatchObject({ state: "closed", requests: 1, consecutiveFailures: 0, failureRate: 0 });
  });

  it("does not retry a non-retryable failure, and skips open breakers", async () => {
    const { instances, chain, keys } = ownChain();
    const first = chain[0]?.provider ?? "";
    const firstInstance = instances.get(first);
    if (!firstInstance) throw new Error(first);
    let calls = 0;
    instances.set(first, { ...firstInstance, fetch: async () => { calls++; return new Response("bad key", { status: 401 }); } });
    const { gate, settled } = realGate();
    const result = await callWithFallback({ ...base, chain, instances, deadlineAt: Date.now() + 60_000, breaker: gate, sleep: async () => undefined });
    expect(calls).toBe(1);
    expect(result.ok && result.value.model.provider).toBe(chain[1]?.provider);
    await settled();
    expect(await snapshot(keys[0] ?? "")).toMatchObject({ requests: 1, consecutiveFailures: 1 });
    expect(await snapshot(keys[1] ?? "")).toMatchObject({ requests: 1, consecutiveFailures: 0 });

    // Open both breakers for real, wait until the isolate's gate sees them, and the chain is not called at all.
    const t = Date.now();
    for (const key of keys) for (let i = 0; i < DEFAULT_BREAKER.consecutiveFailures; i++) await env.PROVIDER_BREAKER.get(env.PROVIDER_BREAKER.idFromName(key)).report(key, false, t);
    for (const key of keys) await waitFor(async () => (gate.isOpen(key) ? true : null), `the gate to see ${key} open`, 5_000);
    calls = 0;
    const allOpen = await callWithFallback({ ...base, chain, instances, deadlineAt: Date.now() + 60_000, breaker: gate, sleep: async () => undefined });
    expect(calls).toBe(0);
    expect(!allOpen.ok && allOpen.error.allOpen).toBe(true);
    expect(!allOpen.ok && allOpen.error.attempts).toEqual([]);
  });
});

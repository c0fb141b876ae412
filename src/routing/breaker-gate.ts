import type { BreakerSnapshot } from "../../durable-objects/provider-breaker";
import { IsolateBatches } from "../delivery/isolate-batches";
import type { BreakerGate } from "../providers/call-with-fallback";

// The request path never waits on breaker state: it reads this isolate's copy (at most 1 s old) and
// refreshes it in the background. Outcomes are reported through waitUntil.
const FRESH_MS = 1_000;
const view = new Map<string, { snapshot: BreakerSnapshot; fetchedAt: number }>();
const refreshing = new Set<string>();
/** Keys with a probe in flight from this isolate: a recovering provider gets one request at a time. */
const probing = new Set<string>();
// Successes on a closed breaker change nothing urgent: they go in one report per key every 250 ms
// (or 64 outcomes) instead of a Durable Object call per request. A failure, or any outcome while the
// breaker is not closed, is sent at once, after the successes before it, so the order holds.
const outcomes = new IsolateBatches<string, boolean>(250, 64);

function reportOutcomes(env: Env, key: string, batch: boolean[]): Promise<void> {
  return breakerStub(env, key)
    .reportMany(key, batch)
    .then((snapshot) => rememberSnapshot(snapshot))
    .catch(() => undefined);
}

export function breakerStub(env: Env, key: string) {
  return env.PROVIDER_BREAKER.get(env.PROVIDER_BREAKER.idFromName(key));
}

export function rememberSnapshot(snapshot: BreakerSnapshot, now = Date.now()): void {
  view.set(snapshot.key, { snapshot, fetchedAt: now });
}

export function forgetBreakerView(): void {
  view.clear();
  probing.clear();
  outcomes.clear();
}

export function isolateBreakerGate(env: Env, waitUntil: (promise: Promise<unknown>) => void): BreakerGate {
  const refresh = (key: string) => {
    if (refreshing.has(key)) return;
    refreshing.add(key);
    waitUntil(
      breakerStub(env, key)
        .snapshot(key)
        .then((snapshot) => rememberSnapshot(snapshot))
        .catch(() => undefined)
        .finally(() => refreshing.delete(key)),
    );
  };
  return {
    isOpen(key) {
      const entry = view.get(key);
      const now = Date.now();
      if (!entry || now - entry.fetchedAt > FRESH_MS) refresh(key);
      if (!entry || entry.snapshot.state === "closed") return false;
      const coolingDown = entry.snapshot.state === "open" && entry.snapshot.retryAt !== null && now < entry.snapshot.retryAt;
      if (coolingDown || probing.has(key)) return true;
      // Half-open (or past its cooldown): this request is the probe; the rest still skip it.
      probing.add(key);
      return false;
    },
    release(key) {
      probing.delete(key);
    },
    report(key, ok) {
      probing.delete(key);
      const urgent = !ok || view.get(key)?.snapshot.state !== "closed";
      waitUntil(outcomes.add(key, ok, (batch) => reportOutcomes(env, key, batch), urgent));
    },
  };
}

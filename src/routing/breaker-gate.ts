import type { BreakerSnapshot } from "../../durable-objects/provider-breaker";
import type { BreakerGate } from "../providers/call-with-fallback";

// The request path never waits on breaker state: it reads this isolate's copy (at most 1 s old) and
// refreshes it in the background. Outcomes are reported through waitUntil.
const FRESH_MS = 1_000;
const view = new Map<string, { snapshot: BreakerSnapshot; fetchedAt: number }>();
const refreshing = new Set<string>();

export function breakerStub(env: Env, key: string) {
  return env.PROVIDER_BREAKER.get(env.PROVIDER_BREAKER.idFromName(key));
}

export function rememberSnapshot(snapshot: BreakerSnapshot, now = Date.now()): void {
  view.set(snapshot.key, { snapshot, fetchedAt: now });
}

export function forgetBreakerView(): void {
  view.clear();
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
      if (!entry || entry.snapshot.state !== "open") return false;
      // Past the cooldown the breaker is half-open: let this request through as a probe.
      return entry.snapshot.retryAt === null || now < entry.snapshot.retryAt;
    },
    report(key, ok) {
      waitUntil(
        breakerStub(env, key)
          .report(key, ok)
          .then((snapshot) => rememberSnapshot(snapshot))
          .catch(() => undefined),
      );
    },
  };
}

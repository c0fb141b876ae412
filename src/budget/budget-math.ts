import type { Budget } from "../config/budget-config";

export type Period = Budget["period"];
export type ThresholdState = "ok" | "alert" | "degrade" | "throttle" | "exhausted";

/** Calendar periods in UTC: a day budget resets at 00:00 UTC, a month budget on the 1st. */
export function periodKey(period: Period, now: number): string {
  const iso = new Date(now).toISOString();
  if (period === "day") return iso.slice(0, 10);
  if (period === "month") return iso.slice(0, 7);
  return "total";
}

/** When the current period ends (epoch ms), or null for `total`. */
export function periodEnd(period: Period, now: number): number | null {
  const d = new Date(now);
  if (period === "day") return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  if (period === "month") return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return null;
}

export function thresholdState(budget: Pick<Budget, "alert_at" | "degrade_at" | "throttle_at">, used: number, limit: number): ThresholdState {
  const ratio = limit > 0 ? used / limit : 1;
  if (ratio >= 1) return "exhausted";
  if (ratio >= budget.throttle_at) return "throttle";
  if (ratio >= budget.degrade_at) return "degrade";
  if (ratio >= budget.alert_at) return "alert";
  return "ok";
}

const RANK: Record<ThresholdState, number> = { ok: 0, alert: 1, degrade: 2, throttle: 3, exhausted: 4 };
export const worstState = (states: ThresholdState[]): ThresholdState => states.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "ok");
export const atLeast = (state: ThresholdState, floor: ThresholdState): boolean => RANK[state] >= RANK[floor];

/** The thresholds a spend has crossed: each one alerts once per period. */
export function crossedThresholds(budget: Pick<Budget, "alert_at" | "degrade_at" | "throttle_at">, spent: number, limit: number): number[] {
  return [budget.alert_at, budget.degrade_at, budget.throttle_at, 1].filter((t, i, all) => spent >= t * limit && all.indexOf(t) === i);
}

/**
 * Month-end spend at the current velocity: what has been spent this month, scaled to the whole month.
 * Too early in the month the projection is noise, so it waits for a day of data.
 */
export function projectMonthEnd(monthSpent: number, now: number): number | null {
  const d = new Date(now);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  const elapsed = now - start;
  if (elapsed < 24 * 3600 * 1000) return null;
  return monthSpent * ((end - start) / elapsed);
}

/** Seconds until the oldest entries of a sliding window free enough room. */
export function retryAfterSeconds(entries: { at: number; weight: number }[], windowMs: number, excess: number, now: number): number {
  let freed = 0;
  for (const entry of [...entries].sort((a, b) => a.at - b.at)) {
    freed += entry.weight;
    if (freed >= excess) return Math.max(1, Math.ceil((entry.at + windowMs - now) / 1000));
  }
  return Math.max(1, Math.ceil(windowMs / 1000));
}

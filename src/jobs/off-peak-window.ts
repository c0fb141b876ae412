import type { TenantPolicy } from "../config/tenant-policy";

/**
 * The tenant's off-peak window in UTC hours, [start, end). It may wrap midnight (22 → 4);
 * 0 → 24 is all day; start = end is no window at all (only the deadline releases).
 */
export function inOffPeakWindow(window: TenantPolicy["off_peak"], at: Date): boolean {
  const hour = at.getUTCHours();
  const { start_hour: start, end_hour: end } = window;
  if (start === end) return false;
  return start < end ? hour >= start && hour < end : hour >= start || hour < end;
}

const MIN_MARGIN_MS = 10 * 60_000;
const MAX_MARGIN_MS = 6 * 3600_000;

/**
 * The latest release that still leaves time to run the batch inside its completion window: a quarter
 * of the window, between 10 minutes and 6 hours, plus one cron period so the release is not missed.
 */
export function latestRelease(createdAt: number, windowS: number, cronPeriodMs = 5 * 60_000): number {
  const margin = Math.min(MAX_MARGIN_MS, Math.max(MIN_MARGIN_MS, windowS * 250)) + cronPeriodMs;
  return Math.max(createdAt, createdAt + windowS * 1000 - margin);
}

/** "24h", "90m": the completion window in seconds, or null when it is malformed or out of range. */
export function parseCompletionWindow(text: string): number | null {
  const match = text.match(/^(\d{1,4})([mh])$/);
  if (!match) return null;
  const seconds = Number(match[1]) * (match[2] === "h" ? 3600 : 60);
  return seconds >= 600 && seconds <= 7 * 86_400 ? seconds : null;
}

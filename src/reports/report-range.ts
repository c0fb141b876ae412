import * as z from "zod";

// Reports work in UTC days: a rollup row is one UTC day, and so is a `day` group.
export const DAY_MS = 86_400_000;
/** Longest range a report accepts; bounds the rolled-days lookup and the raw fallback. */
export const MAX_RANGE_DAYS = 400;

export const startOfDay = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;
export const dayKey = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
export const dayStart = (key: string): number => Date.parse(`${key}T00:00:00Z`);

/** A half-open interval [from, to) in epoch ms. */
export interface TimeRange {
  from: number;
  to: number;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_INSTANT_MS = Date.parse("9999-12-31T00:00:00Z");

/**
 * `YYYY-MM-DD`, an ISO date-time or epoch ms. A date-only `to` means "through the end of that day", so
 * `from=2026-11-01&to=2026-11-30` covers all of November 30th, as people read it.
 */
function instant(edge: "from" | "to") {
  return z
    .string()
    .trim()
    .max(40)
    .transform((value, ctx) => {
      const ms = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value);
      if (!Number.isFinite(ms)) {
        ctx.addIssue({ code: "custom", message: "must be YYYY-MM-DD, an ISO date-time or epoch milliseconds" });
        return z.NEVER;
      }
      // Dates at JavaScript's limits (year -271821, +275760) parse, but a day added or subtracted later
      // no longer does: keep to years 1970-9999, which is every date a ledger can hold.
      if (ms < 0 || ms > MAX_INSTANT_MS) {
        ctx.addIssue({ code: "custom", message: "must be between 1970-01-01 and 9999-12-31" });
        return z.NEVER;
      }
      return edge === "to" && DATE_ONLY.test(value) ? ms + DAY_MS : ms;
    });
}

export const RangeQuerySchema = z.object({ from: instant("from").optional(), to: instant("to").optional() });

/** The last `days` UTC days, today included, through the end of today. */
export function lastDays(days: number, now = Date.now()): TimeRange {
  return { from: startOfDay(now) - (days - 1) * DAY_MS, to: startOfDay(now) + DAY_MS };
}

/** Fills what the query leaves out with `lastDays(defaultDays)`; a string is the reason it is invalid. */
export function resolveRange(query: { from?: number; to?: number }, defaultDays: number, now = Date.now()): TimeRange | string {
  const to = query.to ?? lastDays(1, now).to;
  const from = query.from ?? startOfDay(Math.min(to - 1, now)) - (defaultDays - 1) * DAY_MS;
  if (from >= to) return "from must be before to";
  if (to - from > MAX_RANGE_DAYS * DAY_MS) return `the range may span at most ${MAX_RANGE_DAYS} days`;
  return { from, to };
}

/** Which parts of a range come from rollups (whole, rolled-up days) and which from the raw ledger. */
export interface RangePlan {
  rollupDays: { from: string; to: string }[];
  raw: TimeRange[];
}

/**
 * Whole UTC days before today that the cron has rolled up are read from `ledger_daily`; everything else
 * (today, partial edge days, days not rolled up yet) from the ledger, so a report is right even when the
 * cron has not run, only slower.
 */
export function planRange(range: TimeRange, rolled: ReadonlySet<string>, now = Date.now()): RangePlan {
  const firstWhole = Math.ceil(range.from / DAY_MS) * DAY_MS;
  const lastWhole = Math.min(startOfDay(range.to), startOfDay(now));
  const rollupDays: RangePlan["rollupDays"] = [];
  const raw: TimeRange[] = [];
  const addRaw = (from: number, to: number) => {
    if (from >= to) return;
    const last = raw[raw.length - 1];
    if (last && last.to === from) last.to = to;
    else raw.push({ from, to });
  };
  if (firstWhole >= lastWhole) return { rollupDays, raw: [range] };
  addRaw(range.from, firstWhole);
  for (let day = firstWhole; day < lastWhole; day += DAY_MS) {
    const key = dayKey(day);
    if (!rolled.has(key)) {
      addRaw(day, day + DAY_MS);
      continue;
    }
    const last = rollupDays[rollupDays.length - 1];
    const next = dayKey(day + DAY_MS);
    if (last && last.to === key) last.to = next;
    else rollupDays.push({ from: key, to: next });
  }
  addRaw(lastWhole, range.to);
  return { rollupDays, raw };
}

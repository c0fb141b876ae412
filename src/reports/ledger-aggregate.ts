import { CACHE_STATUSES, type CacheStatus } from "../ledger/ledger-event";
import { planRange, type RangePlan, type TimeRange } from "./report-range";

/**
 * The one aggregation every report is built on: sums of the ledger over a range, grouped by any of the
 * dimensions below, read from `ledger_daily` for rolled-up days and from `ledger` for the rest. Both
 * sources produce the same columns, so the two halves merge by plain addition.
 */
export const DIMENSIONS = ["tenant", "task", "tier", "model", "day", "cache"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

// Column expressions come from these fixed maps, never from input.
const RAW_COLUMN: Record<Dimension, string> = {
  tenant: "COALESCE(tenant_id, '')",
  task: "task",
  tier: "COALESCE(tier, '')",
  model: "COALESCE(model, '')",
  day: "date(ts / 1000, 'unixepoch')",
  cache: "cache",
};
const ROLLUP_COLUMN: Record<Dimension, string> = { tenant: "tenant_id", task: "task", tier: "tier", model: "model", day: "day", cache: "cache" };

const cacheAlias = (kind: CacheStatus) => `cache_${kind}`;

/** Per-row measures over the raw ledger; the rollup job stores exactly these per day and group. */
export const RAW_MEASURES = {
  requests: "COUNT(*)",
  prompt_tokens: "SUM(prompt_tokens)",
  completion_tokens: "SUM(completion_tokens)",
  cost_usd: "SUM(cost_usd)",
  saved_usd: "SUM(saved_usd)",
  escalations: "SUM(escalated_from IS NOT NULL)",
  errors: "SUM(status >= 400)",
  latency_ms_sum: "SUM(latency_ms)",
} as const;
type Measure = keyof typeof RAW_MEASURES;
const MEASURES = Object.keys(RAW_MEASURES) as Measure[];

const RAW_SELECT = [
  ...MEASURES.map((m) => `${RAW_MEASURES[m]} AS ${m}`),
  ...CACHE_STATUSES.map((kind) => `SUM(cache = '${kind}') AS ${cacheAlias(kind)}`),
].join(", ");
const ROLLUP_SELECT = [
  ...MEASURES.map((m) => `SUM(${m}) AS ${m}`),
  ...CACHE_STATUSES.map((kind) => `SUM(CASE WHEN cache = '${kind}' THEN requests ELSE 0 END) AS ${cacheAlias(kind)}`),
].join(", ");

export interface Totals {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  saved_usd: number;
  escalations: number;
  errors: number;
  latency_ms_sum: number;
  cache: Record<CacheStatus, number>;
}

export interface Group {
  /** '' stands for "none" (e.g. no tier on a request rejected before routing). */
  key: Record<Dimension, string>;
  totals: Totals;
}

export interface AggregateFilter {
  tenant?: string;
  task?: string;
}

export interface AggregateResult {
  groups: Group[];
  plan: RangePlan;
}

export function emptyTotals(): Totals {
  const cache = Object.fromEntries(CACHE_STATUSES.map((kind) => [kind, 0])) as Record<CacheStatus, number>;
  return { requests: 0, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0, saved_usd: 0, escalations: 0, errors: 0, latency_ms_sum: 0, cache };
}

export function addTotals(into: Totals, from: Totals): Totals {
  for (const m of MEASURES) into[m] += from[m];
  for (const kind of CACHE_STATUSES) into.cache[kind] += from.cache[kind];
  return into;
}

type SqlRow = Record<string, string | number | null>;

function toTotals(row: SqlRow): Totals {
  const totals = emptyTotals();
  for (const m of MEASURES) totals[m] = Number(row[m] ?? 0);
  for (const kind of CACHE_STATUSES) totals.cache[kind] = Number(row[cacheAlias(kind)] ?? 0);
  return totals;
}

/** Days the cron has rolled up within the range (at most MAX_RANGE_DAYS rows). */
export async function rolledDays(db: D1Database, range: TimeRange): Promise<Set<string>> {
  const from = new Date(range.from).toISOString().slice(0, 10);
  const to = new Date(range.to).toISOString().slice(0, 10);
  const { results } = await db.prepare("SELECT day FROM rollup_days WHERE day >= ? AND day <= ?").bind(from, to).all<{ day: string }>();
  return new Set(results.map((r) => r.day));
}

function whereFilter(filter: AggregateFilter, tenantColumn: string): { sql: string; binds: string[] } {
  const parts: string[] = [];
  const binds: string[] = [];
  if (filter.tenant !== undefined) {
    parts.push(`${tenantColumn} = ?`);
    binds.push(filter.tenant);
  }
  if (filter.task !== undefined) {
    parts.push("task = ?");
    binds.push(filter.task);
  }
  return { sql: parts.map((p) => ` AND ${p}`).join(""), binds };
}

/**
 * Aggregates the range. `useRollups: false` reads only the raw ledger: the reference the rollup path is
 * tested and benchmarked against.
 */
export async function aggregateLedger(
  db: D1Database,
  range: TimeRange,
  dims: readonly Dimension[],
  filter: AggregateFilter = {},
  options: { useRollups?: boolean; now?: number } = {},
): Promise<AggregateResult> {
  const rolled = options.useRollups === false ? new Set<string>() : await rolledDays(db, range);
  const plan = planRange(range, rolled, options.now);
  const groupCols = (map: Record<Dimension, string>) => dims.map((d, i) => `${map[d]} AS d${i}`);
  const groupBy = dims.length ? ` GROUP BY ${dims.map((_, i) => `d${i}`).join(", ")}` : "";
  const statements: D1PreparedStatement[] = [];

  const rawFilter = whereFilter(filter, "tenant_id");
  for (const part of plan.raw) {
    const select = [...groupCols(RAW_COLUMN), RAW_SELECT].join(", ");
    statements.push(db.prepare(`SELECT ${select} FROM ledger WHERE ts >= ? AND ts < ?${rawFilter.sql}${groupBy}`).bind(part.from, part.to, ...rawFilter.binds));
  }
  const rollupFilter = whereFilter(filter, "tenant_id");
  for (const part of plan.rollupDays) {
    const select = [...groupCols(ROLLUP_COLUMN), ROLLUP_SELECT].join(", ");
    statements.push(db.prepare(`SELECT ${select} FROM ledger_daily WHERE day >= ? AND day < ?${rollupFilter.sql}${groupBy}`).bind(part.from, part.to, ...rollupFilter.binds));
  }

  const merged = new Map<string, Group>();
  const results = statements.length ? await db.batch<SqlRow>(statements) : [];
  for (const result of results) {
    for (const row of result.results) {
      // An ungrouped SUM over no rows still returns one row of NULLs: it adds nothing.
      if (Number(row.requests ?? 0) === 0) continue;
      const values = dims.map((_, i) => String(row[`d${i}`] ?? ""));
      const id = JSON.stringify(values);
      let group = merged.get(id);
      if (!group) {
        const key = Object.fromEntries(DIMENSIONS.map((d) => [d, ""])) as Record<Dimension, string>;
        dims.forEach((d, i) => {
          key[d] = values[i] ?? "";
        });
        group = { key, totals: emptyTotals() };
        merged.set(id, group);
      }
      addTotals(group.totals, toTotals(row));
    }
  }
  return { groups: [...merged.values()], plan };
}

/** Dollar sums are rounded to the nano-dollar: rollups add in a different order than the raw ledger. */
export const roundUsd = (usd: number): number => Math.round(usd * 1e9) / 1e9;

import { aggregateLedger, type AggregateFilter, addTotals, emptyTotals, roundUsd, type Totals } from "./ledger-aggregate";
import { costFigures } from "./cost-report";
import type { TimeRange } from "./report-range";

export interface Percentiles {
  p50: number | null;
  p95: number | null;
}

export interface TaskProfile {
  task: string;
  requests: number;
  errors: number;
  /** Over successful requests (status < 400): failures have no meaningful size or latency. */
  tokens_in: Percentiles;
  tokens_out: Percentiles;
  latency_ms: Percentiles;
  /** Share of the task's requests served by each tier (requests with no tier are left out). */
  tier_mix: Record<string, number>;
  cache_hit_rate: number | null;
  escalation_rate: number | null;
  cost_usd: number;
  cost_per_request_usd: number | null;
  /** Calls through the MCP tool gateway (/v1/mcp/*), and their average per agent session of the task. */
  tool_calls: number;
  tool_calls_per_session: number | null;
  /** Agent sessions of the task (x-tollgate-session): how many, and p50/p95 of their cost and model steps. */
  sessions: { count: number; cost_usd: Percentiles; steps: Percentiles } | null;
}

const SESSIONS_SQL = (tenantFilter: string) => `
  SELECT task, SUM(cost_usd) AS cost, SUM(endpoint NOT LIKE '/v1/mcp/%' AND status < 400) AS steps FROM ledger
   WHERE ts >= ? AND ts < ? AND session_id IS NOT NULL${tenantFilter} GROUP BY task, session_id`;

/** Tool calls per task, and the task's agent sessions (any ledger row that names one). */
const TOOL_CALLS_SQL = (tenantFilter: string) => `
  WITH rows AS (
    -- A tool call is one the gateway let through (served, cached, replayed or failed upstream), not a refusal.
    SELECT task, session_id, endpoint LIKE '/v1/mcp/%' AND (status < 400 OR attempts > 0) AS tool FROM ledger WHERE ts >= ? AND ts < ?${tenantFilter}
  )
  SELECT task, SUM(tool) AS calls, SUM(tool AND session_id IS NOT NULL) AS session_calls,
         COUNT(DISTINCT session_id) AS sessions
    FROM rows GROUP BY task`;

/**
 * Nearest-rank percentiles (the value at rank ceil(p·n)), computed in SQLite with window functions so
 * only one row per task leaves the database. Integer arithmetic gives the ceilings: ceil(n/2) is
 * (n+1)/2 and ceil(0.95n) is (95n+99)/100.
 */
const PERCENTILE_SQL = (tenantFilter: string) => `
  WITH base AS (
    SELECT task, prompt_tokens AS p, completion_tokens AS c, latency_ms AS l FROM ledger
     WHERE ts >= ? AND ts < ? AND status < 400${tenantFilter}
  ), ranked AS (
    SELECT task, p, c, l,
           ROW_NUMBER() OVER (PARTITION BY task ORDER BY p) AS rp,
           ROW_NUMBER() OVER (PARTITION BY task ORDER BY c) AS rc,
           ROW_NUMBER() OVER (PARTITION BY task ORDER BY l) AS rl,
           COUNT(*) OVER (PARTITION BY task) AS n
      FROM base
  )
  SELECT task,
         MAX(CASE WHEN rp = (n + 1) / 2 THEN p END) AS in50, MAX(CASE WHEN rp = (95 * n + 99) / 100 THEN p END) AS in95,
         MAX(CASE WHEN rc = (n + 1) / 2 THEN c END) AS out50, MAX(CASE WHEN rc = (95 * n + 99) / 100 THEN c END) AS out95,
         MAX(CASE WHEN rl = (n + 1) / 2 THEN l END) AS lat50, MAX(CASE WHEN rl = (95 * n + 99) / 100 THEN l END) AS lat95
    FROM ranked GROUP BY task`;

interface PercentileRow {
  task: string;
  in50: number | null;
  in95: number | null;
  out50: number | null;
  out95: number | null;
  lat50: number | null;
  lat95: number | null;
}

/** The reference definition, shared with tests: nearest rank on an ascending copy. */
export function nearestRank(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1] ?? null;
}

export async function profilesReport(db: D1Database, range: TimeRange, filter: Pick<AggregateFilter, "tenant"> = {}, options: { now?: number } = {}): Promise<TaskProfile[]> {
  const tenantFilter = filter.tenant === undefined ? "" : " AND tenant_id = ?";
  const binds: (number | string)[] = [range.from, range.to, ...(filter.tenant === undefined ? [] : [filter.tenant])];
  const [percentiles, mix, toolRows, sessionRows] = await Promise.all([
    db.prepare(PERCENTILE_SQL(tenantFilter)).bind(...binds).all<PercentileRow>(),
    aggregateLedger(db, range, ["task", "tier"], filter, options),
    db.prepare(TOOL_CALLS_SQL(tenantFilter)).bind(...binds).all<{ task: string; calls: number; session_calls: number; sessions: number }>(),
    db.prepare(SESSIONS_SQL(tenantFilter)).bind(...binds).all<{ task: string; cost: number; steps: number }>(),
  ]);
  const sessions = new Map<string, { cost: number[]; steps: number[] }>();
  for (const row of sessionRows.results) {
    const entry = sessions.get(row.task) ?? { cost: [], steps: [] };
    entry.cost.push(row.cost);
    entry.steps.push(row.steps);
    sessions.set(row.task, entry);
  }
  const sessionProfile = (task: string): TaskProfile["sessions"] => {
    const entry = sessions.get(task);
    if (!entry) return null;
    return { count: entry.cost.length, cost_usd: { p50: nearestRank(entry.cost, 0.5), p95: nearestRank(entry.cost, 0.95) }, steps: { p50: nearestRank(entry.steps, 0.5), p95: nearestRank(entry.steps, 0.95) } };
  };
  const tools = new Map(toolRows.results.map((row) => [row.task, row]));
  const byTask = new Map<string, { totals: Totals; tiers: Map<string, number> }>();
  for (const group of mix.groups) {
    const entry = byTask.get(group.key.task) ?? { totals: emptyTotals(), tiers: new Map<string, number>() };
    addTotals(entry.totals, group.totals);
    if (group.key.tier) entry.tiers.set(group.key.tier, (entry.tiers.get(group.key.tier) ?? 0) + group.totals.requests);
    byTask.set(group.key.task, entry);
  }
  const pct = new Map(percentiles.results.map((row) => [row.task, row]));
  const profiles: TaskProfile[] = [...byTask.entries()].map(([task, { totals, tiers }]) => {
    const p = pct.get(task);
    const tiered = [...tiers.values()].reduce((a, b) => a + b, 0);
    return {
      task,
      requests: totals.requests,
      errors: totals.errors,
      tokens_in: { p50: p?.in50 ?? null, p95: p?.in95 ?? null },
      tokens_out: { p50: p?.out50 ?? null, p95: p?.out95 ?? null },
      latency_ms: { p50: p?.lat50 ?? null, p95: p?.lat95 ?? null },
      tier_mix: Object.fromEntries([...tiers.entries()].sort().map(([tier, n]) => [tier, tiered ? n / tiered : 0])),
      cache_hit_rate: costFigures(totals).cache_hit_rate,
      escalation_rate: totals.requests ? totals.escalations / totals.requests : null,
      cost_usd: roundUsd(totals.cost_usd),
      cost_per_request_usd: totals.requests ? roundUsd(totals.cost_usd / totals.requests) : null,
      tool_calls: tools.get(task)?.calls ?? 0,
      tool_calls_per_session: tools.get(task)?.sessions ? (tools.get(task)?.session_calls ?? 0) / (tools.get(task)?.sessions ?? 1) : null,
      sessions: sessionProfile(task),
    };
  });
  return profiles.sort((a, b) => b.cost_usd - a.cost_usd || a.task.localeCompare(b.task));
}

import { aggregateLedger, type AggregateFilter, type Dimension, emptyTotals, addTotals, roundUsd, type Totals } from "./ledger-aggregate";
import type { RangePlan, TimeRange } from "./report-range";

export const COST_GROUPS = ["tenant", "task", "tier", "model", "day"] as const;
export type CostGroup = (typeof COST_GROUPS)[number];

export interface CostFigures {
  requests: number;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  saved_usd: number;
  /** Requests served from cache, by kind; `stale` is a cached answer served because providers failed. */
  cache_hits: { exact: number; semantic: number; stale: number; total: number };
  cache_misses: number;
  /** Requests that never consulted the cache (no-store, or rejected before the cache stage). */
  cache_bypass: number;
  /** hits / (hits + misses): bypassed requests are left out, they could not have hit. */
  cache_hit_rate: number | null;
  escalations: number;
  errors: number;
  avg_latency_ms: number | null;
}

export function costFigures(t: Totals): CostFigures {
  const hits = t.cache.exact + t.cache.semantic + t.cache.stale;
  const looked = hits + t.cache.miss;
  return {
    requests: t.requests,
    tokens_in: t.prompt_tokens,
    tokens_out: t.completion_tokens,
    cost_usd: roundUsd(t.cost_usd),
    saved_usd: roundUsd(t.saved_usd),
    cache_hits: { exact: t.cache.exact, semantic: t.cache.semantic, stale: t.cache.stale, total: hits },
    cache_misses: t.cache.miss,
    cache_bypass: t.cache.bypass,
    cache_hit_rate: looked ? hits / looked : null,
    escalations: t.escalations,
    errors: t.errors,
    avg_latency_ms: t.requests ? Math.round((t.latency_ms_sum / t.requests) * 10) / 10 : null,
  };
}

export type CostRow = Partial<Record<CostGroup, string | null>> & { tenant_name?: string | null } & CostFigures;

export interface CostReport {
  group_by: CostGroup[];
  from: string;
  to: string;
  tenant: string | null;
  totals: CostFigures;
  data: CostRow[];
  /** Where the numbers came from: rolled-up days and raw ledger intervals. */
  source: { rollup_days: RangePlan["rollupDays"]; raw: { from: string; to: string }[] };
}

export async function tenantNames(db: D1Database): Promise<Map<string, string>> {
  const { results } = await db.prepare("SELECT id, name FROM tenants ORDER BY name LIMIT 10000").all<{ id: string; name: string }>();
  return new Map(results.map((r) => [r.id, r.name]));
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function costReport(
  db: D1Database,
  range: TimeRange,
  groupBy: readonly CostGroup[],
  filter: AggregateFilter = {},
  options: { useRollups?: boolean; now?: number } = {},
): Promise<CostReport> {
  const dims: Dimension[] = [...groupBy];
  const { groups, plan } = await aggregateLedger(db, range, dims, filter, options);
  const names = groupBy.includes("tenant") ? await tenantNames(db) : new Map<string, string>();
  const totals = emptyTotals();
  const data: CostRow[] = groups.map((group) => {
    addTotals(totals, group.totals);
    const row: CostRow = costFigures(group.totals);
    for (const dim of groupBy) row[dim] = group.key[dim] || null;
    if (groupBy.includes("tenant")) row.tenant_name = names.get(group.key.tenant) ?? null;
    return row;
  });
  // Time reads left to right; everything else puts the biggest spender first.
  data.sort((a, b) => (groupBy[0] === "day" ? String(a.day).localeCompare(String(b.day)) : b.cost_usd - a.cost_usd || JSON.stringify(a).localeCompare(JSON.stringify(b))));
  return {
    group_by: [...groupBy],
    from: iso(range.from),
    to: iso(range.to),
    tenant: filter.tenant ?? null,
    totals: costFigures(totals),
    data,
    source: { rollup_days: plan.rollupDays, raw: plan.raw.map((r) => ({ from: iso(r.from), to: iso(r.to) })) },
  };
}

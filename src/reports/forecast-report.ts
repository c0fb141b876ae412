import { type CatalogModel, priceUsd } from "../config/model-catalog";
import { aggregateLedger, roundUsd } from "./ledger-aggregate";
import { DAY_MS } from "./report-range";

export const MONTH_DAYS = 30;
/**
 * A brand-new tenant has minutes of history, often a test burst; scaling minutes to a month would
 * project nonsense. Less than a day of history counts as one day's traffic.
 */
const MIN_SPAN_MS = DAY_MS;

export interface Projection {
  requests: number;
  cost_usd: number;
  /** Dollars the exact and semantic caches saved (ledger saved_usd). */
  cache_savings_usd: number;
  /** Dollars tier routing saved: upstream calls priced at the baseline model minus what they cost. */
  routing_savings_usd: number;
  cost_without_cache_usd: number;
  cost_without_routing_usd: number;
}

export interface ForecastReport {
  growth: number;
  month_days: number;
  baseline_model: string | null;
  basis: { from: string; to: string; observed_days: number; requests: number; cost_usd: number };
  current: Projection;
  projected: Projection;
  by_task: ({ task: string; share_of_requests: number } & Projection)[];
}

export interface ForecastOptions {
  growth: number;
  days: number;
  tenant?: string;
  /** Model every upstream call is priced at for the routing comparison; default: the first powerful chat model. */
  baseline?: string;
  now?: number;
}

interface Sums {
  requests: number;
  cost: number;
  cache: number;
  routing: number;
}

function project(sums: Sums, factor: number): Projection {
  const cost = roundUsd(sums.cost * factor);
  const cache = roundUsd(sums.cache * factor);
  const routing = roundUsd(sums.routing * factor);
  return {
    requests: Math.round(sums.requests * factor),
    cost_usd: cost,
    cache_savings_usd: cache,
    routing_savings_usd: routing,
    cost_without_cache_usd: roundUsd(cost + cache),
    cost_without_routing_usd: roundUsd(cost + routing),
  };
}

export function baselineModel(catalog: readonly CatalogModel[], id?: string): CatalogModel | undefined {
  if (id) return catalog.find((m) => m.id === id && m.kind === "chat");
  return catalog.find((m) => m.kind === "chat" && m.tier === "powerful");
}

/**
 * Projects a month from the last `days` days of traffic, with the task mix held constant and volume
 * multiplied by `growth`. Linear on purpose: hit rates and tier mix are assumed to stay as observed.
 */
export async function forecastReport(db: D1Database, catalog: readonly CatalogModel[], options: ForecastOptions): Promise<ForecastReport> {
  const now = options.now ?? Date.now();
  const range = { from: now - options.days * DAY_MS, to: now + 1 };
  const tenantFilter = options.tenant === undefined ? "" : " AND tenant_id = ?";
  const first = await db
    .prepare(`SELECT MIN(ts) AS ts FROM ledger WHERE ts >= ? AND ts < ?${tenantFilter}`)
    .bind(range.from, range.to, ...(options.tenant === undefined ? [] : [options.tenant]))
    .first<{ ts: number | null }>();
  const spanMs = Math.max(MIN_SPAN_MS, now - (first?.ts ?? range.from));
  const monthFactor = (MONTH_DAYS * DAY_MS) / spanMs;

  const baseline = baselineModel(catalog, options.baseline);
  const byId = new Map(catalog.map((m) => [m.id, m]));
  const { groups } = await aggregateLedger(db, range, ["task", "model", "cache"], { tenant: options.tenant }, { now });
  const total: Sums = { requests: 0, cost: 0, cache: 0, routing: 0 };
  const tasks = new Map<string, Sums>();
  for (const { key, totals } of groups) {
    const sums = tasks.get(key.task) ?? { requests: 0, cost: 0, cache: 0, routing: 0 };
    const model = byId.get(key.model);
    // Only real upstream calls were routed; cache hits are the cache's saving, not routing's.
    const upstream = key.cache === "miss" || key.cache === "bypass";
    const routing = baseline && model?.kind === "chat" && upstream ? priceUsd(baseline, totals.prompt_tokens, totals.completion_tokens) - totals.cost_usd : 0;
    for (const into of [sums, total]) {
      into.requests += totals.requests;
      into.cost += totals.cost_usd;
      into.cache += totals.saved_usd;
      into.routing += routing;
    }
    tasks.set(key.task, sums);
  }
  const factor = monthFactor * options.growth;
  return {
    growth: options.growth,
    month_days: MONTH_DAYS,
    baseline_model: baseline?.id ?? null,
    basis: {
      from: new Date(now - spanMs).toISOString(),
      to: new Date(now).toISOString(),
      observed_days: Math.round((spanMs / DAY_MS) * 1000) / 1000,
      requests: total.requests,
      cost_usd: roundUsd(total.cost),
    },
    current: project(total, monthFactor),
    projected: project(total, factor),
    by_task: [...tasks.entries()]
      .map(([task, sums]) => ({ task, share_of_requests: total.requests ? sums.requests / total.requests : 0, ...project(sums, factor) }))
      .sort((a, b) => b.cost_usd - a.cost_usd || a.task.localeCompare(b.task)),
  };
}

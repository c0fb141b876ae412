import type { BreakerSnapshot } from "../../durable-objects/provider-breaker";
import { TIERS } from "../config/model-catalog";
import { breakerKey } from "../providers/call-with-fallback";
import { availableCatalog } from "../providers/provider-registry";
import { type BudgetBurn, budgetBurn } from "../reports/budget-burn";
import { type CostFigures, costFigures, tenantNames } from "../reports/cost-report";
import { forecastReport } from "../reports/forecast-report";
import { aggregateLedger, addTotals, emptyTotals, roundUsd, type Totals } from "../reports/ledger-aggregate";
import { DAY_MS, dayKey, type TimeRange } from "../reports/report-range";
import { breakerStub } from "../routing/breaker-gate";

export interface DashboardFilters {
  tenant?: string;
  range: TimeRange;
}

/** What the client script draws; series are aligned to `days` / `tasks`, zero-filled. */
export interface ChartData {
  days: string[];
  tiers: string[];
  costByDayTier: Record<string, number[]>;
  tasks: string[];
  costByTaskTier: Record<string, number[]>;
  cacheHitRate: (number | null)[];
  savedByDay: number[];
}

export interface DeadLetterRow {
  id: string;
  queue: string;
  tenant_id: string | null;
  reason: string;
  attempts: number;
  created_at: number;
  replayed_at: number | null;
}

export interface AlertRow {
  id: string;
  tenant_id: string;
  kind: string;
  scope: string;
  period: string;
  threshold: number;
  spent_usd: number;
  limit_usd: number;
  created_at: number;
  delivered_at: number | null;
}

export interface DashboardData {
  filters: DashboardFilters;
  tenants: { id: string; name: string }[];
  totals: CostFigures;
  projectedMonthUsd: number;
  charts: ChartData;
  budgets: BudgetBurn[];
  breakers: BreakerSnapshot[] | null;
  deadLetters: { total: number; recent: DeadLetterRow[] };
  alerts: { total: number; recent: AlertRow[] };
}

/** Tier order on the charts: cheapest at the bottom of the stack; '' (no tier: rejected early) last. */
const TIER_ORDER = [...TIERS, ""];
const RECENT_ROWS = 10;

function tiersPresent(values: Iterable<string>): string[] {
  const seen = new Set(values);
  return TIER_ORDER.filter((tier) => seen.has(tier)).concat([...seen].filter((t) => !TIER_ORDER.includes(t)).sort());
}

async function breakerStates(env: Env): Promise<BreakerSnapshot[] | null> {
  try {
    const keys = [...new Set(availableCatalog(env).filter((m) => m.kind === "chat").map(breakerKey))];
    return await Promise.all(keys.map((key) => breakerStub(env, key).snapshot(key)));
  } catch (error) {
    // The page still renders without breaker state; the panel says it is unavailable.
    console.error(JSON.stringify({ level: "warn", msg: "dashboard: breaker snapshot failed", error: String(error) }));
    return null;
  }
}

async function recentRows<T>(db: D1Database, table: "dead_letters" | "alerts", columns: string, filters: DashboardFilters): Promise<{ total: number; recent: T[] }> {
  const tenant = filters.tenant === undefined ? "" : " AND tenant_id = ?";
  const binds = [filters.range.from, filters.range.to, ...(filters.tenant === undefined ? [] : [filters.tenant])];
  const where = `WHERE created_at >= ? AND created_at < ?${tenant}`;
  const [count, rows] = await db.batch<Record<string, unknown>>([
    db.prepare(`SELECT COUNT(*) AS n FROM ${table} ${where}`).bind(...binds),
    db.prepare(`SELECT ${columns} FROM ${table} ${where} ORDER BY created_at DESC LIMIT ${RECENT_ROWS}`).bind(...binds),
  ]);
  return { total: Number(count?.results[0]?.n ?? 0), recent: (rows?.results ?? []) as T[] };
}

export async function loadDashboard(env: Env, filters: DashboardFilters, now = Date.now()): Promise<DashboardData> {
  const db = env.DB;
  const filter = { tenant: filters.tenant };
  const [names, byDay, byTask, budgets, breakers, deadLetters, alerts, forecast] = await Promise.all([
    tenantNames(db),
    aggregateLedger(db, filters.range, ["day", "tier"], filter, { now }),
    aggregateLedger(db, filters.range, ["task", "tier"], filter, { now }),
    budgetBurn(db, { tenant: filters.tenant, now }),
    breakerStates(env),
    recentRows<DeadLetterRow>(db, "dead_letters", "id, queue, tenant_id, reason, attempts, created_at, replayed_at", filters),
    recentRows<AlertRow>(db, "alerts", "id, tenant_id, kind, scope, period, threshold, spent_usd, limit_usd, created_at, delivered_at", filters),
    forecastReport(db, availableCatalog(env), { growth: 1, days: 7, tenant: filters.tenant, now }),
  ]);

  const days: string[] = [];
  for (let day = Math.floor(filters.range.from / DAY_MS) * DAY_MS; day < filters.range.to; day += DAY_MS) days.push(dayKey(day));
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const tiers = tiersPresent([...byDay.groups, ...byTask.groups].map((g) => g.key.tier));
  const costByDayTier = Object.fromEntries(tiers.map((t) => [t || "none", days.map(() => 0)]));
  const perDay = days.map(() => emptyTotals());
  const totals = emptyTotals();
  for (const { key, totals: t } of byDay.groups) {
    const i = dayIndex.get(key.day);
    if (i === undefined) continue;
    const series = costByDayTier[key.tier || "none"];
    if (series) series[i] = (series[i] ?? 0) + t.cost_usd;
    addTotals(perDay[i] ?? emptyTotals(), t);
    addTotals(totals, t);
  }

  const taskTotals = new Map<string, number>();
  for (const { key, totals: t } of byTask.groups) taskTotals.set(key.task, (taskTotals.get(key.task) ?? 0) + t.cost_usd);
  const tasks = [...taskTotals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([task]) => task);
  const taskIndex = new Map(tasks.map((t, i) => [t, i]));
  const costByTaskTier = Object.fromEntries(tiers.map((t) => [t || "none", tasks.map(() => 0)]));
  for (const { key, totals: t } of byTask.groups) {
    const series = costByTaskTier[key.tier || "none"];
    const i = taskIndex.get(key.task);
    if (series && i !== undefined) series[i] = (series[i] ?? 0) + t.cost_usd;
  }
  const round = (values: Record<string, number[]>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.map(roundUsd)]));

  return {
    filters,
    tenants: [...names.entries()].map(([id, name]) => ({ id, name })),
    totals: costFigures(totals),
    projectedMonthUsd: forecast.projected.cost_usd,
    charts: {
      days,
      tiers: tiers.map((t) => t || "none"),
      costByDayTier: round(costByDayTier),
      tasks,
      costByTaskTier: round(costByTaskTier),
      cacheHitRate: perDay.map((t: Totals) => costFigures(t).cache_hit_rate),
      savedByDay: perDay.map((t) => roundUsd(t.saved_usd)),
    },
    budgets,
    breakers,
    deadLetters,
    alerts,
  };
}

import { aggregateLedger, roundUsd } from "./ledger-aggregate";
import { DAY_MS, startOfDay } from "./report-range";

export type BurnState = "ok" | "alert" | "degrade" | "throttle" | "exceeded";

export interface BudgetBurn {
  tenant_id: string;
  tenant_name: string | null;
  scope: string;
  period: "day" | "month" | "total";
  period_start: string;
  limit_usd: number;
  spent_usd: number;
  /** spent / limit; above 1 when the budget was overrun (e.g. by in-flight requests at the limit). */
  fraction: number;
  state: BurnState;
  thresholds: { alert: number; degrade: number; throttle: number };
}

interface BudgetRow {
  tenant_id: string;
  tenant_name: string | null;
  scope: string;
  period: "day" | "month" | "total";
  limit_usd: number;
  alert_at: number;
  degrade_at: number;
  throttle_at: number;
}

export function periodStart(period: BudgetRow["period"], now: number): number {
  if (period === "day") return startOfDay(now);
  if (period === "month") {
    const d = new Date(now);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
  return 0;
}

function burnState(fraction: number, b: BudgetRow): BurnState {
  if (fraction >= 1) return "exceeded";
  if (fraction >= b.throttle_at) return "throttle";
  if (fraction >= b.degrade_at) return "degrade";
  if (fraction >= b.alert_at) return "alert";
  return "ok";
}

/**
 * Spend per configured budget for its current UTC period, from the ledger (rollups for past days).
 * It is the settled spend only: reservations in flight live in the budget Durable Object, not here.
 */
export async function budgetBurn(db: D1Database, options: { tenant?: string; now?: number } = {}): Promise<BudgetBurn[]> {
  const now = options.now ?? Date.now();
  const tenantFilter = options.tenant === undefined ? "" : " WHERE b.tenant_id = ?";
  const { results: budgets } = await db
    .prepare(`SELECT b.tenant_id, t.name AS tenant_name, b.scope, b.period, b.limit_usd, b.alert_at, b.degrade_at, b.throttle_at
                FROM budgets b LEFT JOIN tenants t ON t.id = b.tenant_id${tenantFilter} ORDER BY t.name, b.scope, b.period`)
    .bind(...(options.tenant === undefined ? [] : [options.tenant]))
    .all<BudgetRow>();
  if (budgets.length === 0) return [];

  const end = startOfDay(now) + DAY_MS;
  // One aggregate per period in use, by tenant and task: tenant and task scopes read from it.
  const spend = new Map<string, Map<string, number>>();
  for (const period of new Set(budgets.filter((b) => !b.scope.startsWith("key:")).map((b) => b.period))) {
    let from = periodStart(period, now);
    if (period === "total") {
      const first = await db.prepare("SELECT MIN(ts) AS ts FROM ledger").first<{ ts: number | null }>();
      from = startOfDay(first?.ts ?? now);
    }
    const sums = new Map<string, number>();
    const { groups } = await aggregateLedger(db, { from, to: end }, ["tenant", "task"], { tenant: options.tenant }, { now });
    for (const { key, totals } of groups) {
      sums.set(`${key.tenant}|tenant`, (sums.get(`${key.tenant}|tenant`) ?? 0) + totals.cost_usd);
      sums.set(`${key.tenant}|task:${key.task}`, (sums.get(`${key.tenant}|task:${key.task}`) ?? 0) + totals.cost_usd);
    }
    spend.set(period, sums);
  }

  return Promise.all(
    budgets.map(async (b) => {
      const from = periodStart(b.period, now);
      let spent = spend.get(b.period)?.get(`${b.tenant_id}|${b.scope}`) ?? 0;
      if (b.scope.startsWith("key:")) {
        // Rollups do not keep the key; key budgets are rare and read the tenant's index directly.
        const row = await db
          .prepare("SELECT TOTAL(cost_usd) AS usd FROM ledger WHERE tenant_id = ? AND ts >= ? AND key_id = ?")
          .bind(b.tenant_id, from, b.scope.slice(4))
          .first<{ usd: number }>();
        spent = row?.usd ?? 0;
      }
      const fraction = b.limit_usd > 0 ? spent / b.limit_usd : 0;
      return {
        tenant_id: b.tenant_id,
        tenant_name: b.tenant_name,
        scope: b.scope,
        period: b.period,
        period_start: new Date(from).toISOString(),
        limit_usd: b.limit_usd,
        spent_usd: roundUsd(spent),
        fraction,
        state: burnState(fraction, b),
        thresholds: { alert: b.alert_at, degrade: b.degrade_at, throttle: b.throttle_at },
      };
    }),
  );
}

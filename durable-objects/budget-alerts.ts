import { crossedThresholds, projectMonthEnd } from "../src/budget/budget-math";
import type { AlertEvent, BudgetConfig } from "../src/budget/budget-types";
import type { Budget } from "../src/config/budget-config";

export type SpendKey = { scope: string; period: Budget["period"]; period_key: string };
export type SpendRow = SpendKey & { spent: number; reserved: number };

/**
 * After spend moved: each threshold a budget crossed (and a month budget projected past its limit)
 * raises one alert per period, recorded in the object so it is sent once; a failed enqueue forgets
 * the record, so the next settlement raises it again.
 */
export async function raiseAlerts(sql: SqlStorage, env: Env, tenantId: string, config: BudgetConfig, keys: SpendKey[], now: number): Promise<void> {
  const events: AlertEvent[] = [];
  for (const key of keys) {
    const budget = config.budgets.find((b) => b.scope === key.scope && b.period === key.period);
    if (!budget) continue;
    const row = sql.exec<SpendRow>(`SELECT * FROM spend WHERE scope = ? AND period = ? AND period_key = ?`, key.scope, key.period, key.period_key).one();
    const candidates: { kind: AlertEvent["kind"]; threshold: number; projected: number | null }[] = crossedThresholds(budget, row.spent, budget.limit_usd).map((threshold) => ({ kind: "threshold", threshold, projected: null }));
    const projected = budget.period === "month" ? projectMonthEnd(row.spent, now) : null;
    if (projected !== null && projected > budget.limit_usd) candidates.push({ kind: "velocity", threshold: 1, projected });
    for (const c of candidates) {
      const inserted = sql.exec(`INSERT OR IGNORE INTO alerts_sent (scope, period, period_key, kind, threshold) VALUES (?, ?, ?, ?, ?)`, key.scope, key.period, key.period_key, c.kind, c.threshold);
      if (inserted.rowsWritten === 0) continue;
      events.push({
        type: "budget_alert", id: `${tenantId}:${key.scope}:${key.period}:${key.period_key}:${c.kind}:${c.threshold}`, tenant_id: tenantId, kind: c.kind,
        scope: key.scope, period: key.period, period_key: key.period_key, threshold: c.threshold, spent_usd: row.spent, limit_usd: budget.limit_usd, projected_usd: c.projected, at: now,
      });
    }
  }
  if (events.length === 0) return;
  try {
    await env.ALERTS_QUEUE.sendBatch(events.map((body) => ({ body, contentType: "json" as const })));
  } catch (error) {
    // Forget that they were sent, so the next settlement raises them again.
    for (const e of events) sql.exec(`DELETE FROM alerts_sent WHERE scope = ? AND period = ? AND period_key = ? AND kind = ? AND threshold = ?`, e.scope, e.period, e.period_key, e.kind, e.threshold);
    console.error(JSON.stringify({ level: "error", msg: "alert enqueue failed", tenant: tenantId, error: String(error) }));
  }
}

import { budgetStub, tenantResidency } from "../budget/budget-client";
import type { LostSettlement, RepairedSettlement, SpendSnapshot } from "../ledger/reconciliation-types";

/** Below this, a difference is float rounding over many additions, not money. */
const EPSILON_USD = 1e-9;
const TENANT_LIMIT = 1000;

export interface ReconciliationRow {
  tenant_id: string;
  scope: string;
  period: string;
  period_key: string;
  run_at: number;
  spent_usd: number;
  ledger_usd: number;
  difference_usd: number;
  repaired_count: number;
  repaired_usd: number;
  forwarded: number;
  unexplained_usd: number;
  in_flight_usd: number;
  detail: { repaired_ids: string[]; outbox_pending: number; outbox_failed: number; expired_unmatched: number; released: number; in_flight: number };
}

/** The ledger rows a budget counts: its period's time range, and its scope's filter. */
function ledgerFilter(snap: SpendSnapshot): { where: string; binds: (string | number)[] } | null {
  const binds: (string | number)[] = [];
  let where = "";
  if (snap.period === "day" || snap.period === "month") {
    const start = Date.parse(snap.period === "day" ? `${snap.period_key}T00:00:00Z` : `${snap.period_key}-01T00:00:00Z`);
    if (!Number.isFinite(start)) return null;
    const d = new Date(start);
    const end = snap.period === "day" ? start + 86_400_000 : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    where += " AND ts >= ? AND ts < ?";
    binds.push(start, end);
  }
  if (snap.scope.startsWith("task:")) {
    where += " AND task = ?";
    binds.push(snap.scope.slice("task:".length));
  } else if (snap.scope.startsWith("key:")) {
    where += " AND key_id = ?";
    binds.push(snap.scope.slice("key:".length));
  } else if (snap.scope !== "tenant") return null;
  return { where, binds };
}

async function ledgerSum(db: D1Database, tenantId: string, snap: SpendSnapshot): Promise<number | null> {
  const filter = ledgerFilter(snap);
  if (!filter) return null;
  const row = await db.prepare(`SELECT COALESCE(SUM(cost_usd), 0) AS usd FROM ledger WHERE tenant_id = ?${filter.where}`).bind(tenantId, ...filter.binds).first<{ usd: number }>();
  return row?.usd ?? 0;
}

/**
 * One tenant: the budget object releases what expired and forwards its outbox; requests it admitted
 * but never saw settled are looked up in the ledger, and those the ledger holds (the worker wrote the
 * row and died before settling) are billed at the row's cost, once. Then spend and ledger are compared per budget
 * and period; what is left over is reported, not guessed at.
 */
export async function reconcileTenant(env: Env, tenantId: string, now = Date.now()): Promise<ReconciliationRow[]> {
  const stub = budgetStub(env, tenantId, await tenantResidency(env, tenantId));
  let state = await stub.reconcileState(tenantId, now);
  let repaired: RepairedSettlement[] = [];
  if (state.unsettled.length) {
    const ids = JSON.stringify(state.unsettled.map((e) => e.id));
    const { results } = await env.DB.prepare("SELECT request_id AS id, cost_usd FROM ledger WHERE request_id IN (SELECT value FROM json_each(?))").bind(ids).all<LostSettlement>();
    if (results.length) {
      repaired = await stub.repairLostSettlements(tenantId, results, now);
      const first = state.outbox;
      state = await stub.reconcileState(tenantId, now);
      state.outbox = { ...state.outbox, forwarded: first.forwarded + state.outbox.forwarded, failed: first.failed + state.outbox.failed };
    }
  }
  const expiredUnmatched = state.unsettled.filter((u) => u.expired).length;
  const rows: ReconciliationRow[] = [];
  for (const snap of state.spend) {
    const ledger = await ledgerSum(env.DB, tenantId, snap);
    if (ledger === null) continue;
    const mine = repaired.filter((r) => r.keys.some((k) => k.scope === snap.scope && k.period === snap.period && k.period_key === snap.period_key));
    const difference = snap.spent - ledger;
    rows.push({
      tenant_id: tenantId,
      scope: snap.scope,
      period: snap.period,
      period_key: snap.period_key,
      run_at: now,
      spent_usd: snap.spent,
      ledger_usd: ledger,
      difference_usd: Math.abs(difference) < EPSILON_USD ? 0 : difference,
      repaired_count: mine.length,
      repaired_usd: mine.reduce((sum, r) => sum + r.cost_usd, 0),
      forwarded: state.outbox.forwarded,
      unexplained_usd: Math.abs(difference) < EPSILON_USD ? 0 : difference,
      in_flight_usd: state.in_flight.usd,
      detail: {
        repaired_ids: mine.slice(0, 20).map((r) => r.id),
        outbox_pending: state.outbox.pending,
        outbox_failed: state.outbox.failed,
        expired_unmatched: expiredUnmatched,
        released: state.released,
        in_flight: state.in_flight.count,
      },
    });
  }
  if (rows.length) {
    const upsert = env.DB.prepare(
      `INSERT OR REPLACE INTO reconciliation (tenant_id, scope, period, period_key, run_at, spent_usd, ledger_usd, difference_usd, repaired_count, repaired_usd,
         forwarded, unexplained_usd, in_flight_usd, detail_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    await env.DB.batch(rows.map((r) => upsert.bind(r.tenant_id, r.scope, r.period, r.period_key, r.run_at, r.spent_usd, r.ledger_usd, r.difference_usd, r.repaired_count, r.repaired_usd, r.forwarded, r.unexplained_usd, r.in_flight_usd, JSON.stringify(r.detail))));
  }
  return rows;
}

/** Cron (every 5 minutes): every tenant with a budget. One tenant failing does not stop the others. */
export async function reconcileBudgets(env: Env, now: Date): Promise<{ tenants: number; repaired: number; unexplained: number; failed: number }> {
  const { results } = await env.DB.prepare("SELECT DISTINCT tenant_id FROM budgets LIMIT ?").bind(TENANT_LIMIT).all<{ tenant_id: string }>();
  let repaired = 0;
  let unexplained = 0;
  let failed = 0;
  for (const { tenant_id } of results) {
    try {
      const rows = await reconcileTenant(env, tenant_id, now.getTime());
      repaired += rows.reduce((n, r) => n + r.repaired_count, 0);
      unexplained += rows.filter((r) => r.unexplained_usd !== 0).length;
    } catch (error) {
      failed++;
      console.error(JSON.stringify({ level: "error", msg: "reconciliation failed", tenant: tenant_id, error: String(error) }));
    }
  }
  return { tenants: results.length, repaired, unexplained, failed };
}

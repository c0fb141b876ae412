import { Hono } from "hono";
import * as z from "zod";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import type { ReconciliationRow } from "../jobs/budget-reconciliation";

/** A stored run: the reconciliation's row, its detail as D1 keeps it. */
type Row = Omit<ReconciliationRow, "detail"> & { detail_json: string | null };

const QuerySchema = z.object({ tenant_id: z.string().min(1).max(64).optional() });

/**
 * The last reconciliation of each tenant (cron, every 5 minutes): per budget and period, the budget
 * object's settled spend, the ledger's sum, the difference, what the run repaired and what it could
 * not explain.
 */
export const adminReconciliationRoutes = new Hono<AppEnv>().get("/reconciliation", async (c) => {
  const query = QuerySchema.safeParse(c.req.query());
  if (!query.success) throw GatewayError.invalid(query.error.issues[0]?.message ?? "invalid query", "tenant_id");
  const tenantId = query.data.tenant_id ?? null;
  const { results } = await c.env.DB.prepare(
    `SELECT r.* FROM reconciliation r
       JOIN (SELECT tenant_id, MAX(run_at) AS run_at FROM reconciliation WHERE ?1 IS NULL OR tenant_id = ?1 GROUP BY tenant_id) last
         ON last.tenant_id = r.tenant_id AND last.run_at = r.run_at
      ORDER BY r.tenant_id, r.scope, r.period LIMIT 5000`,
  )
    .bind(tenantId)
    .all<Row>();
  const byTenant = new Map<string, { tenant_id: string; run_at: string; budgets: unknown[]; unexplained: boolean }>();
  for (const row of results) {
    const tenant = byTenant.get(row.tenant_id) ?? { tenant_id: row.tenant_id, run_at: new Date(row.run_at).toISOString(), budgets: [], unexplained: false };
    const { detail_json, tenant_id: _tenant, run_at: _at, ...figures } = row;
    tenant.budgets.push({ ...figures, detail: detail_json ? (JSON.parse(detail_json) as unknown) : null });
    if (row.unexplained_usd !== 0) tenant.unexplained = true;
    byTenant.set(row.tenant_id, tenant);
  }
  return c.json({ data: [...byTenant.values()] });
});

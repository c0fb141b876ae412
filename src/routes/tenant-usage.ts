import { Hono } from "hono";
import * as z from "zod";
import { budgetStub } from "../budget/budget-client";
import { feedbackTotals } from "../cache/entry-feedback";
import type { AppEnv } from "../hono-env";
import { validate } from "../validate/parse-json-body";

const GROUP_COLUMNS = {
  task: "task",
  model: "model",
  tier: "tier",
  day: "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')",
} as const;

const DateParam = z.union([z.iso.date(), z.iso.datetime({ offset: true })]).transform((value) => Date.parse(value));

const UsageQuerySchema = z.object({
  group_by: z.enum(["task", "model", "tier", "day"]).default("day"),
  from: DateParam.optional(),
  to: DateParam.optional(),
});

/**
 * How often this tenant's semantic hits were right, all time. `estimate` counts every hit not
 * reported wrong as right (an upper estimate: most hits get no feedback); `labelled` uses only hits
 * with feedback, null until there is some.
 */
async function semanticPrecision(env: Env, tenantId: string) {
  const [row, totals] = await Promise.all([
    env.DB.prepare("SELECT COUNT(*) AS n FROM ledger WHERE tenant_id = ? AND cache = 'semantic'").bind(tenantId).first<{ n: number }>(),
    feedbackTotals(env.CACHE_KV, tenantId),
  ]);
  const hits = row?.n ?? 0;
  const labelled = totals.confirmed + totals.wrong;
  return {
    semantic_hits: hits,
    reported_wrong: totals.wrong,
    confirmed: totals.confirmed,
    estimate: hits > 0 ? Math.floor((Math.max(0, hits - totals.wrong) / hits) * 1e4) / 1e4 : null,
    labelled: labelled > 0 ? Math.floor((totals.confirmed / labelled) * 1e4) / 1e4 : null,
  };
}

export const tenantUsageRoutes = new Hono<AppEnv>()
  /** This tenant's spend from the ledger; the group column is picked from a fixed map, never from input. */
  .get("/usage", async (c) => {
    const query = validate(UsageQuerySchema, c.req.query());
    const to = query.to ?? Date.now();
    const from = query.from ?? to - 30 * 24 * 3600 * 1000;
    const group = GROUP_COLUMNS[query.group_by];
    const { results } = await c.env.DB.prepare(
      `SELECT ${group} AS grp, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,
              SUM(cost_usd) AS cost_usd, SUM(saved_usd) AS saved_usd,
              SUM(CASE WHEN cache IN ('exact', 'semantic', 'stale') THEN 1 ELSE 0 END) AS cache_hits,
              SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors
         FROM ledger WHERE tenant_id = ? AND ts >= ? AND ts < ? GROUP BY grp ORDER BY grp`,
    )
      .bind(c.var.tenant.tenantId, from, to)
      .all<Record<string, number | string | null>>();
    const data = results.map(({ grp, ...rest }) => ({ [query.group_by]: grp, ...rest }));
    const cache_precision = await semanticPrecision(c.env, c.var.tenant.tenantId);
    return c.json({ object: "list", group_by: query.group_by, from: new Date(from).toISOString(), to: new Date(to).toISOString(), data, cache_precision });
  })
  .get("/budget", async (c) => {
    const budgets = await budgetStub(c.env, c.var.tenant.tenantId, c.var.tenant.policy.residency).status(c.var.tenant.tenantId);
    return c.json({ object: "list", tenant_id: c.var.tenant.tenantId, limits: c.var.tenant.limits, data: budgets });
  });

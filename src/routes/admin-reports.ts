import { Hono } from "hono";
import * as z from "zod";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { availableCatalog } from "../providers/provider-registry";
import { budgetBurn } from "../reports/budget-burn";
import { COST_GROUPS, costReport } from "../reports/cost-report";
import { forecastReport } from "../reports/forecast-report";
import { profilesReport } from "../reports/profiles-report";
import { RangeQuerySchema, resolveRange, type TimeRange } from "../reports/report-range";
import { runRollups } from "../reports/rollup-job";
import { validate } from "../validate/parse-json-body";

const TenantParam = z.string().trim().min(1).max(128).optional();

const CostQuerySchema = RangeQuerySchema.extend({
  // One dimension, or several separated by commas (the dashboard asks for day,tier).
  group_by: z
    .string()
    .default("day")
    .transform((value) => value.split(",").map((part) => part.trim()))
    .pipe(z.array(z.enum(COST_GROUPS)).min(1).max(3)),
  tenant: TenantParam,
  task: z.string().trim().min(1).max(64).optional(),
  // Diagnostic: `off` reads only the raw ledger, to compare against (and to benchmark) the rollups.
  rollups: z.enum(["on", "off"]).default("on"),
});

const ProfilesQuerySchema = RangeQuerySchema.extend({ tenant: TenantParam });

const ForecastQuerySchema = z.object({
  growth: z.coerce.number().positive().max(1000).default(1),
  days: z.coerce.number().int().min(1).max(90).default(7),
  tenant: TenantParam,
  baseline: z.string().trim().min(1).max(256).optional(),
});

const RollupBodySchema = z
  .object({ from: z.iso.date().optional(), force: z.boolean().default(false) })
  .strict()
  .default({ force: false });

function range(query: { from?: number; to?: number }, defaultDays: number): TimeRange {
  const resolved = resolveRange(query, defaultDays);
  if (typeof resolved === "string") throw GatewayError.invalid(resolved, "from");
  return resolved;
}

export const adminReportRoutes = new Hono<AppEnv>()
  .get("/reports/cost", async (c) => {
    const q = validate(CostQuerySchema, c.req.query());
    const report = await costReport(c.env.DB, range(q, 30), q.group_by, { tenant: q.tenant, task: q.task }, { useRollups: q.rollups === "on" });
    return c.json({ object: "report", ...report });
  })
  .get("/reports/profiles", async (c) => {
    const q = validate(ProfilesQuerySchema, c.req.query());
    const r = range(q, 7);
    const data = await profilesReport(c.env.DB, r, { tenant: q.tenant });
    return c.json({ object: "report", from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString(), tenant: q.tenant ?? null, data });
  })
  .get("/reports/forecast", async (c) => {
    const q = validate(ForecastQuerySchema, c.req.query());
    const catalog = availableCatalog(c.env);
    if (q.baseline && !catalog.some((m) => m.id === q.baseline && m.kind === "chat")) throw GatewayError.invalid(`baseline: unknown chat model ${q.baseline}`, "baseline");
    const report = await forecastReport(c.env.DB, catalog, q);
    return c.json({ object: "report", tenant: q.tenant ?? null, ...report });
  })
  .get("/reports/budgets", async (c) => {
    const q = validate(z.object({ tenant: TenantParam }), c.req.query());
    return c.json({ object: "list", data: await budgetBurn(c.env.DB, { tenant: q.tenant }) });
  })
  /** Runs the daily rollup now (the cron does this at 00:17 UTC); `force` re-rolls every past day. */
  .post("/reports/rollups", async (c) => {
    const text = await c.req.text();
    let raw: unknown;
    try {
      raw = text.trim() ? JSON.parse(text) : undefined;
    } catch {
      throw GatewayError.invalid("Request body is not valid JSON");
    }
    const body = validate(RollupBodySchema, raw);
    return c.json(await runRollups(c.env.DB, Date.now(), body));
  });

import * as z from "zod";

const Fraction = z.number().gt(0).lte(1);

export const BudgetSchema = z
  .object({
    scope: z.string().regex(/^(tenant|task:[A-Za-z0-9_.:-]{1,64}|key:[A-Za-z0-9_]{1,64})$/, "must be tenant, task:<name> or key:<id>"),
    period: z.enum(["day", "month", "total"]),
    limit_usd: z.number().positive().max(10_000_000),
    alert_at: Fraction.default(0.8),
    degrade_at: Fraction.default(0.9),
    throttle_at: Fraction.default(0.95),
  })
  .strict()
  .refine((b) => b.alert_at <= b.degrade_at && b.degrade_at <= b.throttle_at, {
    message: "thresholds must satisfy alert_at <= degrade_at <= throttle_at",
    path: ["alert_at"],
  });
export type Budget = z.infer<typeof BudgetSchema>;

export const BudgetListSchema = z
  .array(BudgetSchema)
  .max(100)
  .refine((list) => new Set(list.map((b) => `${b.scope}|${b.period}`)).size === list.length, { message: "each scope and period may appear once" });

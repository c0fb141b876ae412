import * as z from "zod";
import { TierChoiceSchema } from "../config/tenant-policy";
import { GatewayError } from "../errors";

export const CacheModeSchema = z.enum(["default", "no-store", "no-cache", "exact-only"]);
export type CacheMode = z.infer<typeof CacheModeSchema>;

const HintsSchema = z.object({
  task: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ . : -").default("default"),
  tier: TierChoiceSchema.optional(),
  cache: CacheModeSchema.default("default"),
  cacheTtlS: z.coerce.number().int().min(60).max(31_536_000).optional(),
  priority: z.enum(["interactive", "standard", "batch"]).default("interactive"),
  deadlineMs: z.coerce.number().int().min(1).max(600_000).optional(),
  sensitive: z.literal("sensitive").optional(),
  refine: z.literal("async").optional(),
  idempotencyKey: z.string().min(1).max(255).optional(),
});
export type RequestHints = z.infer<typeof HintsSchema>;

const HEADERS: Record<keyof RequestHints, string> = {
  task: "x-tollgate-task",
  tier: "x-tollgate-tier",
  cache: "x-tollgate-cache",
  cacheTtlS: "x-tollgate-cache-ttl",
  priority: "x-tollgate-priority",
  deadlineMs: "x-tollgate-deadline-ms",
  sensitive: "x-tollgate-data",
  refine: "x-tollgate-refine",
  idempotencyKey: "idempotency-key",
};

/** The x-tollgate-* request headers, validated; a bad value is a 400 naming the header. */
export function parseHints(header: (name: string) => string | undefined): RequestHints {
  const raw: Record<string, string> = {};
  for (const [field, name] of Object.entries(HEADERS)) {
    const value = header(name);
    if (value !== undefined && value !== "") raw[field] = value.trim();
  }
  const result = HintsSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path[0];
    const name = typeof field === "string" && field in HEADERS ? HEADERS[field as keyof RequestHints] : "header";
    throw GatewayError.invalid(`${name}: ${issue?.message ?? "invalid"}`, name);
  }
  return result.data;
}

import * as z from "zod";

export const CACHE_STATUSES = ["exact", "semantic", "miss", "bypass", "stale"] as const;
export type CacheStatus = (typeof CACHE_STATUSES)[number];

/** One per request, whatever its outcome. Validated again by the consumer: the queue is an edge too. */
export const LedgerEventSchema = z.object({
  request_id: z.string().min(1).max(128),
  ts: z.number().int(),
  tenant_id: z.string().nullable(),
  key_id: z.string().nullable(),
  endpoint: z.string().max(64),
  task: z.string().max(64),
  tier: z.string().nullable(),
  model: z.string().nullable(),
  provider: z.string().nullable(),
  cache: z.enum(CACHE_STATUSES),
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  cost_usd: z.number().nonnegative(),
  saved_usd: z.number().nonnegative(),
  latency_ms: z.number().nonnegative(),
  ttfb_ms: z.number().nonnegative().nullable(),
  status: z.number().int(),
  error_code: z.string().nullable(),
  attempts: z.number().int().nonnegative(),
  route_reason: z.string().max(256).nullable(),
  escalated_from: z.string().nullable(),
  degraded: z.string().nullable(),
  stream: z.boolean(),
  /** Per-attempt models and costs (fallbacks, escalations): small, for audits. */
  detail: z.record(z.string(), z.unknown()).nullable(),
  /** The agent session (x-tollgate-session) the call belonged to; absent on events queued before it existed. */
  session_id: z.string().max(128).nullable().default(null),
  /** The registered prompt and version that served the request (null without one). */
  prompt_name: z.string().max(64).nullable().default(null),
  prompt_version: z.number().int().positive().nullable().default(null),
});
export type LedgerEvent = z.infer<typeof LedgerEventSchema>;

export function emptyLedgerEvent(requestId: string, endpoint: string, ts: number): LedgerEvent {
  return {
    request_id: requestId,
    ts,
    tenant_id: null,
    key_id: null,
    endpoint,
    task: "default",
    tier: null,
    model: null,
    provider: null,
    cache: "bypass",
    prompt_tokens: 0,
    completion_tokens: 0,
    cost_usd: 0,
    saved_usd: 0,
    latency_ms: 0,
    ttfb_ms: null,
    status: 0,
    error_code: null,
    attempts: 0,
    route_reason: null,
    escalated_from: null,
    degraded: null,
    stream: false,
    detail: null,
    session_id: null,
    prompt_name: null,
    prompt_version: null,
  };
}

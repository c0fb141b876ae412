import * as z from "zod";
import { RESIDENCIES, TierSchema } from "./model-catalog";

export const TierChoiceSchema = z.enum(["auto", "fast", "balanced", "powerful"]);
export type TierChoice = z.infer<typeof TierChoiceSchema>;

const HourSchema = z.number().int().min(0).max(24);

/** An agent session's limits; any left out is unlimited. Requests may tighten them, never loosen them. */
export const SessionLimitsSchema = z
  .object({
    max_steps: z.number().int().min(0).max(1_000_000).optional(),
    max_tool_calls: z.number().int().min(0).max(1_000_000).optional(),
    max_retries_per_tool: z.number().int().min(0).max(1_000).optional(),
    max_tokens: z.number().int().min(0).max(1_000_000_000).optional(),
    max_usd: z.number().min(0).max(1_000_000).optional(),
    max_wall_clock_s: z.number().int().min(1).max(30 * 86_400).optional(),
    /** The same request body may be sent this many times in a session; one more is a loop. */
    loop_repeat_limit: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();
export type SessionLimits = z.infer<typeof SessionLimitsSchema>;

/** Defaults for tools behind the MCP gateway; a server registration may set each per tool. */
export const ToolDefaultsSchema = z
  .object({
    timeout_ms: z.number().int().min(100).max(600_000).default(30_000),
    max_concurrency: z.number().int().min(1).max(1_000).default(4),
    retries: z.number().int().min(0).max(5).default(2),
    /** How long a read-only tool's result is reused; 0 turns the tool-result cache off. */
    cache_ttl_s: z.number().int().min(0).max(86_400).default(300),
  })
  .strict();

/** One task type's guardrail settings; any left out come from the tenant's own (docs/governance.md). */
const GuardrailSettingsSchema = z
  .object({
    pii: z.enum(["off", "redact", "block", "private"]),
    injection: z.enum(["off", "flag", "block"]),
    /** An answer to a request with a JSON schema (or json_object) must parse and validate, or it is refused. */
    output_schema: z.boolean(),
    /** Placeholders the model echoes are put back in the answer, for the caller only. */
    pii_restore: z.boolean(),
  })
  .partial()
  .strict();
export type GuardrailSettings = z.infer<typeof GuardrailSettingsSchema>;

export const TenantPolicySchema = z
  .object({
    /** Task type (x-tollgate-task) to tier. */
    task_tiers: z.record(z.string().max(64), TierChoiceSchema).default({}),
    /** The tier for `model: "auto"` when no other signal decides. */
    default_tier: TierChoiceSchema.default("auto"),
    /** Highest tier this tenant may use at all. */
    max_tier: TierSchema.default("powerful"),
    allowed_models: z.array(z.string().max(256)).max(256).optional(),
    cache: z
      .object({
        enabled: z.boolean().default(true),
        ttl_s: z.number().int().min(60).max(31_536_000).default(3600),
        /** Sampled answers (temperature > 0) differ per call; caching them is a product choice. */
        cache_sampled: z.boolean().default(true),
        semantic: z.boolean().default(true),
        semantic_threshold: z.number().min(0.5).max(1).optional(),
        /** Catalog id of the embedding model for the semantic cache; default: local server, else Workers AI. */
        embedding_model: z.string().max(256).optional(),
        serve_stale_on_error: z.boolean().default(true),
      })
      .prefault({}),
    escalation: z.boolean().default(true),
    /** Route every request as if it carried x-tollgate-data: sensitive. */
    sensitive: z.boolean().default(false),
    deadline_ms: z.number().int().min(100).max(600_000).optional(),
    /** The timeout hierarchy under the deadline: one attempt, a stream's first token, the gap between chunks. */
    timeouts: z
      .object({
        attempt_ms: z.number().int().min(100).max(600_000).default(60_000),
        first_token_ms: z.number().int().min(100).max(600_000).default(30_000),
        idle_ms: z.number().int().min(100).max(600_000).default(30_000),
      })
      .prefault({}),
    off_peak: z.object({ start_hour: HourSchema, end_hour: HourSchema }).prefault({ start_hour: 0, end_hour: 6 }),
    alert_webhook: z.url().max(2048).optional(),
    /** Allow prompt and completion text in the structured logs. Off by default. */
    log_content: z.boolean().default(false),
    /** Agent session limits (x-tollgate-session); `tasks` overrides them per task type. */
    sessions: SessionLimitsSchema.extend({ tasks: z.record(z.string().max(64), SessionLimitsSchema).default({}) }).prefault({}),
    tools: ToolDefaultsSchema.prefault({}),
    /** OpenTelemetry: message content (gen_ai.input/output.messages) goes on spans only when true. */
    telemetry: z.object({ content: z.boolean().default(false) }).strict().prefault({}),
    /** Guardrails on requests and answers, all off by default; `tasks` overrides them per task type. */
    guardrails: GuardrailSettingsSchema.extend({ tasks: z.record(z.string().max(64), GuardrailSettingsSchema).default({}) }).prefault({}),
    /**
     * Data residency: the tenant's Durable Objects live in this jurisdiction and only models tagged for
     * the region serve it (docs/governance.md says what else the platform does and does not pin).
     */
    residency: z.enum(RESIDENCIES).nullable().default(null),
    /** Collections and grounded answers: the most chunks one search returns, and the context it may add to a prompt. */
    retrieval: z
      .object({
        // 20 is Vectorize's own top-K ceiling when metadata is returned.
        max_top_k: z.number().int().min(1).max(20).default(8),
        max_context_tokens: z.number().int().min(64).max(100_000).default(2000),
      })
      .prefault({}),
  })
  .strict();
export type TenantPolicy = z.infer<typeof TenantPolicySchema>;

export const TenantLimitsSchema = z
  .object({
    rpm: z.number().int().min(1).max(1_000_000).default(600),
    tpm: z.number().int().min(1).max(1_000_000_000).default(2_000_000),
    max_in_flight: z.number().int().min(1).max(10_000).default(50),
  })
  .strict();
export type TenantLimits = z.infer<typeof TenantLimitsSchema>;

export function parsePolicy(json: string | null | undefined): TenantPolicy {
  return TenantPolicySchema.parse(json ? JSON.parse(json) : {});
}

export function parseLimits(json: string | null | undefined): TenantLimits {
  return TenantLimitsSchema.parse(json ? JSON.parse(json) : {});
}

import * as z from "zod";

export const TIERS = ["fast", "balanced", "powerful"] as const;
export type Tier = (typeof TIERS)[number];
export const TierSchema = z.enum(TIERS);

/** Jurisdictions a tenant may be pinned to: the ones Durable Objects (and D1, R2, Queues) accept. */
export const RESIDENCIES = ["eu", "us", "fedramp"] as const;
export type Residency = (typeof RESIDENCIES)[number];

export const CatalogModelSchema = z.object({
  /** The public name clients send, e.g. "sim/fast" or "openai/gpt-4o-mini". */
  id: z.string().min(1),
  /** The provider instance that serves it (see providers/provider-registry.ts). */
  provider: z.string().min(1),
  /** The model name the upstream API expects. */
  upstream: z.string().min(1),
  tier: TierSchema,
  input_per_mtok: z.number().nonnegative(),
  output_per_mtok: z.number().nonnegative(),
  context_window: z.number().int().positive(),
  /** Used as the output estimate when a request sets no max_tokens. */
  default_max_output: z.number().int().positive().default(1024),
  /** Self-hosted or Workers AI: may serve `x-tollgate-data: sensitive` requests. */
  private: z.boolean().default(false),
  kind: z.enum(["chat", "embedding"]).default("chat"),
  /**
   * Jurisdictions where this model's provider contractually processes and keeps the data; a tenant
   * with residency is served only by models tagged with its region. Untagged: anywhere.
   */
  regions: z.array(z.enum(RESIDENCIES)).default([]),
});
export type CatalogModel = z.infer<typeof CatalogModelSchema>;

const m = (x: z.input<typeof CatalogModelSchema>): CatalogModel => CatalogModelSchema.parse(x);

// Order within a tier is the fallback order. Prices are USD per million tokens. Region tags: the sim's
// `sim-a` and `sim-private` instances stand in for providers with EU (and US) processing, `sim-b` for one
// without, so residency routing can be exercised offline. Real providers are untagged until their EU
// endpoints are configured (OpenAI's and Anthropic's regional processing is a per-account setting).
export const DEFAULT_CATALOG: readonly CatalogModel[] = [
  m({ id: "sim/fast", provider: "sim-a", upstream: "fast", tier: "fast", input_per_mtok: 0.15, output_per_mtok: 0.6, context_window: 128_000, regions: ["eu", "us"] }),
  m({ id: "sim-b/fast", provider: "sim-b", upstream: "fast", tier: "fast", input_per_mtok: 0.2, output_per_mtok: 0.8, context_window: 128_000 }),
  m({ id: "sim/balanced", provider: "sim-a", upstream: "balanced", tier: "balanced", input_per_mtok: 1, output_per_mtok: 4, context_window: 200_000, regions: ["eu", "us"] }),
  m({ id: "sim-b/balanced", provider: "sim-b", upstream: "balanced", tier: "balanced", input_per_mtok: 1.25, output_per_mtok: 5, context_window: 200_000 }),
  m({ id: "sim/powerful", provider: "sim-a", upstream: "powerful", tier: "powerful", input_per_mtok: 5, output_per_mtok: 20, context_window: 200_000, regions: ["eu", "us"] }),
  m({ id: "sim-b/powerful", provider: "sim-b", upstream: "powerful", tier: "powerful", input_per_mtok: 6, output_per_mtok: 24, context_window: 200_000 }),
  m({ id: "sim-private/fast", provider: "sim-private", upstream: "fast", tier: "fast", input_per_mtok: 0.3, output_per_mtok: 1.2, context_window: 32_000, private: true, regions: ["eu"] }),
  m({ id: "sim-private/balanced", provider: "sim-private", upstream: "balanced", tier: "balanced", input_per_mtok: 2, output_per_mtok: 8, context_window: 32_000, private: true, regions: ["eu"] }),
  m({ id: "openai/gpt-4o-mini", provider: "openai", upstream: "gpt-4o-mini", tier: "fast", input_per_mtok: 0.15, output_per_mtok: 0.6, context_window: 128_000 }),
  m({ id: "openai/gpt-4.1", provider: "openai", upstream: "gpt-4.1", tier: "balanced", input_per_mtok: 2, output_per_mtok: 8, context_window: 1_000_000 }),
  m({ id: "openai/o3", provider: "openai", upstream: "o3", tier: "powerful", input_per_mtok: 2, output_per_mtok: 8, context_window: 200_000 }),
  m({ id: "anthropic/claude-haiku-4-5", provider: "anthropic", upstream: "claude-haiku-4-5", tier: "fast", input_per_mtok: 1, output_per_mtok: 5, context_window: 200_000 }),
  m({ id: "anthropic/claude-sonnet-4-5", provider: "anthropic", upstream: "claude-sonnet-4-5", tier: "balanced", input_per_mtok: 3, output_per_mtok: 15, context_window: 200_000 }),
  m({ id: "anthropic/claude-opus-4-1", provider: "anthropic", upstream: "claude-opus-4-1", tier: "powerful", input_per_mtok: 15, output_per_mtok: 75, context_window: 200_000 }),
  m({ id: "workers-ai/llama-3.1-8b", provider: "workers-ai", upstream: "@cf/meta/llama-3.1-8b-instruct", tier: "fast", input_per_mtok: 0.28, output_per_mtok: 0.83, context_window: 8_000, private: true }),
  m({ id: "workers-ai/llama-3.3-70b", provider: "workers-ai", upstream: "@cf/meta/llama-3.3-70b-instruct-fp8-fast", tier: "balanced", input_per_mtok: 0.29, output_per_mtok: 2.25, context_window: 24_000, private: true }),
  m({ id: "sim/embed", provider: "sim-a", upstream: "embed", tier: "fast", input_per_mtok: 0.02, output_per_mtok: 0, context_window: 8_192, kind: "embedding", regions: ["eu", "us"] }),
  m({ id: "local/use-lite", provider: "local-embedder", upstream: "use-lite", tier: "fast", input_per_mtok: 0, output_per_mtok: 0, context_window: 8_192, private: true, kind: "embedding", regions: ["eu", "us"] }),
  m({ id: "openai/text-embedding-3-small", provider: "openai", upstream: "text-embedding-3-small", tier: "fast", input_per_mtok: 0.02, output_per_mtok: 0, context_window: 8_192, kind: "embedding" }),
  m({ id: "workers-ai/bge-base-en-v1.5", provider: "workers-ai", upstream: "@cf/baai/bge-base-en-v1.5", tier: "fast", input_per_mtok: 0.067, output_per_mtok: 0, context_window: 512, private: true, kind: "embedding" }),
];

export function findModel(catalog: readonly CatalogModel[], id: string): CatalogModel | undefined {
  return catalog.find((model) => model.id === id);
}

/** USD for the given usage at the model's list price. */
export function priceUsd(model: CatalogModel, promptTokens: number, completionTokens: number): number {
  return (promptTokens * model.input_per_mtok + completionTokens * model.output_per_mtok) / 1_000_000;
}

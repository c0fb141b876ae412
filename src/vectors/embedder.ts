import type { CatalogModel } from "../config/model-catalog";
import { findModel, priceUsd } from "../config/model-catalog";
import type { TenantPolicy } from "../config/tenant-policy";
import { availableCatalog, type ProviderInstance, providerInstances } from "../providers/provider-registry";
import type { ProviderFailure, Result } from "../providers/provider-types";
import { embedWithCache } from "./embedding-cache";
import { DEFAULT_THRESHOLDS, UNCALIBRATED_THRESHOLD } from "./semantic-thresholds";

/** Turns a question into a vector. Every implementation goes through the KV embedding cache. */
export interface Embedder {
  /** The catalog id of the embedding model, e.g. "local/use-lite". */
  readonly id: string;
  /** The cosine a match needs when the tenant's policy sets none: calibrated per embedder. */
  readonly defaultThreshold: number;
  /** Self-hosted or Workers AI: may see the text of sensitive requests. */
  readonly private: boolean;
  /** `scope` keeps the cached vector apart from other tenants' (see embedding-cache.ts). */
  embed(text: string, signal: AbortSignal, scope: string): Promise<Result<number[], ProviderFailure>>;
  /** Like embed, with what the call cost ($0 when the embedding cache answered). */
  embedPriced(text: string, signal: AbortSignal, scope: string): Promise<Result<{ vector: number[]; costUsd: number }, ProviderFailure>>;
}

/** Any catalog embedding model behind its provider adapter: Workers AI, OpenAI-compatible or the local server. */
class ProviderEmbedder implements Embedder {
  readonly id: string;
  readonly defaultThreshold: number;
  readonly private: boolean;

  constructor(
    private readonly kv: KVNamespace,
    private readonly instance: ProviderInstance,
    private readonly model: CatalogModel,
  ) {
    this.id = model.id;
    this.defaultThreshold = DEFAULT_THRESHOLDS[model.id] ?? UNCALIBRATED_THRESHOLD;
    this.private = model.private;
  }

  async embed(text: string, signal: AbortSignal, scope: string): Promise<Result<number[], ProviderFailure>> {
    const result = await this.embedPriced(text, signal, scope);
    return result.ok ? { ok: true, value: result.value.vector } : result;
  }

  async embedPriced(text: string, signal: AbortSignal, scope: string): Promise<Result<{ vector: number[]; costUsd: number }, ProviderFailure>> {
    const result = await embedWithCache(this.kv, this.instance, this.model, [text], signal, scope);
    if (!result.ok) return result;
    const vector = result.value.vectors[0];
    if (!vector?.length) return { ok: false, error: { kind: "malformed", retryable: false, message: `${this.id}: empty embedding` } };
    return { ok: true, value: { vector, costUsd: priceUsd(this.model, result.value.promptTokens, 0) } };
  }
}

function embedderFor(env: Env, id: string): Embedder | undefined {
  const model = findModel(availableCatalog(env), id);
  if (!model || model.kind !== "embedding") return undefined;
  const instance = providerInstances(env).get(model.provider);
  return instance ? new ProviderEmbedder(env.CACHE_KV, instance, model) : undefined;
}

/** Workers AI (production): `@cf/baai/bge-base-en-v1.5` unless the policy names another model. */
export const workersAiEmbedder = (env: Env, id = "workers-ai/bge-base-en-v1.5") => embedderFor(env, id);
/** Any OpenAI-compatible /v1/embeddings endpoint configured as the `openai` provider. */
export const openAiCompatibleEmbedder = (env: Env, id = "openai/text-embedding-3-small") => embedderFor(env, id);
/** The local USE-lite server that `npm start` launches (EMBEDDER_URL). */
export const localEmbedder = (env: Env) => embedderFor(env, "local/use-lite");

/**
 * The tenant's embedder, or undefined when none is configured (semantic lookup is then skipped).
 * Without a policy choice: the local server when there is one, else Workers AI. An OpenAI-compatible
 * endpoint is used only when a policy names it, since it sends every question to a third party.
 * Sensitive requests only ever go to a private embedder, like their chat calls, and a tenant with
 * `allowed_models` gets a semantic cache only with an embedding model on that list.
 */
export function selectEmbedder(env: Env, policy: TenantPolicy, sensitive: boolean): Embedder | undefined {
  // Vectorize and the KV embedding cache cannot be pinned to a jurisdiction: no semantic cache and no
  // learned-router samples for a tenant with data residency.
  if (policy.residency) return undefined;
  const chosen = policy.cache.embedding_model;
  const embedder = chosen ? embedderFor(env, chosen) : (localEmbedder(env) ?? workersAiEmbedder(env));
  if (!embedder || (sensitive && !embedder.private)) return undefined;
  // The cache's own query embeddings are a model call like any other: an allow-list binds them too.
  return !policy.allowed_models || policy.allowed_models.includes(embedder.id) ? embedder : undefined;
}

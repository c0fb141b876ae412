import { admitRequest } from "../budget/admission";
import { estimateInput } from "../budget/budget-client";
import { type CatalogModel, priceUsd } from "../config/model-catalog";
import { GatewayError } from "../errors";
import type { ChatContext } from "../pipeline/chat-types";
import { admissionOf, deadlineMs, settleFirst } from "../pipeline/provider-call";
import { availableCatalog, providerInstances } from "../providers/provider-registry";
import { planEmbedding } from "../routing/route-plan";
import { countText } from "../tokens/count-tokens";
import { embedWithCache } from "../vectors/embedding-cache";
import { selectEmbedder } from "../vectors/embedder";

// Vectorize and most providers take at most about a hundred inputs per call.
const EMBED_BATCH = 64;

export interface EmbedSpend {
  vectors: number[][];
  model: CatalogModel;
  costUsd: number;
  /** Tokens sent upstream; texts the embedding cache already held cost nothing. */
  billedTokens: number;
  cachedTexts: number;
}

/** The model a new collection embeds with: the request's, else the tenant's semantic-cache embedder, else the sim. */
export function defaultEmbeddingModel(env: Env, ctx: ChatContext): string {
  return selectEmbedder(env, ctx.tenant.policy, false)?.id ?? "sim/embed";
}

/** Checks the model against the catalog and the tenant's policy (allow-list, sensitivity) like /v1/embeddings. */
export function embeddingModel(ctx: ChatContext, id: string): CatalogModel {
  const plan = planEmbedding({ model: id, policy: ctx.tenant.policy, hints: ctx.hints, catalog: availableCatalog(ctx.env) });
  return plan.chain[0] as CatalogModel;
}

/**
 * Embedding as spend, the same way /v1/embeddings does it: admit the worst case, embed through the
 * KV embedding cache (so unchanged text costs nothing), settle the actual cost with the row in
 * `ctx.ledger`. A budget that cannot cover the estimate refuses with 402 before anything is sent.
 */
export async function embedAsSpend(ctx: ChatContext, modelId: string, texts: string[], cacheScope: string): Promise<EmbedSpend> {
  const { env, tenant, ledger } = ctx;
  const event = ledger.event;
  const model = embeddingModel(ctx, modelId);
  const instance = providerInstances(env, { simFaultHeader: ctx.simFaultHeader }).get(model.provider);
  if (!instance) throw GatewayError.invalid(`Model '${model.id}' has no configured provider`, "embedding_model");
  Object.assign(event, { model: model.id, provider: model.provider, tier: model.tier, task: ctx.hints.task });
  const counts = texts.map(countText);
  const estimate = estimateInput(texts, model, counts);
  const deadline = deadlineMs(ctx.hints, tenant);
  const admission = await ctx.stage("admit", () => admitRequest({ ...admissionOf(ctx, deadline), requestId: event.request_id, estimate, degradedEstimate: estimate }));
  const signal = AbortSignal.any([AbortSignal.timeout(deadline), ...(ctx.signal ? [ctx.signal] : [])]);
  const vectors: number[][] = [];
  let billedTokens = 0;
  let cachedTexts = 0;
  for (let i = 0; i < texts.length; i += EMBED_BATCH) {
    const batch = texts.slice(i, i + EMBED_BATCH);
    const result = await ctx.stage("upstream", () => embedWithCache(env.CACHE_KV, instance, model, batch, signal, cacheScope));
    if (!result.ok) {
      // What was embedded before the failure was paid for: it is settled, and cached for the retry.
      const spent = priceUsd(model, billedTokens, 0);
      Object.assign(event, { prompt_tokens: billedTokens, cost_usd: spent });
      settleFirst(ctx, admission, spent, billedTokens);
      throw signal.aborted ? new GatewayError(504, "deadline_exceeded", "The embedding provider did not answer in time") : new GatewayError(502, "upstream_error", `Embedding failed: ${result.error.message}`);
    }
    vectors.push(...result.value.vectors);
    cachedTexts += result.value.hits;
    const sent = batch.length - result.value.hits;
    billedTokens += sent === 0 ? 0 : result.value.promptTokens || counts.slice(i, i + EMBED_BATCH).reduce((sum, n) => sum + n, 0);
  }
  const costUsd = priceUsd(model, billedTokens, 0);
  const fullUsd = priceUsd(model, counts.reduce((sum, n) => sum + n, 0), 0);
  settleFirst(ctx, admission, costUsd, billedTokens);
  Object.assign(event, { attempts: cachedTexts === texts.length ? 0 : 1, cache: cachedTexts === texts.length ? "exact" : "miss", prompt_tokens: billedTokens, cost_usd: costUsd, saved_usd: Math.max(0, fullUsd - costUsd) });
  event.detail = { ...event.detail, estimate_usd: estimate.usd, reserved_usd: admission.reservedUsd, embedded: texts.length, embedding_cache_hits: cachedTexts };
  return { vectors, model, costUsd, billedTokens, cachedTexts };
}

import { admitRequest } from "../budget/admission";
import { estimateInput } from "../budget/budget-client";
import { type CatalogModel, priceUsd } from "../config/model-catalog";
import { GatewayError } from "../errors";
import { guardInputs } from "../guardrails/request-guard";
import type { CacheStatus } from "../ledger/ledger-event";
import { availableCatalog, providerInstances } from "../providers/provider-registry";
import { planEmbedding } from "../routing/route-plan";
import { openEmbeddingsStep } from "../sessions/session-gate";
import { ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT, ATTR_GEN_AI_RESPONSE_MODEL, ATTR_GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS } from "../telemetry/semconv";
import { failInference, startInference } from "../telemetry/genai-spans";
import { countText } from "../tokens/count-tokens";
import { embedWithCache } from "../vectors/embedding-cache";
import { float32ToBase64 } from "../vectors/vector-base64";
import type { ChatContext } from "./chat-types";
import { admissionOf, deadlineMs, settleFirst } from "./provider-call";

export interface EmbeddingsOutcome {
  vectors: number[][];
  model: CatalogModel;
  /** Tokens in the input, cached or not: what the client's `usage` reports. */
  inputTokens: number;
  cache: CacheStatus;
  costUsd: number;
  savedUsd: number;
  /** Filled by the session's settlement (x-tollgate-session-remaining), when the call is a session step. */
  meta: { sessionRemaining?: string; guardrails?: string };
}

/**
 * POST /v1/embeddings, on the same path as chat: the tenant's policy picks what may serve it, the
 * budget admits the worst case first (rate limits included), and the actual cost is settled after.
 */
export async function runEmbeddings(ctx: ChatContext, modelId: string, inputs: string[]): Promise<EmbeddingsOutcome> {
  ({ ctx, inputs } = guardInputs(ctx, inputs));
  const { env, hints, tenant, ledger } = ctx;
  const event = ledger.event;
  event.task = hints.task;
  const route = await ctx.stage("route", () => planEmbedding({ model: modelId, policy: tenant.policy, hints, catalog: availableCatalog(env) }));
  const model = route.chain[0] as CatalogModel;
  const instance = providerInstances(env, { simFaultHeader: ctx.simFaultHeader }).get(model.provider);
  if (!instance) throw GatewayError.invalid(`Model '${model.id}' has no configured provider`, "model");
  Object.assign(event, { model: model.id, provider: model.provider, tier: model.tier, route_reason: route.reason });

  // Tokenizing is the costly part of an embeddings request (up to a megabyte of text): once.
  const counts = inputs.map(countText);
  const estimate = estimateInput(inputs, model, counts);
  // An agent session's limits are checked (and its step reserved) before anything is spent.
  await openEmbeddingsStep(ctx, model.id, inputs, estimate.usd, estimate.promptTokens);
  const deadline = deadlineMs(hints, tenant);
  const admission = await ctx.stage("admit", () => admitRequest({ ...admissionOf(ctx, deadline), requestId: event.request_id, estimate, degradedEstimate: estimate }));
  const signal = AbortSignal.any([AbortSignal.timeout(deadline), ...(ctx.signal ? [ctx.signal] : [])]);
  const span = ctx.trace && startInference(ctx.trace, GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS, model, instance.baseUrl);
  const result = await ctx.stage("upstream", () => embedWithCache(env.CACHE_KV, instance, model, inputs, signal, tenant.tenantId));
  if (!result.ok) {
    failInference(span, signal.aborted ? { kind: "timeout", message: result.error.message } : result.error, 1);
    settleFirst(ctx, admission, 0, 0);
    throw signal.aborted
      ? new GatewayError(504, "deadline_exceeded", "The embeddings provider did not answer in time")
      : new GatewayError(502, "upstream_error", `Embeddings failed: ${result.error.message}`);
  }
  const { vectors, hits } = result.value;
  const inputTokens = counts.reduce((sum, count) => sum + count, 0);
  const billed = result.value.promptTokens || (hits === inputs.length ? 0 : inputTokens);
  const costUsd = priceUsd(model, billed, 0);
  settleFirst(ctx, admission, costUsd, billed);
  const cache: CacheStatus = hits === inputs.length ? "exact" : "miss";
  // Every input came from the embedding cache: no provider was called, so there is no client span.
  if (span && hits < inputs.length) {
    span.set(ATTR_GEN_AI_RESPONSE_MODEL, model.upstream).set(ATTR_GEN_AI_USAGE_INPUT_TOKENS, billed).set(ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT, vectors[0]?.length).end();
  }
  const savedUsd = Math.max(0, priceUsd(model, inputTokens, 0) - costUsd);
  Object.assign(event, { attempts: hits === inputs.length ? 0 : 1, cache, prompt_tokens: billed, cost_usd: costUsd, saved_usd: savedUsd });
  event.detail = { ...event.detail, estimate_usd: estimate.usd, reserved_usd: admission.reservedUsd };
  return { vectors, model, inputTokens, cache, costUsd, savedUsd, meta: { guardrails: ctx.guard?.header } };
}

/**
 * The OpenAI embeddings body, for the route and for a batch's output file alike. `base64` is what the
 * official SDKs request by default.
 */
export function embeddingsBody(outcome: EmbeddingsOutcome, encoding: "float" | "base64" | undefined) {
  return {
    object: "list" as const,
    data: outcome.vectors.map((vector, index) => ({ object: "embedding" as const, index, embedding: encoding === "base64" ? float32ToBase64(vector) : vector })),
    model: outcome.model.id,
    usage: { prompt_tokens: outcome.inputTokens, total_tokens: outcome.inputTokens },
  };
}

import { completionChunks, replayChunks } from "../cache/cached-stream";
import { type CacheHit, ChatCache } from "../cache/chat-cache";
import type { SemanticStatus } from "../cache/semantic-cache";
import { type CatalogModel, priceUsd, type Tier } from "../config/model-catalog";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import type { CacheStatus } from "../ledger/ledger-event";
import type { RequestLedger } from "../ledger/request-ledger";
import { type BreakerGate, callWithFallback, type ChainFailure } from "../providers/call-with-fallback";
import { availableCatalog, providerInstances } from "../providers/provider-registry";
import type { ChatChunk, ChatCompletion, Usage } from "../providers/provider-types";
import { planRoute, type RoutePlan } from "../routing/route-plan";
import { countPromptTokens, countText } from "../tokens/count-tokens";
import type { ChatRequest } from "../validate/chat-request";
import type { RequestHints } from "../validate/request-hints";
import { meterStream, type StreamSummary } from "./metered-stream";

export interface ChatContext {
  env: Env;
  waitUntil: (promise: Promise<unknown>) => void;
  tenant: TenantContext;
  hints: RequestHints;
  ledger: RequestLedger;
  simFaultHeader?: string;
  breaker: BreakerGate;
  /** Wraps a stage so it shows up in Server-Timing. */
  stage: <T>(name: string, run: () => Promise<T> | T) => Promise<T>;
}

export interface ResponseMeta {
  tier: Tier;
  model: string;
  provider: string;
  cache: CacheStatus;
  /** What the semantic lookup did (x-tollgate-semantic), when it was consulted. */
  semantic?: SemanticStatus;
  costUsd: number;
  savedUsd: number;
  degraded?: string;
  escalatedFrom?: string;
  budgetRemainingUsd?: number;
}

export type ChatOutcome =
  | { kind: "completion"; completion: ChatCompletion; meta: ResponseMeta }
  | { kind: "stream"; chunks: AsyncGenerator<ChatChunk, void, void>; meta: ResponseMeta; done: Promise<StreamSummary> };

const DEFAULT_DEADLINE_MS = 120_000;
const ATTEMPT_TIMEOUT_MS = 60_000;
const FIRST_TOKEN_TIMEOUT_MS = 30_000;
const IDLE_TIMEOUT_MS = 30_000;
const MAX_ATTEMPTS_PER_MODEL = 2;

function chainError(failure: ChainFailure): GatewayError {
  if (failure.deadlineExceeded) return new GatewayError(504, "deadline_exceeded", "The request deadline passed before any provider answered");
  if (failure.allOpen) return new GatewayError(503, "no_healthy_provider", "Every candidate provider is unhealthy (circuit open) and no cached answer exists", null, { "retry-after": "5" });
  return new GatewayError(502, "upstream_error", `Every provider in the chain failed; last: ${failure.last?.message ?? "no candidate"}`);
}

/** Usage for a stream: the provider's own count when it sent one, else what was actually delivered. */
export function streamUsage(req: ChatRequest, summary: StreamSummary): Usage {
  if (summary.usage) return summary.usage;
  const prompt = countPromptTokens(req);
  const completion = countText(summary.text);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/**
 * POST /v1/chat/completions, /v1/messages and jobs all come through here. Read it top to bottom:
 * route → cache → call (with retries and fallback) → meter → respond. Each stage is one call.
 */
export async function runChat(ctx: ChatContext, req: ChatRequest): Promise<ChatOutcome> {
  const { env, hints, tenant, ledger } = ctx;
  const event = ledger.event;
  event.task = hints.task;
  event.stream = req.stream === true;

  // Routing comes first because the cache key names the resolved tier (what `auto` will be served at).
  const catalog = availableCatalog(env);
  const plan = await ctx.stage("route", () => planRoute({ model: req.model, policy: tenant.policy, hints, catalog }));
  event.tier = plan.tier;
  event.route_reason = plan.reason;

  const cache = await ctx.stage("cache", () => ChatCache.open(ctx, req, { model: req.model, tier: plan.tier }));
  if (cache.hit) return serveCached(ctx, req, plan, cache.hit, cache.semantic);

  // admit: the budget step goes here, after the cache (hits cost nothing) and before any provider call.

  try {
    return await callProviders(ctx, req, plan, cache);
  } catch (error) {
    cache.abandon();
    throw error;
  }
}

/** A cache hit: $0, with what the call would have cost recorded as saved. */
function serveCached(ctx: ChatContext, req: ChatRequest, plan: RoutePlan, hit: CacheHit, semantic: SemanticStatus | undefined): ChatOutcome {
  const { entry } = hit;
  const event = ctx.ledger.event;
  Object.assign(event, { cache: hit.kind, model: entry.model, provider: entry.provider, cost_usd: 0, saved_usd: entry.cost_usd, attempts: 0 });
  event.detail = { ...event.detail, cache: { source_request: entry.request_id, score: hit.score ?? null, joined: hit.joined ?? false } };
  const meta: ResponseMeta = { tier: plan.tier, model: entry.model, provider: entry.provider, cache: hit.kind, semantic, costUsd: 0, savedUsd: entry.cost_usd };
  const ids = { id: `chatcmpl-${event.request_id}`, model: req.model, created: Math.floor(Date.now() / 1000) };
  const completion: ChatCompletion = { ...entry.completion, ...ids };
  if (req.stream !== true) return { kind: "completion", completion, meta };
  const choice = completion.choices[0];
  const summary: StreamSummary = { text: choice?.message.content ?? "", usage: completion.usage, finish: choice?.finish_reason ?? null, endedAt: Date.now() };
  event.ttfb_ms = ctx.ledger.elapsedMs();
  return { kind: "stream", chunks: replayChunks(completionChunks(completion, ids)), meta, done: Promise.resolve(summary) };
}

async function callProviders(ctx: ChatContext, req: ChatRequest, plan: RoutePlan, cache: ChatCache): Promise<ChatOutcome> {
  const { env, hints, tenant, ledger } = ctx;
  const event = ledger.event;
  const stream = req.stream === true;
  const deadlineMs = hints.deadlineMs ?? tenant.policy.deadline_ms ?? DEFAULT_DEADLINE_MS;
  const deadlineAt = Date.now() + deadlineMs;
  const ids = { id: `chatcmpl-${event.request_id}`, model: req.model, created: Math.floor(Date.now() / 1000) };
  const result = await ctx.stage("upstream", () =>
    callWithFallback({
      instances: providerInstances(env, { simFaultHeader: ctx.simFaultHeader }),
      chain: plan.chain,
      req,
      stream,
      ids,
      deadlineAt,
      attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
      firstTokenTimeoutMs: FIRST_TOKEN_TIMEOUT_MS,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      maxAttemptsPerModel: MAX_ATTEMPTS_PER_MODEL,
      breaker: ctx.breaker,
    }),
  );
  const attempts = result.ok ? result.value.attempts : result.error.attempts;
  event.attempts = attempts.length;
  event.detail = { ...event.detail, attempts };
  if (!result.ok) throw chainError(result.error);

  const { model } = result.value;
  event.model = model.id;
  event.provider = model.provider;
  event.cache = cache.status;
  const meta: ResponseMeta = { tier: plan.tier, model: model.id, provider: model.provider, cache: event.cache, semantic: cache.semantic, costUsd: 0, savedUsd: 0 };
  if (attempts.length > 1) meta.degraded = "fallback";
  event.degraded = meta.degraded ?? null;
  const served = { model, tier: plan.tier, requestId: event.request_id };

  if (result.value.completion) {
    const completion = result.value.completion;
    settleUsage(event, model, completion.usage);
    meta.costUsd = event.cost_usd;
    cache.store(completion, served);
    return { kind: "completion", completion, meta };
  }

  const started = result.value.stream;
  let resolveDone: (summary: StreamSummary) => void = () => undefined;
  const done = new Promise<StreamSummary>((resolve) => {
    resolveDone = resolve;
  });
  const metered = meterStream(started, (summary) => {
    const usage = streamUsage(req, summary);
    settleUsage(event, model, usage);
    event.ttfb_ms = summary.firstChunkAt ? Math.max(0, summary.firstChunkAt - event.ts) : null;
    event.latency_ms = Math.max(1, summary.endedAt - event.ts);
    if (summary.error) {
      event.status = 502;
      event.error_code = "upstream_error";
    }
    resolveDone({ ...summary, usage });
  });
  ledger.until(done);
  // Streams are priced before the first byte from the estimate; the header cannot wait for the end.
  meta.costUsd = priceUsd(model, countPromptTokens(req), 0);
  return { kind: "stream", chunks: cache.recordStream(metered, done, served, ids), meta, done };
}

function settleUsage(event: RequestLedger["event"], model: CatalogModel, usage: Usage): void {
  event.prompt_tokens = usage.prompt_tokens;
  event.completion_tokens = usage.completion_tokens;
  event.cost_usd = priceUsd(model, usage.prompt_tokens, usage.completion_tokens);
}

import { type Admission, admitRequest } from "../budget/admission";
import { estimateChain, withOutputCap } from "../budget/budget-client";
import { ChatCache } from "../cache/chat-cache";
import { GatewayError } from "../errors";
import { guardAnswer, guardStream, restoreOutcome } from "../guardrails/answer-guard";
import { guardRequest } from "../guardrails/request-guard";
import { availableCatalog } from "../providers/provider-registry";
import type { Usage } from "../providers/provider-types";
import { fixedTier, isSensitive, planRequest, type RequestPlan, type RoutePlan } from "../routing/route-plan";
import { learnedTier, recordSamples, type Sample } from "../routing/learned-router";
import { expandPrompt } from "../prompts/expand-prompt";
import { openModelStep } from "../sessions/session-gate";
import { complexityTier } from "../routing/tier-suggestion";
import { endWithStream } from "../telemetry/genai-spans";
import { countPromptTokens, countText } from "../tokens/count-tokens";
import type { ChatRequest } from "../validate/chat-request";
import { type Embedder, selectEmbedder } from "../vectors/embedder";
import type { ChatContext, ChatOutcome, ResponseMeta } from "./chat-types";
import { type Answer, escalate, type EscalationStep, stripConfidence, withConfidence } from "./escalation";
import { meterStream, type StreamSummary } from "./metered-stream";
import { admissionOf, callChain, chainError, chargeUsage, deadlineMs, settleFirst } from "./provider-call";
import { serveHit, serveStale } from "./serve-cached";
import { groundRequest } from "../retrieval/grounding";

export type { ChatContext, ChatOutcome, ResponseMeta } from "./chat-types";

/** Usage for a stream: the provider's own count when it sent one, else what was actually delivered. */
export function streamUsage(req: ChatRequest, summary: StreamSummary): Usage {
  if (summary.usage) return summary.usage;
  const prompt = countPromptTokens(req);
  const completion = countText(summary.text);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

const promptVersion = (event: ChatContext["ledger"]["event"]): string | undefined => (event.prompt_name ? `${event.prompt_name}@${event.prompt_version}` : undefined);

/** Step 3, once per request: the learned router's vote (I/O), then the pure plan every later step uses. */
async function planChat(ctx: ChatContext, req: ChatRequest, embedder: Embedder | undefined): Promise<RequestPlan> {
  const { env, hints, tenant } = ctx;
  const catalog = availableCatalog(env).filter((m) => m.kind === "chat");
  const learned = req.model === "auto" && !fixedTier({ policy: tenant.policy, hints }) ? await ctx.stage("learn", () => learnedTier(env, tenant.tenantId, req, embedder)) : undefined;
  return ctx.stage("route", () => planRequest({ model: req.model, policy: tenant.policy, hints, catalog, suggest: () => learned ?? complexityTier(req) }));
}

/**
 * POST /v1/chat/completions, /v1/messages, /v1/responses and jobs all come through here. Read it top
 * to bottom: prompt → ground → guard → plan → cache → session → admit → call (retries, fallback) →
 * escalate → settle and record → respond.
 */
export async function runChat(caller: ChatContext, request: ChatRequest): Promise<ChatOutcome> {
  // A registered prompt becomes the request it stands for first: plan, cache key and ledger all see it.
  const expanded = await expandPrompt(caller, request);
  // A `retrieval` field becomes a system message of retrieved chunks (src/retrieval/), before anything reads the prompt.
  const grounded = await groundRequest(expanded.ctx, expanded.req, runChat);
  // Guardrails run before anything keys, embeds or routes on the request's text (src/guardrails/).
  const { ctx, req } = await expanded.ctx.stage("guard", () => guardRequest(expanded.ctx, grounded));
  const { env, hints, tenant, ledger } = ctx;
  const event = ledger.event;
  event.task = hints.task;
  event.stream = req.stream === true;

  // The plan comes first because the cache key names the resolved tier (what `auto` will be served at).
  const embedder = selectEmbedder(env, tenant.policy, isSensitive(hints, tenant.policy));
  const plan = await planChat(ctx, req, embedder);
  event.tier = plan.primary.tier;
  event.route_reason = plan.primary.reason;

  const cache = await ctx.stage("cache", () => ChatCache.open(ctx, req, { model: req.model, tier: plan.primary.tier, prompt: promptVersion(event) }, embedder));
  // An agent session's limits are checked before anything is spent; a cache hit is still a step, at $0.
  await openModelStep(ctx, req, plan.primary.chain, cache.hit !== undefined).catch((error: unknown) => {
    cache.abandon();
    throw error;
  });
  if (cache.hit) return serveHit(ctx, req, plan.primary.tier, cache.hit, cache.semantic);

  const deadline = deadlineMs(hints, tenant);
  const deadlineAt = Date.now() + deadline;
  // One tokenizer pass prices both chains.
  const promptTokens = countPromptTokens(req);
  const estimate = estimateChain(req, plan.primary.chain, promptTokens);
  const degradedEstimate = plan.degraded === plan.primary ? estimate : estimateChain(req, plan.degraded.chain, promptTokens);
  let admission: Admission;
  try {
    admission = await ctx.stage("admit", () => admitRequest({ ...admissionOf(ctx, deadline), requestId: event.request_id, estimate, degradedEstimate }));
  } catch (error) {
    cache.abandon();
    // Past the hard stop a cached answer, however old, still flows: it costs nothing.
    const stale = error instanceof GatewayError && error.code === "budget_exceeded" ? await cache.stale() : undefined;
    if (stale) return serveStale(ctx, req, plan.primary.tier, stale, "budget");
    throw error;
  }
  const route = admission.degraded ? plan.degraded : plan.primary;
  event.tier = route.tier;
  if (admission.degraded) event.route_reason = `${event.route_reason}+budget-cap`;

  try {
    return await callProviders(ctx, req, { plan, route, admission, cache, deadlineAt, embedder });
  } catch (error) {
    cache.abandon();
    settleFirst(ctx, admission, event.cost_usd, event.prompt_tokens + event.completion_tokens);
    const recoverable = error instanceof GatewayError && (error.code === "no_healthy_provider" || error.code === "upstream_error");
    const stale = recoverable && tenant.policy.cache.serve_stale_on_error ? await cache.stale() : undefined;
    if (stale) return serveStale(ctx, req, route.tier, stale, "stale-cache");
    throw error;
  }
}

interface Admitted {
  plan: RequestPlan;
  /** The plan admission chose: the primary one, or the degraded one when the budget is degrading. */
  route: RoutePlan;
  admission: Admission;
  cache: ChatCache;
  deadlineAt: number;
  embedder: Embedder | undefined;
}

async function callProviders(ctx: ChatContext, req: ChatRequest, admitted: Admitted): Promise<ChatOutcome> {
  const { ledger, tenant } = ctx;
  const { admission, cache, deadlineAt, route } = admitted;
  const event = ledger.event;
  const escalating = route.auto && tenant.policy.escalation && req.stream !== true && ctx.hints.refine !== "async";
  const upstreamReq = withConfidence(withOutputCap(req, admission.estimate), escalating && route.tier !== "powerful");
  const ids = { id: `chatcmpl-${event.request_id}`, model: req.model, created: Math.floor(Date.now() / 1000) };
  // A fallback dearer than the reservation first tops it up; one the budget cannot cover is skipped.
  const result = await ctx.stage("upstream", () => callChain(ctx, upstreamReq, route, ids, deadlineAt, admission));
  const attempts = result.ok ? result.value.attempts : result.error.attempts;
  const unaffordable = result.ok ? result.value.budgetSkipped : result.error.budgetSkipped;
  const breakerSkipped = result.ok ? result.value.skipped : [];
  event.attempts = attempts.length;
  event.detail = {
    ...event.detail,
    attempts,
    estimate_usd: admission.estimate.usd,
    reserved_usd: admission.reservedUsd,
    ...(breakerSkipped.length ? { breaker_skipped: breakerSkipped } : {}),
    ...(unaffordable.length ? { budget_skipped: unaffordable } : {}),
  };
  if (!result.ok) {
    const error = chainError(result.error);
    if (!unaffordable.length || error.code === "invalid_request") throw error;
    // The fallback that could have answered costs more than the budget has left: that is the answer.
    const skipped = unaffordable.map((id) => `${id}=budget`).join(",");
    throw new GatewayError(402, "budget_exceeded", `${error.message}; skipped ${unaffordable.join(", ")}: the budget left cannot cover its worst case`, null, { "x-tollgate-skipped": skipped });
  }

  const { model } = result.value;
  const meta: ResponseMeta = { tier: route.tier, model: model.id, provider: model.provider, cache: cache.status, semantic: cache.semantic, costUsd: 0, savedUsd: 0 };
  meta.degraded = admission.degraded ? "budget" : breakerSkipped.length ? "breaker" : attempts.length > 1 ? "fallback" : undefined;
  meta.skipped = [...breakerSkipped.map((id) => `${id}=breaker`), ...unaffordable.map((id) => `${id}=budget`)];
  if (admission.result.remainingUsd !== null) meta.budgetRemainingUsd = admission.result.remainingUsd;
  meta.reservedUsd = admission.reservedUsd;
  Object.assign(event, { model: model.id, provider: model.provider, cache: cache.status, degraded: meta.degraded ?? null });

  if (result.value.completion) {
    const first: Answer = { completion: result.value.completion, model, tier: route.tier, attempts: attempts.length };
    chargeUsage(event, model, first.completion.usage);
    const firstCost = event.cost_usd;
    settleFirst(ctx, admission, firstCost, first.completion.usage.total_tokens);
    const { answer, steps } = escalating ? await ctx.stage("escalate", () => escalate(ctx, req, first, { plan: admitted.plan, upstreamReq: withOutputCap(req, admission.estimate), deadlineAt })) : { answer: first, steps: [] };
    if (steps.length) event.detail = { ...event.detail, escalations: steps, first_cost_usd: firstCost };
    if (route.auto) ctx.waitUntil(rememberRoute(ctx, req, answer, steps, admitted.embedder).catch(() => undefined));
    if (answer !== first) {
      Object.assign(meta, { tier: answer.tier, model: answer.model.id, provider: answer.model.provider, escalatedFrom: route.tier });
      Object.assign(event, { tier: answer.tier, model: answer.model.id, provider: answer.model.provider, escalated_from: route.tier, attempts: answer.attempts });
    }
    meta.costUsd = event.cost_usd;
    const completion = guardAnswer(ctx, req, stripConfidence(answer.completion, req));
    cache.store(completion, { model: answer.model, tier: answer.tier, requestId: event.request_id });
    return restoreOutcome(ctx, { kind: "completion", completion, meta });
  }

  let resolveDone: (summary: StreamSummary) => void = () => undefined;
  const done = new Promise<StreamSummary>((resolve) => {
    resolveDone = resolve;
  });
  const metered = meterStream(result.value.stream, (summary) => {
    const usage = streamUsage(req, summary);
    const cost = chargeUsage(event, model, usage);
    endWithStream(result.value.span, ctx.trace, model, summary, usage);
    settleFirst(ctx, admission, cost, usage.total_tokens);
    event.ttfb_ms = summary.firstChunkAt ? Math.max(0, summary.firstChunkAt - event.ts) : null;
    event.latency_ms = Math.max(1, summary.endedAt - event.ts);
    if (summary.error) Object.assign(event, { status: 502, error_code: "upstream_error" });
    resolveDone({ ...summary, usage });
  });
  ledger.until(done);
  // The header goes out before the last token, so a stream shows its reserved worst case.
  meta.costUsd = admission.reservedUsd;
  return restoreOutcome(ctx, { kind: "stream", chunks: cache.recordStream(guardStream(ctx, req, metered), done, { model, tier: route.tier, requestId: event.request_id }, ids), meta, done });
}

/**
 * Teaches the learned router: an escalation says the cheaper tier was not good enough and the final
 * one was; otherwise the label waits for POST /v1/feedback.
 */
function rememberRoute(ctx: ChatContext, req: ChatRequest, answer: Answer, steps: EscalationStep[], embedder: Embedder | undefined): Promise<void> {
  const requestId = ctx.ledger.event.request_id;
  const answered = steps.filter((s) => s.outcome === "answered");
  const samples: Sample[] = [
    ...answered.map((s): Sample => ({ id: `${requestId}:${s.from}`, requestId, tier: s.from, good: false, source: "escalation" })),
    { id: requestId, requestId, tier: answer.tier, good: answered.length ? true : null, source: answered.length ? "escalation" : "served" },
  ];
  return recordSamples(ctx.env, ctx.tenant.tenantId, req, embedder, samples);
}

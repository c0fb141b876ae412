import { type Admission, admitRequest, type AdmitRequestInput } from "../budget/admission";
import { ChatCache } from "../cache/chat-cache";
import { type Embedder, selectEmbedder } from "../vectors/embedder";
import { GatewayError } from "../errors";
import { availableCatalog } from "../providers/provider-registry";
import type { Usage } from "../providers/provider-types";
import { fixedTier, type PlanInput, planRoute, type RoutePlan } from "../routing/route-plan";
import { learnedTier, recordSamples, type Sample } from "../routing/learned-router";
import { complexityTier } from "../routing/tier-suggestion";
import { countPromptTokens, countText } from "../tokens/count-tokens";
import type { ChatRequest } from "../validate/chat-request";
import type { ChatContext, ChatOutcome, ResponseMeta } from "./chat-types";
import { type Answer, escalate, type EscalationStep, stripConfidence, withConfidence } from "./escalation";
import { meterStream, type StreamSummary } from "./metered-stream";
import { callChain, chainError, chargeUsage, deadlineMs } from "./provider-call";
import { serveHit, serveStale } from "./serve-cached";

export type { ChatContext, ChatOutcome, ResponseMeta } from "./chat-types";

/** Usage for a stream: the provider's own count when it sent one, else what was actually delivered. */
export function streamUsage(req: ChatRequest, summary: StreamSummary): Usage {
  if (summary.usage) return summary.usage;
  const prompt = countPromptTokens(req);
  const completion = countText(summary.text);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/**
 * POST /v1/chat/completions, /v1/messages and jobs all come through here. Read it top to bottom:
 * route → cache → admit → call (retries, fallback) → escalate → settle and record → respond.
 */
export async function runChat(ctx: ChatContext, req: ChatRequest): Promise<ChatOutcome> {
  const { env, hints, tenant, ledger } = ctx;
  const event = ledger.event;
  event.task = hints.task;
  event.stream = req.stream === true;

  // Routing comes first because the cache key names the resolved tier (what `auto` will be served at).
  const catalog = availableCatalog(env).filter((m) => m.kind === "chat");
  const embedder = selectEmbedder(env, tenant.policy, hints.sensitive === "sensitive" || tenant.policy.sensitive);
  const learned = req.model === "auto" && !fixedTier({ policy: tenant.policy, hints }) ? await ctx.stage("learn", () => learnedTier(env, tenant.tenantId, req, embedder)) : undefined;
  const planInput: PlanInput = { model: req.model, policy: tenant.policy, hints, catalog, suggest: () => learned ?? complexityTier(req) };
  const plan = await ctx.stage("route", () => planRoute(planInput));
  event.tier = plan.tier;
  event.route_reason = plan.reason;

  const cache = await ctx.stage("cache", () => ChatCache.open(ctx, req, { model: req.model, tier: plan.tier }, embedder));
  if (cache.hit) return serveHit(ctx, req, plan.tier, cache.hit, cache.semantic);

  const deadline = deadlineMs(hints, tenant);
  const deadlineAt = Date.now() + deadline;
  const admitInput: AdmitRequestInput = { env, tenantId: tenant.tenantId, keyId: tenant.keyId, requestId: event.request_id, task: hints.task, req, plan, planInput, deadlineMs: deadline };
  let admission: Admission;
  try {
    admission = await ctx.stage("admit", () => admitRequest(admitInput));
  } catch (error) {
    cache.abandon();
    // Past the hard stop a cached answer, however old, still flows: it costs nothing.
    const stale = error instanceof GatewayError && error.code === "budget_exceeded" ? await cache.stale() : undefined;
    if (stale) return serveStale(ctx, req, plan.tier, stale, "budget");
    throw error;
  }
  event.tier = admission.plan.tier;
  if (admission.degraded) event.route_reason = `${event.route_reason}+budget-cap`;

  try {
    return await callProviders(ctx, req, admission, cache, admitInput, deadlineAt, embedder);
  } catch (error) {
    cache.abandon();
    ctx.waitUntil(admission.settle(event.cost_usd, event.prompt_tokens + event.completion_tokens));
    const recoverable = error instanceof GatewayError && (error.code === "no_healthy_provider" || error.code === "upstream_error");
    const stale = recoverable && tenant.policy.cache.serve_stale_on_error ? await cache.stale() : undefined;
    if (stale) return serveStale(ctx, req, admission.plan.tier, stale, "stale-cache");
    throw error;
  }
}

async function callProviders(ctx: ChatContext, req: ChatRequest, admission: Admission, cache: ChatCache, admitInput: AdmitRequestInput, deadlineAt: number, embedder: Embedder | undefined): Promise<ChatOutcome> {
  const { ledger, tenant } = ctx;
  const event = ledger.event;
  const plan: RoutePlan = admission.plan;
  const escalating = plan.auto && tenant.policy.escalation && req.stream !== true && ctx.hints.refine !== "async";
  const upstreamReq = withConfidence(admission.req, escalating && plan.tier !== "powerful");
  const ids = { id: `chatcmpl-${event.request_id}`, model: req.model, created: Math.floor(Date.now() / 1000) };
  const result = await ctx.stage("upstream", () => callChain(ctx, upstreamReq, plan, ids, deadlineAt));
  const attempts = result.ok ? result.value.attempts : result.error.attempts;
  event.attempts = attempts.length;
  event.detail = { ...event.detail, attempts, estimate_usd: admission.estimate.usd, ...(result.ok && result.value.skipped.length ? { breaker_skipped: result.value.skipped } : {}) };
  if (!result.ok) throw chainError(result.error);

  const { model } = result.value;
  const meta: ResponseMeta = { tier: plan.tier, model: model.id, provider: model.provider, cache: cache.status, semantic: cache.semantic, costUsd: 0, savedUsd: 0 };
  meta.degraded = admission.degraded ? "budget" : result.value.skipped.length ? "breaker" : attempts.length > 1 ? "fallback" : undefined;
  if (admission.result.remainingUsd !== null) meta.budgetRemainingUsd = admission.result.remainingUsd;
  meta.reservedUsd = admission.result.reservedUsd;
  Object.assign(event, { model: model.id, provider: model.provider, cache: cache.status, degraded: meta.degraded ?? null });

  if (result.value.completion) {
    const first: Answer = { completion: result.value.completion, model, tier: plan.tier, attempts: attempts.length };
    chargeUsage(event, model, first.completion.usage);
    const firstCost = event.cost_usd;
    ctx.waitUntil(admission.settle(firstCost, first.completion.usage.total_tokens));
    const { answer, steps } = escalating ? await ctx.stage("escalate", () => escalate(ctx, req, first, admission, admitInput, deadlineAt)) : { answer: first, steps: [] };
    if (steps.length) event.detail = { ...event.detail, escalations: steps, first_cost_usd: firstCost };
    if (plan.auto) ctx.waitUntil(rememberRoute(ctx, req, answer, steps, embedder).catch(() => undefined));
    if (answer !== first) {
      Object.assign(meta, { tier: answer.tier, model: answer.model.id, provider: answer.model.provider, escalatedFrom: plan.tier });
      Object.assign(event, { tier: answer.tier, model: answer.model.id, provider: answer.model.provider, escalated_from: plan.tier, attempts: answer.attempts });
    }
    meta.costUsd = event.cost_usd;
    const completion = stripConfidence(answer.completion, req);
    cache.store(completion, { model: answer.model, tier: answer.tier, requestId: event.request_id });
    return { kind: "completion", completion, meta };
  }

  let resolveDone: (summary: StreamSummary) => void = () => undefined;
  const done = new Promise<StreamSummary>((resolve) => {
    resolveDone = resolve;
  });
  const metered = meterStream(result.value.stream, (summary) => {
    const usage = streamUsage(req, summary);
    const cost = chargeUsage(event, model, usage);
    ctx.waitUntil(admission.settle(cost, usage.total_tokens));
    event.ttfb_ms = summary.firstChunkAt ? Math.max(0, summary.firstChunkAt - event.ts) : null;
    event.latency_ms = Math.max(1, summary.endedAt - event.ts);
    if (summary.error) Object.assign(event, { status: 502, error_code: "upstream_error" });
    resolveDone({ ...summary, usage });
  });
  ledger.until(done);
  // The header goes out before the last token, so a stream shows its reserved worst case.
  meta.costUsd = admission.estimate.usd;
  return { kind: "stream", chunks: cache.recordStream(metered, done, { model, tier: plan.tier, requestId: event.request_id }, ids), meta, done };
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

import type { Admission, AdmitRequestInput } from "../budget/admission";
import { type CatalogModel, priceUsd } from "../config/model-catalog";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import type { LedgerEvent } from "../ledger/ledger-event";
import { callWithFallback, type ChainFailure, type ChainSuccess } from "../providers/call-with-fallback";
import { providerInstances } from "../providers/provider-registry";
import type { ResponseIds, Usage } from "../providers/provider-types";
import type { RoutePlan } from "../routing/route-plan";
import { endWithCompletion, failInference, startInference } from "../telemetry/genai-spans";
import { GEN_AI_OPERATION_NAME_VALUE_CHAT } from "../telemetry/semconv";
import type { ChatRequest } from "../validate/chat-request";
import type { ChatContext } from "./chat-types";

const MAX_ATTEMPTS_PER_MODEL = 2;
const DEFAULT_DEADLINE_MS = 120_000;

export function deadlineMs(hints: ChatContext["hints"], tenant: TenantContext): number {
  return hints.deadlineMs ?? tenant.policy.deadline_ms ?? DEFAULT_DEADLINE_MS;
}

export function chainError(failure: ChainFailure): GatewayError {
  if (failure.deadlineExceeded) return new GatewayError(504, "deadline_exceeded", "The request deadline passed before any provider answered");
  if (failure.allOpen) return new GatewayError(503, "no_healthy_provider", "Every candidate provider is unhealthy (circuit open) and no cached answer exists", null, { "retry-after": "5" });
  const status = failure.last?.status;
  // Every provider refused the request itself (400/422): that is the caller's to fix, not an outage.
  if (failure.last && !failure.last.retryable && (status === 400 || status === 422)) {
    return GatewayError.invalid(`The provider rejected the request: ${failure.last.message}`);
  }
  return new GatewayError(502, "upstream_error", `Every provider in the chain failed; last: ${failure.last?.message ?? "no candidate"}`);
}

const HOLD_MARGIN_MS = 30_000;
const settled = new WeakSet<Admission>();

/** The admission fields every spending path shares; the estimates are the caller's. */
export function admissionOf(ctx: ChatContext, deadline: number): Omit<AdmitRequestInput, "requestId" | "estimate" | "degradedEstimate"> {
  return { env: ctx.env, tenantId: ctx.tenant.tenantId, residency: ctx.tenant.policy.residency, keyId: ctx.tenant.keyId, task: ctx.hints.task, holdMs: deadline + HOLD_MARGIN_MS };
}

/**
 * Settles the request's own reservation once, whichever way the request ends, never blocking the
 * response: the settlement waits for the ledger row and carries it, so the spend and the row are
 * written together (in the budget object's outbox, or in the lease's next report).
 */
export function settleFirst(ctx: ChatContext, admission: Admission, actualUsd: number, actualTokens: number): void {
  if (settled.has(admission)) return;
  settled.add(admission);
  ctx.ledger.settleWith((event) => admission.settle(actualUsd, actualTokens, event));
}

/** One tier's chain: the per-attempt, first-token and idle timeouts sit under the request deadline. */
export async function callChain(ctx: ChatContext, req: ChatRequest, plan: RoutePlan, ids: ResponseIds, deadlineAt: number, admission: Admission): Promise<{ ok: true; value: ChainSuccess } | { ok: false; error: ChainFailure }> {
  const timeouts = ctx.tenant.policy.timeouts;
  const { trace } = ctx;
  const result = await callWithFallback({
    instances: providerInstances(ctx.env, { simFaultHeader: ctx.simFaultHeader }),
    chain: plan.chain,
    req,
    stream: req.stream === true,
    ids,
    deadlineAt,
    attemptTimeoutMs: timeouts.attempt_ms,
    firstTokenTimeoutMs: timeouts.first_token_ms,
    idleTimeoutMs: timeouts.idle_ms,
    maxAttemptsPerModel: MAX_ATTEMPTS_PER_MODEL,
    breaker: ctx.breaker,
    clientSignal: ctx.signal,
    // The session's step is topped up first: a fallback its max_usd cannot pay for reserves nothing.
    afford: async (model) => {
      const worst = admission.estimate.perModel[model.id];
      const ticket = ctx.session?.ticket;
      if (ticket && worst !== undefined && !(await ticket.cover(worst))) return false;
      return admission.cover(model.id);
    },
    ...(trace && { traceModel: (model, baseUrl) => startInference(trace, GEN_AI_OPERATION_NAME_VALUE_CHAT, model, baseUrl, req), traceFailure: failInference }),
  });
  // A completion's span ends here; a stream's when the stream does (the pipeline's meter ends it).
  if (result.ok && result.value.completion) endWithCompletion(result.value.span, trace, result.value.model, result.value.completion);
  return result;
}

/** Adds one priced attempt (a first answer or an escalation) to the request's ledger row. */
export function chargeUsage(event: LedgerEvent, model: CatalogModel, usage: Usage): number {
  const cost = priceUsd(model, usage.prompt_tokens, usage.completion_tokens);
  event.prompt_tokens += usage.prompt_tokens;
  event.completion_tokens += usage.completion_tokens;
  event.cost_usd += cost;
  return cost;
}

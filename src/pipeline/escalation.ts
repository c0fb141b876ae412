import { type Admission, admitRequest } from "../budget/admission";
import { estimateChain } from "../budget/budget-client";
import type { CatalogModel, Tier } from "../config/model-catalog";
import type { ChatCompletion } from "../providers/provider-types";
import { checkAnswer } from "../routing/answer-check";
import { nextTier, type RequestPlan, tierRank } from "../routing/route-plan";
import type { ChatRequest } from "../validate/chat-request";
import { maxOutputTokens } from "../validate/chat-request";
import type { ChatContext } from "./chat-types";
import { admissionOf, callChain, chargeUsage } from "./provider-call";

export interface Answer {
  completion: ChatCompletion;
  model: CatalogModel;
  tier: Tier;
  attempts: number;
}

export interface EscalationStep {
  from: Tier;
  to: Tier;
  reason: string;
  model?: string;
  cost_usd?: number;
  outcome: "answered" | "budget" | "failed";
}

/** Escalation asks for logprobs where it may need a confidence signal; the client gets them only if it asked. */
export function withConfidence(req: ChatRequest, escalating: boolean): ChatRequest {
  return escalating && req.logprobs == null ? { ...req, logprobs: true } : req;
}

export function stripConfidence(completion: ChatCompletion, original: ChatRequest): ChatCompletion {
  if (original.logprobs) return completion;
  return { ...completion, choices: completion.choices.map(({ logprobs: _logprobs, ...choice }) => choice) };
}

export interface EscalationInput {
  plan: RequestPlan;
  /** The request as the first answer was asked for (with the admitted output cap). */
  upstreamReq: ChatRequest;
  deadlineAt: number;
}

/**
 * The cascade: while the answer fails the check (schema, empty, refusal, cut, low confidence), ask
 * the next tier, each step admitted and settled against the budget like a request of its own, with
 * the chain the plan already holds for that tier. A step the budget cannot afford, or that fails,
 * leaves the best answer so far in place.
 */
export async function escalate(ctx: ChatContext, original: ChatRequest, first: Answer, input: EscalationInput): Promise<{ answer: Answer; steps: EscalationStep[] }> {
  const event = ctx.ledger.event;
  const steps: EscalationStep[] = [];
  let answer = first;
  // Only Tollgate's own cap makes a cut answer a failure: a client's max_tokens is a choice.
  const capped = maxOutputTokens(original) === undefined;
  for (let step = 1; ; step++) {
    const verdict = checkAnswer(answer.completion, original, { capped });
    const to = nextTier(answer.tier);
    const route = input.plan.escalations.find((p) => p.tier === to);
    if (verdict.ok || !to || !route || Date.now() >= input.deadlineAt) break;
    const estimate = estimateChain(input.upstreamReq, route.chain);
    let next: Admission;
    try {
      next = await admitRequest({ ...admissionOf(ctx, input.deadlineAt - Date.now()), requestId: `${event.request_id}:esc${step}`, estimate, degradedEstimate: estimate });
    } catch {
      steps.push({ from: answer.tier, to, reason: verdict.reason, outcome: "budget" });
      break;
    }
    if (next.degraded) {
      // A degrading budget caps the tier at fast: climbing now would spend what the cap protects.
      await next.settle(0, 0);
      steps.push({ from: answer.tier, to, reason: verdict.reason, outcome: "budget" });
      break;
    }
    const req = withConfidence(input.upstreamReq, tierRank(to) < tierRank("powerful"));
    const ids = { id: answer.completion.id, model: original.model, created: answer.completion.created };
    const result = await callChain(ctx, { ...req, stream: false }, route, ids, input.deadlineAt, next);
    if (!result.ok || !result.value.completion) {
      await next.settle(0, 0);
      steps.push({ from: answer.tier, to, reason: verdict.reason, outcome: "failed" });
      break;
    }
    const { completion, model, attempts } = result.value;
    const cost = chargeUsage(event, model, completion.usage);
    ctx.waitUntil(next.settle(cost, completion.usage.total_tokens));
    steps.push({ from: answer.tier, to, reason: verdict.reason, model: model.id, cost_usd: cost, outcome: "answered" });
    answer = { completion, model, tier: route.tier, attempts: answer.attempts + attempts.length };
  }
  return { answer, steps };
}

import { type CatalogModel, priceUsd } from "../config/model-catalog";
import type { Residency } from "../config/model-catalog";
import { tenantObject } from "../config/tenant-objects";
import { parseLimits, parsePolicy } from "../config/tenant-policy";
import { countPromptTokens, countText } from "../tokens/count-tokens";
import { type ChatRequest, maxOutputTokens } from "../validate/chat-request";
import type { BudgetConfig } from "./budget-types";

export function budgetStub(env: Env, tenantId: string, residency: Residency | null) {
  return tenantObject(env.TENANT_BUDGET, tenantId, residency);
}

/** For callers that know only the tenant id (cron, admin): its residency, from the source of truth. */
export async function tenantResidency(env: Env, tenantId: string): Promise<Residency | null> {
  const row = await env.DB.prepare("SELECT policy_json FROM tenants WHERE id = ?").bind(tenantId).first<{ policy_json: string | null }>();
  return row ? parsePolicy(row.policy_json).residency : null;
}

// Our tokenizer is not every provider's: a small margin keeps the estimate an upper bound.
const PROMPT_MARGIN = 1.1;
const PROMPT_SLACK_TOKENS = 16;

export interface CostEstimate {
  promptTokens: number;
  /** The output allowance: the request's max_tokens, or the model's default, which is then enforced upstream. */
  outputTokens: number;
  usd: number;
}

/** Worst-case cost of a request at a model: padded prompt tokens plus the whole output allowance. */
export function estimateCost(req: ChatRequest, model: CatalogModel, promptTokens = countPromptTokens(req)): CostEstimate {
  const padded = Math.ceil(promptTokens * PROMPT_MARGIN) + PROMPT_SLACK_TOKENS;
  const outputTokens = maxOutputTokens(req) ?? model.default_max_output;
  return { promptTokens: padded, outputTokens, usd: priceUsd(model, padded, outputTokens) };
}

/** What a request may cost across a chain: `usd` is the first model's worst case, reserved at admission. */
export interface ChainEstimate extends CostEstimate {
  /** Per model id, the worst case at that model: a dearer fallback tops the reservation up to it first. */
  perModel: Record<string, number>;
}

/** Every model of the chain gets the same output allowance (the first model's), enforced upstream. */
export function estimateChain(req: ChatRequest, chain: readonly CatalogModel[], promptTokens = countPromptTokens(req)): ChainEstimate {
  const first = chain[0];
  if (!first) return { promptTokens: 0, outputTokens: 0, usd: 0, perModel: {} };
  const base = estimateCost(req, first, promptTokens);
  const perModel: Record<string, number> = {};
  for (const model of chain) perModel[model.id] = priceUsd(model, base.promptTokens, base.outputTokens);
  return { ...base, perModel };
}

/** Input-only models (embeddings): the padded token count is the whole cost. */
export function estimateInput(texts: readonly string[], model: CatalogModel, counts: readonly number[] = texts.map(countText)): ChainEstimate {
  const tokens = counts.reduce((sum, count) => sum + Math.ceil(count * PROMPT_MARGIN) + PROMPT_SLACK_TOKENS, 0);
  const usd = priceUsd(model, tokens, 0);
  return { promptTokens: tokens, outputTokens: 0, usd, perModel: { [model.id]: usd } };
}

/**
 * A reservation is only an upper bound if the provider cannot write more than the allowance, so a
 * request without max_tokens is sent with the allowance the budget reserved for.
 */
export function withOutputCap(req: ChatRequest, estimate: CostEstimate): ChatRequest {
  return maxOutputTokens(req) === undefined ? { ...req, max_tokens: estimate.outputTokens } : req;
}

export async function pushBudgetConfig(env: Env, tenantId: string): Promise<void> {
  const [budgets, tenant] = await Promise.all([
    env.DB.prepare("SELECT scope, period, limit_usd, alert_at, degrade_at, throttle_at FROM budgets WHERE tenant_id = ?").bind(tenantId).all<BudgetConfig["budgets"][number]>(),
    env.DB.prepare("SELECT limits_json, policy_json FROM tenants WHERE id = ?").bind(tenantId).first<{ limits_json: string; policy_json: string | null }>(),
  ]);
  await budgetStub(env, tenantId, parsePolicy(tenant?.policy_json).residency).configure(tenantId, { budgets: budgets.results, limits: parseLimits(tenant?.limits_json) });
}

import { type CatalogModel, priceUsd } from "../config/model-catalog";
import { parseLimits } from "../config/tenant-policy";
import { countPromptTokens } from "../tokens/count-tokens";
import { type ChatRequest, maxOutputTokens } from "../validate/chat-request";
import type { BudgetConfig } from "./budget-types";

export function budgetStub(env: Env, tenantId: string) {
  return env.TENANT_BUDGET.get(env.TENANT_BUDGET.idFromName(tenantId));
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
    env.DB.prepare("SELECT limits_json FROM tenants WHERE id = ?").bind(tenantId).first<{ limits_json: string }>(),
  ]);
  await budgetStub(env, tenantId).configure(tenantId, { budgets: budgets.results, limits: parseLimits(tenant?.limits_json) });
}

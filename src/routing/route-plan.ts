import { type CatalogModel, findModel, type Tier, TIERS } from "../config/model-catalog";
import type { TenantPolicy } from "../config/tenant-policy";
import { GatewayError } from "../errors";
import type { RequestHints } from "../validate/request-hints";

export interface RoutePlan {
  tier: Tier;
  /** Ordered candidates: the first is preferred, the rest are fallbacks. */
  chain: CatalogModel[];
  /** Why this tier: recorded in the ledger. */
  reason: string;
  auto: boolean;
}

/**
 * Everything routing decides for a request, computed once before the cache: the chain it is served
 * at, the chain it falls to when the budget is degrading, and the chains escalation may climb to.
 * Admission prices these chains; it never plans.
 */
export interface RequestPlan {
  primary: RoutePlan;
  /** The same request capped at the fast tier. */
  degraded: RoutePlan;
  /** For `auto`: the tiers above the primary one, cheapest first, up to the tenant's max_tier. */
  escalations: RoutePlan[];
}

export interface TierSuggestion {
  tier: Tier;
  reason: string;
}

export interface PlanInput {
  model: string;
  policy: TenantPolicy;
  hints: RequestHints;
  catalog: readonly CatalogModel[];
  /** Complexity and learned-router signals, consulted only for `auto` with no explicit tier. */
  suggest?: () => TierSuggestion | undefined;
  /** The budget's cap when it is degrading. */
  budgetCap?: Tier;
}

export const tierRank = (tier: Tier): number => TIERS.indexOf(tier);
export const minTier = (a: Tier, b: Tier): Tier => (tierRank(a) <= tierRank(b) ? a : b);

export function nextTier(tier: Tier): Tier | undefined {
  return TIERS[tierRank(tier) + 1];
}

/** Models of a tier in catalog order; an empty tier borrows the nearest cheaper one, then dearer. */
export function chainForTier(catalog: readonly CatalogModel[], tier: Tier): CatalogModel[] {
  const order = [...TIERS].sort((a, b) => {
    const da = tierRank(a) - tierRank(tier);
    const db = tierRank(b) - tierRank(tier);
    return (da <= 0 ? -da * 2 : da * 2 + 1) - (db <= 0 ? -db * 2 : db * 2 + 1);
  });
  for (const candidate of order) {
    const models = catalog.filter((m) => m.tier === candidate);
    if (models.length) return models;
  }
  return [];
}

/** A request's data may go to private models only: by its header or by the tenant's policy. */
export const isSensitive = (hints: RequestHints, policy: TenantPolicy): boolean => hints.sensitive === "sensitive" || policy.sensitive;

function eligible(input: Pick<PlanInput, "hints" | "policy" | "catalog">): CatalogModel[] {
  const sensitive = isSensitive(input.hints, input.policy);
  const allowed = input.policy.allowed_models;
  const region = input.policy.residency;
  return input.catalog.filter((m) => (!sensitive || m.private) && (!allowed || allowed.includes(m.id)) && (!region || m.regions.includes(region)));
}

/** Why an existing model cannot serve this request (the first rule it breaks). */
function refusal(model: CatalogModel, input: Pick<PlanInput, "hints" | "policy">): string {
  if (isSensitive(input.hints, input.policy) && !model.private) return "is not private and this request is marked sensitive";
  const region = input.policy.residency;
  if (region && !model.regions.includes(region)) return `is not tagged for this tenant's '${region}' data residency`;
  return "is not allowed for this tenant";
}

/** The tier an explicit header or the tenant's policy fixes for `auto`, if any: no signal is consulted then. */
export function fixedTier(input: Pick<PlanInput, "policy" | "hints">): TierSuggestion | undefined {
  const task = input.hints.task;
  if (input.hints.tier && input.hints.tier !== "auto") return { tier: input.hints.tier, reason: "header" };
  const byTask = input.policy.task_tiers[task];
  if (byTask && byTask !== "auto") return { tier: byTask, reason: `policy:task:${task}` };
  if (input.policy.default_tier !== "auto") return { tier: input.policy.default_tier, reason: "policy:default" };
  return undefined;
}

function autoTier(input: PlanInput): TierSuggestion {
  return fixedTier(input) ?? input.suggest?.() ?? { tier: "balanced", reason: "default" };
}

export function planRoute(input: PlanInput): RoutePlan {
  const models = eligible(input);
  const sensitive = isSensitive(input.hints, input.policy);
  if (input.model !== "auto") {
    const model = findModel(input.catalog, input.model);
    if (!model) throw GatewayError.invalid(`Unknown model '${input.model.slice(0, 100)}'; GET /v1/models lists the catalog`, "model");
    if (!models.includes(model)) throw GatewayError.invalid(`Model '${model.id}' ${refusal(model, input)}`, "model");
    let tier = minTier(model.tier, input.policy.max_tier);
    if (input.budgetCap) tier = minTier(tier, input.budgetCap);
    if (tier === model.tier) {
      const fallbacks = models.filter((m) => m.tier === model.tier && m !== model);
      return { tier, chain: [model, ...fallbacks], reason: "explicit", auto: false };
    }
    return { tier, chain: chainForTier(models, tier), reason: input.budgetCap === tier ? "budget-cap" : "policy:max_tier", auto: false };
  }
  const suggestion = autoTier(input);
  let tier = minTier(suggestion.tier, input.policy.max_tier);
  let reason = suggestion.reason;
  if (input.budgetCap && tierRank(input.budgetCap) < tierRank(tier)) {
    tier = input.budgetCap;
    reason = `${reason}+budget-cap`;
  }
  const chain = chainForTier(models, tier);
  if (chain.length === 0) {
    const region = input.policy.residency;
    const why = sensitive ? "No private model is available for a sensitive request" : "No model is available for this tenant";
    throw new GatewayError(503, "no_healthy_provider", region ? `${why} among the models tagged for its '${region}' data residency` : why);
  }
  return { tier, chain, reason, auto: true };
}

export function planRequest(input: PlanInput): RequestPlan {
  const primary = planRoute(input);
  const degraded = primary.tier === "fast" ? primary : planRoute({ ...input, budgetCap: "fast" });
  const escalations: RoutePlan[] = [];
  if (primary.auto) {
    for (let tier = nextTier(primary.tier); tier && tierRank(tier) <= tierRank(input.policy.max_tier); tier = nextTier(tier)) {
      const plan = planRoute({ ...input, model: "auto", hints: { ...input.hints, tier } });
      // An empty tier borrows a neighbour's chain: climbing to it would buy nothing new.
      if (plan.chain[0]?.tier === tier) escalations.push(plan);
    }
  }
  return { primary, degraded, escalations };
}

/** Embeddings name their model; the tenant's policy (sensitive data, allowed models) still decides. */
export function planEmbedding(input: Omit<PlanInput, "suggest" | "budgetCap">): RoutePlan {
  const model = input.catalog.find((m) => m.id === input.model && m.kind === "embedding");
  if (!model) throw GatewayError.invalid(`Unknown embedding model '${input.model.slice(0, 100)}'; GET /v1/models lists the catalog`, "model");
  if (!eligible(input).includes(model)) throw GatewayError.invalid(`Model '${model.id}' ${refusal(model, input)}`, "model");
  return { tier: model.tier, chain: [model], reason: "explicit", auto: false };
}

import type { CatalogModel } from "../config/model-catalog";
import { GatewayError } from "../errors";
import { type PlanInput, planRoute, type RoutePlan } from "../routing/route-plan";
import type { ChatRequest } from "../validate/chat-request";
import { budgetStub, type CostEstimate, estimateCost, withOutputCap } from "./budget-client";
import type { AdmitResult } from "./budget-types";

export interface Admission {
  plan: RoutePlan;
  /** The request as it goes upstream: with an output cap when the client set none. */
  req: ChatRequest;
  estimate: CostEstimate;
  result: AdmitResult;
  degraded: boolean;
  /** Swaps the reservation for the actual cost; never blocks the response. */
  settle: (actualUsd: number, actualTokens: number) => Promise<void>;
}

export interface AdmitRequestInput {
  env: Env;
  tenantId: string;
  keyId: string;
  requestId: string;
  task: string;
  req: ChatRequest;
  plan: RoutePlan;
  planInput: PlanInput;
  deadlineMs: number;
}

const HOLD_MARGIN_MS = 30_000;

function refusal(result: AdmitResult): GatewayError {
  const headers: Record<string, string> = result.retryAfterS === undefined ? {} : { "retry-after": String(result.retryAfterS) };
  if (result.code === "budget_exceeded") return new GatewayError(402, "budget_exceeded", result.message ?? "Budget exhausted", null, headers);
  return new GatewayError(429, result.code ?? "rate_limited", result.message ?? "Rate limited", null, { "retry-after": String(result.retryAfterS ?? 1), ...headers });
}

async function callOnceMore<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch {
    // A Durable Object can be reset (deploy, eviction) between calls; one retry reaches the new instance.
    return run();
  }
}

/**
 * Step 5, one round trip: rate limits, concurrency and every applicable budget are checked, and the
 * worst-case cost reserved, in a single call to the tenant's budget object. The fast-tier estimate
 * travels along, so the object can reserve the cheaper amount itself when the budget is degrading.
 */
export async function admitRequest(input: AdmitRequestInput): Promise<Admission> {
  const { env, plan, req } = input;
  const first = plan.chain[0] as CatalogModel;
  const degradedPlan = plan.tier === "fast" ? plan : planRoute({ ...input.planInput, budgetCap: "fast" });
  const estimate = estimateCost(req, first);
  const degradedEstimate = estimateCost(req, degradedPlan.chain[0] as CatalogModel, estimate.promptTokens);
  const stub = budgetStub(env, input.tenantId);
  let result: AdmitResult;
  try {
    result = await callOnceMore(() =>
      stub.admit(input.tenantId, {
        requestId: input.requestId,
        task: input.task,
        keyId: input.keyId,
        estimateUsd: estimate.usd,
        degradedEstimateUsd: degradedEstimate.usd,
        estimateTokens: estimate.promptTokens + estimate.outputTokens,
        holdMs: input.deadlineMs + HOLD_MARGIN_MS,
      }),
    );
  } catch (error) {
    // Fail closed: without the budget object nobody can promise the budget holds.
    console.error(JSON.stringify({ level: "error", msg: "budget admit failed", tenant: input.tenantId, error: String(error) }));
    throw new GatewayError(503, "budget_unavailable", "The budget service is unavailable; retry shortly", null, { "retry-after": "1" });
  }
  if (result.decision === "deny") throw refusal(result);
  const degraded = result.decision !== "allow";
  const chosen = degraded ? degradedEstimate : estimate;
  return {
    plan: degraded ? degradedPlan : plan,
    req: withOutputCap(req, chosen),
    estimate: chosen,
    result,
    degraded,
    settle: (actualUsd, actualTokens) =>
      callOnceMore(() => stub.settle(input.tenantId, { requestId: input.requestId, actualUsd, actualTokens })).catch((error) =>
        console.error(JSON.stringify({ level: "error", msg: "budget settle failed; the alarm will release the reservation", tenant: input.tenantId, error: String(error) })),
      ),
  };
}

import { GatewayError } from "../errors";
import type { LedgerEvent } from "../ledger/ledger-event";
import { budgetStub, type ChainEstimate } from "./budget-client";
import type { AdmitResult } from "./budget-types";

export interface Admission {
  /** The budget is degrading: the caller serves its degraded plan, priced by `estimate`. */
  degraded: boolean;
  estimate: ChainEstimate;
  result: AdmitResult;
  /** What the object holds for this request now: the first model's worst case, raised by `cover`. */
  reservedUsd: number;
  /**
   * Makes sure the reservation pays for this model's worst case before it is tried: a dearer fallback
   * tops it up atomically in the object, and one the budget cannot cover is refused (false).
   */
  cover: (modelId: string) => Promise<boolean>;
  /** Swaps the reservation for the actual cost; with the ledger row, both land in one write. */
  settle: (actualUsd: number, actualTokens: number, event?: LedgerEvent) => Promise<void>;
}

/** What admission needs, all of it estimates: the route was planned before, and is not admission's business. */
export interface AdmitRequestInput {
  env: Env;
  tenantId: string;
  keyId: string;
  requestId: string;
  task: string;
  estimate: ChainEstimate;
  /** The estimate for the degraded plan (the fast tier), for a budget that is degrading. */
  degradedEstimate: ChainEstimate;
  /** A reservation held longer than this (the worker died) is released by the object's alarm. */
  holdMs: number;
}

const PRICE_EPSILON = 1e-12;

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
 * first model's worst case reserved, in a single call to the tenant's budget object (a dearer
 * fallback raises it first, through `cover`). The degraded
 * estimate travels along, so the object can reserve the cheaper amount itself when the budget is
 * degrading. Every path that spends comes through here: chat, messages, embeddings, jobs, escalation.
 */
export async function admitRequest(input: AdmitRequestInput): Promise<Admission> {
  const { env, estimate, degradedEstimate } = input;
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
        holdMs: input.holdMs,
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
  const admission: Admission = {
    degraded,
    estimate: chosen,
    result,
    reservedUsd: result.reservedUsd,
    cover: async (modelId) => {
      const needed = chosen.perModel[modelId];
      if (needed === undefined) return false;
      if (needed <= admission.reservedUsd + PRICE_EPSILON) return true;
      try {
        const topped = await callOnceMore(() => stub.topUp(input.tenantId, { requestId: input.requestId, amountUsd: needed }));
        if (topped.granted) admission.reservedUsd = topped.reservedUsd;
        return topped.granted;
      } catch (error) {
        console.error(JSON.stringify({ level: "error", msg: "budget top-up failed; the dearer fallback is skipped", tenant: input.tenantId, error: String(error) }));
        return false;
      }
    },
    settle: (actualUsd, actualTokens, event) =>
      callOnceMore(() => stub.settle(input.tenantId, { requestId: input.requestId, actualUsd, actualTokens, ...(event ? { event } : {}) })).catch((error: unknown) => {
        console.error(JSON.stringify({ level: "error", msg: "budget settle failed; the alarm will release the reservation", tenant: input.tenantId, error: String(error) }));
        // A ledger row that rode along must take another way: the caller records it itself.
        if (event) throw error;
      }),
  };
  return admission;
}

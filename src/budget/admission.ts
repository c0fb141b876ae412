import { ulid } from "../unique-id";
import { GatewayError } from "../errors";
import type { LedgerEvent } from "../ledger/ledger-event";
import type { Residency } from "../config/model-catalog";
import { budgetStub, type ChainEstimate } from "./budget-client";
import { recordLedgerEvent } from "../ledger/ledger-consumer";
import { isolateLeases, LEASE_TTL_MS, LeaseBook, type LeaseIo, type LeaseTicket, LocalLease } from "./budget-lease";
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
  /** The tenant's data residency: its budget object lives in that jurisdiction. */
  residency: Residency | null;
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
 * Step 6. Most requests are admitted in memory, against this isolate's lease on the tenant's budget,
 * rate and concurrency (no round trip). Without a usable lease, one round trip to the tenant's budget
 * object checks rate limits, concurrency and every applicable budget, reserves the first model's
 * worst case, and asks for a new lease in the same call; near a limit the object grants none, so the
 * last of a budget is admitted one request at a time. The degraded estimate travels along, so the
 * object can reserve the cheaper amount itself when the budget is degrading. Every path that spends
 * comes through here: chat, messages, embeddings, jobs, escalation.
 */
export async function admitRequest(input: AdmitRequestInput): Promise<Admission> {
  const key = LeaseBook.key(input.tenantId, input.task, input.keyId);
  const tokens = input.estimate.promptTokens + input.estimate.outputTokens;
  const local = isolateLeases.admit(key, input.estimate.usd, tokens);
  if (local) return leaseAdmission(input, local.lease, local.ticket);
  const asking = isolateLeases.inFlight(key);
  if (asking) {
    await asking;
    const after = isolateLeases.admit(key, input.estimate.usd, tokens);
    if (after) return leaseAdmission(input, after.lease, after.ticket);
  }
  return objectAdmission(input, key);
}

function leaseAdmission(input: AdmitRequestInput, lease: LocalLease, ticket: LeaseTicket): Admission {
  const { estimate } = input;
  return {
    degraded: false,
    estimate,
    result: { decision: "allow", remainingUsd: lease.remainingUsd, reservedUsd: ticket.reservedUsd, state: "ok" },
    get reservedUsd() {
      return ticket.reservedUsd;
    },
    cover: async (modelId) => {
      const needed = estimate.perModel[modelId];
      return needed !== undefined && ticket.cover(needed);
    },
    settle: (actualUsd, actualTokens, event) => ticket.settle(actualUsd, actualTokens, event),
  };
}

async function objectAdmission(input: AdmitRequestInput, key: string): Promise<Admission> {
  const { env, estimate, degradedEstimate } = input;
  const leaseId = `lease_${ulid()}`;
  const askLease = isolateLeases.wantsLease(key);
  let result: AdmitResult;
  let lease: LocalLease | undefined;
  try {
    result = await isolateLeases.asked(
      key,
      callOnceMore(() =>
        budgetStub(env, input.tenantId, input.residency).admit(input.tenantId, {
          requestId: input.requestId,
          task: input.task,
          keyId: input.keyId,
          estimateUsd: estimate.usd,
          degradedEstimateUsd: degradedEstimate.usd,
          estimateTokens: estimate.promptTokens + estimate.outputTokens,
          holdMs: input.holdMs,
          ...(askLease ? { lease: { leaseId, ttlMs: LEASE_TTL_MS } } : {}),
        }),
      ),
    );
  } catch (error) {
    // Fail closed: without the budget object nobody can promise the budget holds.
    console.error(JSON.stringify({ level: "error", msg: "budget admit failed", tenant: input.tenantId, error: String(error) }));
    throw new GatewayError(503, "budget_unavailable", "The budget service is unavailable; retry shortly", null, { "retry-after": "1" });
  }
  if (result.lease) {
    // A stub belongs to the request that made it: each report makes its own, in the request that sends it.
    const io: LeaseIo = {
      send: async (report) => {
        await callOnceMore(() => budgetStub(env, input.tenantId, input.residency).reportLease(input.tenantId, report));
      },
      recordElsewhere: async (events) => {
        await Promise.allSettled(events.map((event) => recordLedgerEvent(env, event)));
      },
    };
    lease = new LocalLease(result.lease, io);
    isolateLeases.install(key, lease);
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
        const topped = await callOnceMore(() => budgetStub(env, input.tenantId, input.residency).topUp(input.tenantId, { requestId: input.requestId, amountUsd: needed }));
        if (topped.granted) admission.reservedUsd = topped.reservedUsd;
        return topped.granted;
      } catch (error) {
        console.error(JSON.stringify({ level: "error", msg: "budget top-up failed; the dearer fallback is skipped", tenant: input.tenantId, error: String(error) }));
        return false;
      }
    },
    settle: (actualUsd, actualTokens, event) =>
      // A fresh stub each try: one that saw the object reset stays broken.
      callOnceMore(() => budgetStub(env, input.tenantId, input.residency).settle(input.tenantId, { requestId: input.requestId, actualUsd, actualTokens, ...(event ? { event } : {}) })).catch((error: unknown) => {
        console.error(JSON.stringify({ level: "error", msg: "budget settle failed; the alarm will release the reservation", tenant: input.tenantId, error: String(error) }));
        // A ledger row that rode along must take another way: the caller records it itself.
        if (event) throw error;
      }).then(() => lease?.watchIdle()),
  };
  return admission;
}

import type { Budget } from "../config/budget-config";
import type { LedgerEvent } from "../ledger/ledger-event";
import type { TenantLimits } from "../config/tenant-policy";
import type { Period, ThresholdState } from "./budget-math";

export interface BudgetConfig {
  budgets: Budget[];
  limits: TenantLimits;
}

export interface AdmitInput {
  requestId: string;
  task: string;
  keyId: string;
  /** Worst-case cost at the planned model, and at the fast tier in case the budget is degrading. */
  estimateUsd: number;
  degradedEstimateUsd: number;
  /** Prompt tokens plus the output allowance, for TPM. */
  estimateTokens: number;
  /** A reservation not settled by then (a worker died) is released by the alarm. */
  holdMs: number;
  /** Asks for a lease in the same call: granted only to a tenant far from its limits. */
  lease?: { leaseId: string; ttlMs: number };
  now?: number;
}

export type AdmitDecision = "allow" | "degrade" | "throttle" | "deny";

export interface AdmitResult {
  decision: AdmitDecision;
  code?: "budget_exceeded" | "rate_limited" | "concurrency_limited";
  message?: string;
  retryAfterS?: number;
  /** The smallest remaining amount over the budgets that apply, after this reservation. */
  remainingUsd: number | null;
  reservedUsd: number;
  state: ThresholdState;
  lease?: LeaseGrant;
}

export interface TopUpInput {
  requestId: string;
  /** The reservation's new total: the worst case at the dearer model about to be tried. */
  amountUsd: number;
}

export interface TopUpResult {
  granted: boolean;
  reservedUsd: number;
}

export interface SettleInput {
  requestId: string;
  actualUsd: number;
  actualTokens: number;
  /**
   * The request's ledger row, when it rides with the settlement: the object keeps it in an outbox in
   * the same write as the spend, and forwards it to the ledger, so spend and ledger cannot drift apart.
   */
  event?: LedgerEvent;
  now?: number;
}

export interface BudgetStatus {
  scope: string;
  period: Period;
  period_key: string;
  limit_usd: number;
  spent_usd: number;
  reserved_usd: number;
  remaining_usd: number;
  state: ThresholdState;
  thresholds: { alert_at: number; degrade_at: number; throttle_at: number };
  resets_at: string | null;
  projected_month_end_usd?: number | null;
}

/** What goes on the alerts queue; the consumer signs it and POSTs it to the tenant's webhook. */
export interface AlertEvent {
  type: "budget_alert";
  id: string;
  tenant_id: string;
  kind: "threshold" | "velocity";
  scope: string;
  period: Period;
  period_key: string;
  threshold: number;
  spent_usd: number;
  limit_usd: number;
  projected_usd: number | null;
  at: number;
}

export interface SpendKey {
  scope: string;
  period: Budget["period"];
  period_key: string;
}

/** A slice of a tenant's budget, rate and concurrency that one isolate admits against locally. */
export interface LeaseGrant {
  leaseId: string;
  /** The budget periods the slice was cut from: spend under the lease is billed there. */
  keys: SpendKey[];
  /** Dollars the slice holds, or null when no budget applies (rate and slots still do). */
  usd: number | null;
  requests: number;
  tokens: number;
  slots: number;
  /** The isolate stops admitting under it then; the object holds the slice a while longer for requests in flight. */
  expiresAt: number;
}

/** What an isolate did under a lease since its last report; `close` gives the rest back. */
export interface LeaseReport {
  leaseId: string;
  /** The budgets the lease was cut from, so spend is billed there even after the lease expired. */
  keys: SpendKey[];
  /** What the reported requests reserved out of the slice, and what they actually cost. */
  reservedUsd: number;
  spentUsd: number;
  /** Each reported request's index in the lease and its actual tokens (for TPM). */
  settled: { index: number; tokens: number }[];
  events: LedgerEvent[];
  /** Requests admitted under the lease so far: on close, the rate-window rows past this are given back. */
  usedRequests: number;
  close: boolean;
}

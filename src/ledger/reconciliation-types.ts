import type { Budget } from "../config/budget-config";

/** One budget's counter in the tenant's budget object, for one period. */
export interface SpendSnapshot {
  scope: string;
  period: Budget["period"];
  period_key: string;
  spent: number;
  reserved: number;
}

/** What the budget object tells reconciliation: its counters, and what it cannot account for alone. */
export interface BudgetObjectState {
  spend: SpendSnapshot[];
  /**
   * Requests admitted but never settled: reservations that expired unsettled (the worker died) and
   * live ones. If the ledger holds a request's row, its settlement was lost (or is late) and the row's
   * cost is what it would have billed.
   */
  unsettled: { id: string; expired: boolean }[];
  /** Reservations still live: their cost may already be in the ledger (a job's D1 batch) but not in spend. */
  in_flight: { count: number; usd: number };
  released: number;
  outbox: { forwarded: number; failed: number; pending: number };
}

/** A lost settlement proven by the ledger: the request's row exists, so its cost is added to spend. */
export interface LostSettlement {
  id: string;
  cost_usd: number;
}

/** A repaired settlement and the budget periods its cost was added to. */
export interface RepairedSettlement extends LostSettlement {
  keys: { scope: string; period: string; period_key: string }[];
}

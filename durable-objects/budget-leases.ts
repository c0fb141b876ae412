import type { LeaseGrant, LeaseReport, SpendKey } from "../src/budget/budget-types";
import type { Budget } from "../src/config/budget-config";
import type { TenantLimits } from "../src/config/tenant-policy";

/** What the object's admission already worked out for this tenant, task and key, at this instant. */
export interface LeaseContext {
  budgets: { budget: Budget; spent: number; reserved: number; key: SpendKey }[];
  limits: TenantLimits;
  /** Requests and tokens in the rate window, and slots in use, before this grant. */
  windowRequests: number;
  windowTokens: number;
  inFlight: number;
  /** The worst case of the request asking: a slice must hold several like it. */
  estimateUsd: number;
  now: number;
}

// A lease takes a small share of what is left, so that several isolates can hold one at once and a
// limit's last few percent are admitted one request at a time, through the object.
const BUDGET_SHARE = 0.1;
const RATE_SHARE = 0.25;
const SLOT_SHARE = 0.5;
/** Below this many requests a lease is not worth its bookkeeping: the object admits one by one. */
const MIN_REQUESTS = 4;
/** Each request a lease may admit holds a row in the rate window; this bounds the rows one grant writes. */
const MAX_REQUESTS = 200;
/** The object keeps a lease's slice reserved this long past its end, for requests still in flight. */
const LEASE_HOLD_MS = 150_000;

type LeaseRow = { id: string; keys_json: string; usd: number; requests: number; slots: number; expires_at: number };

/**
 * Slices of budget, rate and concurrency that an isolate admits against locally (DESIGN: budget
 * leases). A slice is reserved in the same tables as single requests — spend.reserved, rate_log and
 * the in-flight count — so every other admission sees it, and a limit is never overspent, whether the
 * isolate settles it or dies holding it (the alarm releases it after LEASE_HOLD_MS).
 */
export class BudgetLeases {
  constructor(
    private readonly sql: SqlStorage,
    private readonly bump: (key: SpendKey, spent: number, reserved: number) => void,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, keys_json TEXT NOT NULL, usd REAL NOT NULL,
      requests INTEGER NOT NULL, slots INTEGER NOT NULL, expires_at INTEGER NOT NULL)`);
  }

  /** Slots that outstanding leases hold, for the object's in-flight count. */
  slotsHeld(): number {
    return this.sql.exec<{ n: number }>(`SELECT COALESCE(SUM(slots), 0) AS n FROM leases`).one().n;
  }

  nextExpiry(): number | null {
    return this.sql.exec<{ at: number | null }>(`SELECT MIN(expires_at) AS at FROM leases`).one().at;
  }

  /** A slice, or null when the tenant is too near a limit for one: then every request goes through the object. */
  grant(id: string, ctx: LeaseContext, ttlMs: number): LeaseGrant | null {
    const requests = Math.min(MAX_REQUESTS, Math.floor((ctx.limits.rpm - ctx.windowRequests) * RATE_SHARE));
    const tokens = Math.floor((ctx.limits.tpm - ctx.windowTokens) * RATE_SHARE);
    // A lease cannot use more slots than it has requests; holding more would starve the next lease.
    const slots = Math.min(requests, Math.floor((ctx.limits.max_in_flight - ctx.inFlight) * SLOT_SHARE));
    if (requests < MIN_REQUESTS || slots < 1 || tokens < 1) return null;
    let usd: number | null = null;
    for (const { budget, spent, reserved } of ctx.budgets) {
      const left = budget.limit_usd - spent - reserved;
      usd = Math.min(usd ?? Number.POSITIVE_INFINITY, left * BUDGET_SHARE);
    }
    // A slice too small for a few requests like this one would only lock budget away from the others.
    if (usd !== null && usd < ctx.estimateUsd * MIN_REQUESTS) return null;
    const keys = ctx.budgets.map((b) => b.key);
    const amount = usd ?? 0;
    for (const key of keys) this.bump(key, 0, amount);
    const expiresAt = ctx.now + ttlMs;
    this.sql.exec(`INSERT INTO leases (id, keys_json, usd, requests, slots, expires_at) VALUES (?, ?, ?, ?, ?, ?)`, id, JSON.stringify(keys), amount, requests, slots, expiresAt + LEASE_HOLD_MS);
    // Each request the slice allows counts in the rate window now; the unused ones are given back.
    const perRequest = Math.floor(tokens / requests);
    for (let i = 0; i < requests; i++) this.sql.exec(`INSERT OR REPLACE INTO rate_log (id, at, tokens) VALUES (?, ?, ?)`, `${id}#${i}`, ctx.now, perRequest);
    return { leaseId: id, keys, usd, requests, tokens: perRequest * requests, slots, expiresAt };
  }

  /**
   * What an isolate admitted under a lease: spend is billed on the lease's budgets (even if the lease
   * itself has expired meanwhile), the reservation shrinks by what those requests had reserved, and a
   * closing report gives back the rest of the slice.
   */
  report(input: LeaseReport): SpendKey[] {
    const lease = this.sql.exec<LeaseRow>(`SELECT * FROM leases WHERE id = ?`, input.leaseId).toArray()[0];
    const keys = lease ? (JSON.parse(lease.keys_json) as SpendKey[]) : input.keys;
    const released = lease ? Math.min(lease.usd, input.reservedUsd) : 0;
    for (const key of keys) this.bump(key, input.spentUsd, -released);
    if (lease) {
      this.sql.exec(`UPDATE leases SET usd = usd - ? WHERE id = ?`, released, input.leaseId);
      // The rate window keeps one row per request the lease admitted, with its real tokens.
      for (const { index, tokens } of input.settled) this.sql.exec(`UPDATE rate_log SET tokens = ? WHERE id = ?`, tokens, `${input.leaseId}#${index}`);
      if (input.close) this.release(input.leaseId, input.usedRequests);
    }
    return keys;
  }

  /** Gives back what is left of a lease: its budget slice, its slots and the requests it never used. */
  private release(id: string, usedRequests: number): void {
    const lease = this.sql.exec<LeaseRow>(`SELECT * FROM leases WHERE id = ?`, id).toArray()[0];
    if (!lease) return;
    for (const key of JSON.parse(lease.keys_json) as SpendKey[]) this.bump(key, 0, -lease.usd);
    for (let i = usedRequests; i < lease.requests; i++) this.sql.exec(`DELETE FROM rate_log WHERE id = ?`, `${id}#${i}`);
    this.sql.exec(`DELETE FROM leases WHERE id = ?`, id);
  }

  /** Leases whose isolate never closed them: their slice goes back (what they spent comes from the ledger). */
  releaseExpired(now: number): number {
    const expired = this.sql.exec<{ id: string; requests: number }>(`SELECT id, requests FROM leases WHERE expires_at <= ?`, now).toArray();
    for (const lease of expired) {
      // Unused request rows cannot be told from used ones any more; they age out of the window.
      this.release(lease.id, lease.requests);
    }
    return expired.length;
  }
}

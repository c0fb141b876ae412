import type { LedgerEvent } from "../ledger/ledger-event";
import type { LeaseGrant, LeaseReport } from "./budget-types";

/** How long an isolate admits under one lease before it asks the object again. */
export const LEASE_TTL_MS = 10_000;
/** Settlements wait this long to be reported together. */
const REPORT_DELAY_MS = 250;
const REPORT_BATCH = 64;
const USD_EPSILON = 1e-12;

interface Settled {
  index: number;
  reservedUsd: number;
  spentUsd: number;
  tokens: number;
  event?: LedgerEvent;
  /** Resolves once the report carrying this settlement has reached the object. */
  done: { resolve: () => void; reject: (error: unknown) => void };
}

/** One request admitted under a lease: it settles into the lease's next report, never with its own call. */
export interface LeaseTicket {
  readonly index: number;
  reservedUsd: number;
  /** Draws more of the slice for a dearer fallback; false when the slice has not enough left. */
  cover(totalUsd: number): boolean;
  /**
   * Resolves when the report carrying it has reached the object (the caller's waitUntil keeps the
   * isolate alive until then); rejects if that report failed, so the caller records the row another
   * way (the settlement itself stays queued for the next report).
   */
  settle(actualUsd: number, actualTokens: number, event?: LedgerEvent): Promise<void>;
}

/**
 * The isolate's side of one lease: what is left of the slice, and the settlements not yet reported.
 * Admission is synchronous, so two requests in this isolate cannot both take the last of it. An idle
 * lease gives its slice back rather than hold it until it expires.
 */
export class LocalLease {
  private usdLeft: number | null;
  private nextIndex = 0;
  private tokensLeft: number;
  private slotsFree: number;
  private inFlight = 0;
  private lastAdmitAt = 0;
  private pending: Settled[] = [];
  private retired = false;
  private closed = false;
  private reporting: Promise<void> | null = null;

  constructor(
    readonly grant: LeaseGrant,
    /** Sends a report to the tenant's object (a stub made in the calling request); rejects when it did not arrive. */
    private readonly send: (report: LeaseReport) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {
    this.usdLeft = grant.usd;
    this.tokensLeft = grant.tokens;
    this.slotsFree = grant.slots;
  }

  get usable(): boolean {
    return !this.retired && !this.closed && this.now() < this.grant.expiresAt && this.nextIndex < this.grant.requests;
  }

  /** Dollars left in the slice, for the budget-remaining header (null: no budget applies). */
  get remainingUsd(): number | null {
    return this.usdLeft;
  }

  admit(estimateUsd: number, estimateTokens: number): LeaseTicket | undefined {
    if (!this.usable || this.slotsFree < 1 || estimateTokens > this.tokensLeft) return undefined;
    if (this.usdLeft !== null && estimateUsd > this.usdLeft + USD_EPSILON) return undefined;
    if (this.usdLeft !== null) this.usdLeft -= estimateUsd;
    this.tokensLeft -= estimateTokens;
    this.slotsFree -= 1;
    this.inFlight += 1;
    this.lastAdmitAt = this.now();
    const index = this.nextIndex++;
    let settled: Promise<void> | undefined;
    const ticket: LeaseTicket = {
      index,
      reservedUsd: estimateUsd,
      cover: (totalUsd) => {
        const extra = totalUsd - ticket.reservedUsd;
        if (extra <= 0 || this.usdLeft === null) return true;
        if (extra > this.usdLeft + USD_EPSILON) return false;
        this.usdLeft -= extra;
        ticket.reservedUsd = totalUsd;
        return true;
      },
      settle: (actualUsd, actualTokens, event) => {
        if (settled) return settled;
        this.slotsFree += 1;
        this.inFlight -= 1;
        settled = new Promise<void>((resolve, reject) => {
          this.pending.push({ index, reservedUsd: ticket.reservedUsd, spentUsd: actualUsd, tokens: actualTokens, ...(event ? { event } : {}), done: { resolve, reject } });
        });
        this.scheduleReport();
        return settled;
      },
    };
    return ticket;
  }

  /** A newer lease took over: this one closes once its requests have settled. */
  retire(): void {
    this.retired = true;
  }

  /** Nothing in flight and nothing admitted for a while (or no longer usable): give the rest back. */
  private get closing(): boolean {
    const idle = this.now() - this.lastAdmitAt >= REPORT_DELAY_MS;
    return !this.closed && this.inFlight === 0 && (idle || this.retired || !this.usable);
  }

  private scheduleReport(): void {
    if (this.reporting) return;
    let failed = false;
    this.reporting = (async () => {
      if (this.pending.length < REPORT_BATCH) await new Promise((resolve) => setTimeout(resolve, REPORT_DELAY_MS));
      while (this.pending.length) {
        const batch = this.pending.splice(0, REPORT_BATCH);
        const close = this.closing && this.pending.length === 0;
        // Closed first: a request admitted while the report is on its way must not use the given-back slice.
        if (close) this.closed = true;
        try {
          await this.send(this.report(batch, close));
        } catch (error) {
          // Nothing is dropped: the batch goes back, and the next settlement tries again.
          if (close) this.closed = false;
          this.pending.unshift(...batch);
          failed = true;
          for (const item of batch) item.done.reject(error);
          console.error(JSON.stringify({ level: "error", msg: "lease report failed; kept for the next one", lease: this.grant.leaseId, error: String(error) }));
          return;
        }
        for (const item of batch) item.done.resolve();
      }
      // Nothing in flight: if nothing is admitted for a while either, the slice goes back.
      if (!this.closed && this.inFlight === 0) {
        await new Promise((resolve) => setTimeout(resolve, REPORT_DELAY_MS));
        if (this.closing && this.pending.length === 0) {
          this.closed = true;
          await this.send(this.report([], true)).catch((error: unknown) => {
            // The object releases an unclosed lease when it expires; nothing is owed.
            console.error(JSON.stringify({ level: "warn", msg: "lease close failed; it expires instead", lease: this.grant.leaseId, error: String(error) }));
          });
        }
      }
    })().finally(() => {
      this.reporting = null;
      // A settlement that arrived while the last report was on its way still goes out.
      if (!failed && this.pending.length) this.scheduleReport();
    });
  }

  private report(batch: Settled[], close: boolean): LeaseReport {
    return {
      leaseId: this.grant.leaseId,
      keys: this.grant.keys,
      reservedUsd: batch.reduce((sum, s) => sum + s.reservedUsd, 0),
      spentUsd: batch.reduce((sum, s) => sum + s.spentUsd, 0),
      settled: batch.map((s) => ({ index: s.index, tokens: s.tokens })),
      events: batch.flatMap((s) => (s.event ? [s.event] : [])),
      usedRequests: this.nextIndex,
      close,
    };
  }
}

/**
 * This isolate's leases, one per tenant, task and key (the budgets that apply differ between them).
 * While one isolate asks the object for a lease, its other requests for the same key wait for that
 * answer instead of asking too.
 */
export class LeaseBook {
  private readonly leases = new Map<string, LocalLease>();
  private readonly asking = new Map<string, Promise<unknown>>();

  static key(tenantId: string, task: string, keyId: string): string {
    return `${tenantId}|${task}|${keyId}`;
  }

  admit(key: string, estimateUsd: number, estimateTokens: number): { lease: LocalLease; ticket: LeaseTicket } | undefined {
    const lease = this.leases.get(key);
    if (!lease) return undefined;
    const ticket = lease.admit(estimateUsd, estimateTokens);
    if (ticket) return { lease, ticket };
    if (!lease.usable) {
      lease.retire();
      this.leases.delete(key);
    }
    return undefined;
  }

  install(key: string, lease: LocalLease): void {
    this.leases.get(key)?.retire();
    this.leases.set(key, lease);
  }

  /** The answer another request of this isolate is already waiting for, if any. */
  inFlight(key: string): Promise<unknown> | undefined {
    return this.asking.get(key);
  }

  asked<T>(key: string, ask: Promise<T>): Promise<T> {
    const settled = ask.finally(() => this.asking.delete(key));
    this.asking.set(key, settled.catch(() => undefined));
    return settled;
  }

  /** Tests: forget every lease (the object releases their slices when they expire). */
  clear(): void {
    this.leases.clear();
    this.asking.clear();
  }
}

export const isolateLeases = new LeaseBook();

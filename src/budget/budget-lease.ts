import type { LedgerEvent } from "../ledger/ledger-event";
import type { LeaseGrant, LeaseReport } from "./budget-types";

/** How long an isolate admits under one lease before it asks the object again. */
export const LEASE_TTL_MS = 10_000;
/** Settlements wait this long to be reported together. */
const REPORT_DELAY_MS = 250;
const REPORT_BATCH = 64;
const USD_EPSILON = 1e-12;
/** Two object admissions this close together for one tenant, task and key make the second ask for a lease. */
const TRAFFIC_WINDOW_MS = 2_000;
/** How long a request waits for another's lease answer before asking the object itself. */
const ASK_WAIT_MS = 1_000;

interface Settled {
  index: number;
  reservedUsd: number;
  spentUsd: number;
  tokens: number;
  event?: LedgerEvent;
}

/** One request admitted under a lease: it settles into the lease's next report, never with its own call. */
export interface LeaseTicket {
  readonly index: number;
  reservedUsd: number;
  /** Draws more of the slice for a dearer fallback; false when the slice has not enough left. */
  cover(totalUsd: number): boolean;
  /**
   * Queues the settlement (and its ledger row) for the lease's next report. The request that starts a
   * report gets a promise for it (its waitUntil keeps the isolate alive while it runs); the others,
   * whose settlements ride along, get one already resolved: no request waits on another's I/O.
   */
  settle(actualUsd: number, actualTokens: number, event?: LedgerEvent): Promise<void>;
}

export interface LeaseIo {
  /** Sends a report to the tenant's object (a stub made in the calling request); rejects when it did not arrive. */
  send: (report: LeaseReport) => Promise<void>;
  /** When a report fails, its ledger rows take the ledger's other way at once; the spend is kept for the next. */
  recordElsewhere: (events: LedgerEvent[]) => Promise<void>;
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
    private readonly io: LeaseIo,
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
    let settled = false;
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
        if (settled) return Promise.resolve();
        settled = true;
        this.slotsFree += 1;
        this.inFlight -= 1;
        this.pending.push({ index, reservedUsd: ticket.reservedUsd, spentUsd: actualUsd, tokens: actualTokens, ...(event ? { event } : {}) });
        return this.reporting ? Promise.resolve() : this.startReport();
      },
    };
    return ticket;
  }

  /**
   * Called by the request that obtained the lease once it has settled itself: a lease nobody used
   * would otherwise hold its slice until it expires. Runs in that request's context.
   */
  watchIdle(): Promise<void> {
    return this.reporting ?? this.startReport();
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

  /**
   * Runs in the request that starts it, until nothing is left to send: settlements that join meanwhile
   * ride along, and a lease left idle is closed. Every step stays in that request's context.
   */
  private startReport(): Promise<void> {
    let failed = false;
    const run: Promise<void> = (async () => {
      if (this.pending.length < REPORT_BATCH) await new Promise((resolve) => setTimeout(resolve, REPORT_DELAY_MS));
      for (;;) {
        failed = !(await this.sendPending());
        if (failed) return;
        if (this.closed || this.inFlight > 0) return;
        // Nothing in flight: if nothing is admitted for a while either, the slice goes back.
        await new Promise((resolve) => setTimeout(resolve, REPORT_DELAY_MS));
        if (this.pending.length) continue;
        if (!this.closing) return;
        this.closed = true;
        await this.io.send(this.report([], true)).catch((error: unknown) => {
          // The object releases an unclosed lease when it expires; nothing is owed.
          console.error(JSON.stringify({ level: "warn", msg: "lease close failed; it expires instead", lease: this.grant.leaseId, error: String(error) }));
        });
        return;
      }
    })().finally(() => {
      this.reporting = null;
      // A settlement that joined after the last send is not left behind; this request sends it too.
      // After a failure the next settlement tries again, rather than this request retrying forever.
      if (!failed && this.pending.length) return this.startReport();
      return undefined;
    });
    this.reporting = run;
    return run;
  }

  /** Sends what is pending, in batches; false when a report failed (its rows were recorded another way). */
  private async sendPending(): Promise<boolean> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, REPORT_BATCH);
      const close = this.closing && this.pending.length === 0;
      // Closed first: a request admitted while the report is on its way must not use the given-back slice.
      if (close) this.closed = true;
      try {
        await this.io.send(this.report(batch, close));
      } catch (error) {
        if (close) this.closed = false;
        console.error(JSON.stringify({ level: "error", msg: "lease report failed; its spend waits for the next one", lease: this.grant.leaseId, error: String(error) }));
        // The spend goes back in the queue without its rows, which are recorded another way now.
        this.pending.unshift(...batch.map(({ event: _event, ...rest }) => rest));
        await this.io.recordElsewhere(batch.flatMap((s) => (s.event ? [s.event] : [])));
        return false;
      }
    }
    return true;
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

  private readonly lastAsked = new Map<string, number>();

  /**
   * A lease pays only for traffic: the first request in a while goes to the object alone, the next
   * one soon after asks for a lease as well.
   */
  wantsLease(key: string, now = Date.now()): boolean {
    const last = this.lastAsked.get(key);
    this.lastAsked.set(key, now);
    if (this.lastAsked.size > 10_000) this.lastAsked.clear();
    return last !== undefined && now - last < TRAFFIC_WINDOW_MS;
  }

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

  /**
   * The answer another request of this isolate is already waiting for, if any, waited for at most a
   * moment: a request never depends for long on another request's I/O.
   */
  inFlight(key: string): Promise<unknown> | undefined {
    const asking = this.asking.get(key);
    if (!asking) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ASK_WAIT_MS);
    });
    return Promise.race([asking, bound]).finally(() => timer !== undefined && clearTimeout(timer));
  }

  asked<T>(key: string, ask: Promise<T>): Promise<T> {
    const settled = ask.finally(() => this.asking.delete(key));
    this.asking.set(key, settled.catch(() => undefined));
    return settled;
  }
}

export const isolateLeases = new LeaseBook();

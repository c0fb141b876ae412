import { queueLedgerEvent } from "./ledger-batch";
import { emptyLedgerEvent, type LedgerEvent } from "./ledger-event";

export type SettleWithEvent = (event: LedgerEvent) => Promise<void>;

/**
 * The request's ledger row. Stages fill `event` as the request moves along; a stream registers its end
 * with `until()`, so the row is written once, after the last token, with the real usage.
 *
 * When the pipeline attaches the budget settlement with `settleWith()`, the final row rides with it:
 * the budget object stores it in the same write as the spend (an outbox it forwards to D1), so an
 * interactive request adds no blocking call and its spend and its row cannot drift apart.
 */
export class RequestLedger {
  readonly event: LedgerEvent;
  private readonly pending: Promise<unknown>[] = [];
  private readonly startedAt: number;
  private settlement: SettleWithEvent | null = null;

  constructor(requestId: string, endpoint: string, now = Date.now()) {
    this.event = emptyLedgerEvent(requestId, endpoint, now);
    this.startedAt = now;
  }

  until(done: Promise<unknown>): void {
    this.pending.push(done);
  }

  /** The settlement that carries the final row; the last one attached wins. */
  settleWith(settle: SettleWithEvent): void {
    this.settlement = settle;
  }

  elapsedMs(now = Date.now()): number {
    return Math.max(0, now - this.startedAt);
  }

  /** Waits for the stream (if any) and fills what only the end knows. */
  async finalize(status: number): Promise<LedgerEvent> {
    await Promise.allSettled(this.pending);
    if (this.event.status === 0) this.event.status = status;
    if (this.event.latency_ms === 0) this.event.latency_ms = this.elapsedMs();
    return this.event;
  }

  /** Writes the row: with the settlement when one is attached, else (or if that fails) on the ledger queue. */
  /**
   * Writes the row. `onFinal` sees the finished row before it is written: the request's log line need
   * not wait for a settlement that a lease batches for a moment.
   */
  async flush(env: Env, status: number, onFinal?: (event: LedgerEvent) => void): Promise<void> {
    const event = await this.finalize(status);
    onFinal?.(event);
    if (this.settlement) {
      try {
        await this.settlement(event);
        return;
      } catch (error) {
        console.error(JSON.stringify({ level: "warn", msg: "settlement with ledger row failed; recording through the queue", request_id: event.request_id, error: String(error) }));
      }
    }
    await queueLedgerEvent(env, event);
  }

  /**
   * For work whose row is already durable in D1 (written in the same batch as the work's state): the
   * settlement still runs, carrying the row for the object's outbox, but nothing goes on the queue. A
   * failed settlement is left to the reservation's expiry and reconciliation, which finds the row.
   */
  async settleRecorded(): Promise<void> {
    if (!this.settlement) return;
    try {
      await this.settlement(this.event);
    } catch (error) {
      console.error(JSON.stringify({ level: "warn", msg: "settlement of a recorded row failed; reconciliation will account for it", request_id: this.event.request_id, error: String(error) }));
    }
  }
}

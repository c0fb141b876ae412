import { recordLedgerEvent } from "./ledger-consumer";
import { emptyLedgerEvent, type LedgerEvent } from "./ledger-event";

/**
 * The request's ledger row. Stages fill `event` as the request moves along; a stream registers its end
 * with `until()`, so the row is written once, after the last token, with the real usage.
 */
export class RequestLedger {
  readonly event: LedgerEvent;
  private readonly pending: Promise<unknown>[] = [];
  private readonly startedAt: number;

  constructor(requestId: string, endpoint: string, now = Date.now()) {
    this.event = emptyLedgerEvent(requestId, endpoint, now);
    this.startedAt = now;
  }

  until(done: Promise<unknown>): void {
    this.pending.push(done);
  }

  elapsedMs(now = Date.now()): number {
    return Math.max(0, now - this.startedAt);
  }

  async flush(env: Env, status: number): Promise<void> {
    await Promise.allSettled(this.pending);
    if (this.event.status === 0) this.event.status = status;
    if (this.event.latency_ms === 0) this.event.latency_ms = this.elapsedMs();
    await recordLedgerEvent(env, this.event);
  }
}

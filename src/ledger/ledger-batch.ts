import { IsolateBatches } from "../delivery/isolate-batches";
import { recordLedgerEvent } from "./ledger-consumer";
import type { LedgerEvent } from "./ledger-event";

// A request whose row carries no settlement (a cache hit, a rejection) puts it on the ledger queue.
// One queue send per request was most of a hit's background cost, so the rows of one isolate go out
// together, at most 50 ms or 50 rows at a time (src/delivery/isolate-batches.ts). A batch that fails
// falls back to one send per row, and that to D1 (recordLedgerEvent), so rows are not lost to batching.
// Keyed by env: rows reach the queue of the env their request ran with.
const rows = new IsolateBatches<Env, LedgerEvent>(50, 50);

async function send(env: Env, events: LedgerEvent[]): Promise<void> {
  try {
    await env.LEDGER_QUEUE.sendBatch(events.map((body) => ({ body, contentType: "json" as const })));
  } catch (error) {
    console.error(JSON.stringify({ level: "warn", msg: "ledger queue batch send failed; sending row by row", rows: events.length, error: String(error) }));
    const results = await Promise.allSettled(events.map((event) => recordLedgerEvent(env, event)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}

/** Adds the row to this isolate's batch; the returned promise is the sending, for the caller's waitUntil. */
export function queueLedgerEvent(env: Env, event: LedgerEvent, now = Date.now()): Promise<void> {
  return rows.add(env, event, (events) => send(env, events), false, now);
}

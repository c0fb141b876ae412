import { recordLedgerEvent } from "./ledger-consumer";
import type { LedgerEvent } from "./ledger-event";

// A request whose row carries no settlement (a cache hit, a rejection) puts it on the ledger queue.
// One queue send per request was most of a hit's background cost, so the rows of one isolate go out
// together. The request that opens a batch sends it BATCH_MS later, inside its own waitUntil (a Worker
// may not do I/O for another request, nor settle another request's promises); a request that fills
// the batch, or finds it overdue (its opener was cut short), sends it itself. A batch that fails falls
// back to one send per row, and that to D1 (recordLedgerEvent), so rows are not lost to batching.
const BATCH_MS = 50;
const BATCH_MAX = 50;

interface Batch {
  events: LedgerEvent[];
  openedAt: number;
}

// Keyed by env: rows reach the queue of the env their request ran with.
const open = new WeakMap<Env, Batch>();

async function send(env: Env, events: LedgerEvent[]): Promise<void> {
  if (!events.length) return;
  try {
    await env.LEDGER_QUEUE.sendBatch(events.map((body) => ({ body, contentType: "json" as const })));
  } catch (error) {
    console.error(JSON.stringify({ level: "warn", msg: "ledger queue batch send failed; sending row by row", rows: events.length, error: String(error) }));
    const results = await Promise.allSettled(events.map((event) => recordLedgerEvent(env, event)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}

function take(env: Env, batch: Batch): LedgerEvent[] {
  if (open.get(env) === batch) open.delete(env);
  return batch.events.splice(0);
}

/** Adds the row to this isolate's batch; the returned promise is the sending, for the caller's waitUntil. */
export function queueLedgerEvent(env: Env, event: LedgerEvent, now = Date.now()): Promise<void> {
  const current = open.get(env);
  if (current) {
    current.events.push(event);
    if (current.events.length >= BATCH_MAX || now - current.openedAt > 4 * BATCH_MS) return send(env, take(env, current));
    return Promise.resolve();
  }
  const batch: Batch = { events: [event], openedAt: now };
  open.set(env, batch);
  return new Promise((resolve) => setTimeout(resolve, BATCH_MS)).then(() => send(env, take(env, batch)));
}

import { recordDeadLetter } from "../delivery/dead-letter-store";
import { insertLedgerEvents } from "./ledger-store";
import { type LedgerEvent, LedgerEventSchema } from "./ledger-event";

const RETRY_DELAY_S = 2;

/**
 * Batch-inserts ledger events, idempotent on the request id. Nothing is dropped silently:
 * - a D1 failure of the batch falls back to one insert per event, so a single row that D1 refuses
 *   cannot hold back the others; only the events that still fail are retried, and after max_retries
 *   the queue moves them to the dead-letter queue (listed and replayable);
 * - an event that can never be valid is recorded as a dead letter at once rather than retried.
 */
export async function consumeLedgerBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const valid: { message: Message<unknown>; event: LedgerEvent }[] = [];
  for (const message of batch.messages) {
    const parsed = LedgerEventSchema.safeParse(message.body);
    if (parsed.success) {
      valid.push({ message, event: parsed.data });
      continue;
    }
    const reason = `invalid ledger event: ${parsed.error.issues[0]?.message ?? "unknown shape"}`;
    console.error(JSON.stringify({ level: "error", msg: "invalid ledger event; dead-lettered", id: message.id, reason }));
    await recordDeadLetter(env.DB, { id: `dl_${message.id}`, queue: "ledger", tenantId: null, body: message.body, reason, attempts: message.attempts, now: Date.now() }).then(
      () => message.ack(),
      () => message.retry({ delaySeconds: RETRY_DELAY_S }),
    );
  }
  try {
    await insertLedgerEvents(env.DB, valid.map((v) => v.event));
    for (const { message } of valid) message.ack();
  } catch (error) {
    console.error(JSON.stringify({ level: "error", msg: "ledger batch insert failed; inserting one by one", error: String(error) }));
    for (const { message, event } of valid) {
      try {
        await insertLedgerEvents(env.DB, [event]);
        message.ack();
      } catch (rowError) {
        console.error(JSON.stringify({ level: "error", msg: "ledger insert failed; retrying", request_id: event.request_id, attempts: message.attempts, error: String(rowError) }));
        message.retry({ delaySeconds: RETRY_DELAY_S });
      }
    }
  }
}

/** Request path: the queue is the normal route; if sending fails, write straight to D1 rather than lose it. */
export async function recordLedgerEvent(env: Env, event: LedgerEvent): Promise<void> {
  try {
    await env.LEDGER_QUEUE.send(event, { contentType: "json" });
  } catch (error) {
    console.error(JSON.stringify({ level: "warn", msg: "ledger queue send failed; writing to D1 directly", error: String(error) }));
    try {
      await insertLedgerEvents(env.DB, [event]);
    } catch (dbError) {
      // Queue and D1 both down: the whole event goes to the logs, the one place left to recover it from.
      console.error(JSON.stringify({ level: "error", msg: "ledger event not recorded", error: String(dbError), event }));
      throw dbError;
    }
  }
}

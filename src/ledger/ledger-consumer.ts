import { insertLedgerEvents } from "./ledger-store";
import { type LedgerEvent, LedgerEventSchema } from "./ledger-event";

/**
 * Batch-inserts ledger events. A D1 failure retries the whole batch (inserts are idempotent); after
 * max_retries the queue moves the messages to the dead-letter queue, so no event is silently dropped.
 * A message that can never be valid is acked and logged: retrying it would only delay the others.
 */
export async function consumeLedgerBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const events: LedgerEvent[] = [];
  for (const message of batch.messages) {
    const parsed = LedgerEventSchema.safeParse(message.body);
    if (parsed.success) events.push(parsed.data);
    else console.error(JSON.stringify({ level: "error", msg: "invalid ledger event", id: message.id, issue: parsed.error.issues[0]?.message }));
  }
  try {
    await insertLedgerEvents(env.DB, events);
    batch.ackAll();
  } catch (error) {
    console.error(JSON.stringify({ level: "error", msg: "ledger insert failed; retrying batch", error: String(error) }));
    batch.retryAll({ delaySeconds: 2 });
  }
}

/** Request path: the queue is the normal route; if sending fails, write straight to D1 rather than lose it. */
export async function recordLedgerEvent(env: Env, event: LedgerEvent): Promise<void> {
  try {
    await env.LEDGER_QUEUE.send(event, { contentType: "json" });
  } catch (error) {
    console.error(JSON.stringify({ level: "warn", msg: "ledger queue send failed; writing to D1 directly", error: String(error) }));
    await insertLedgerEvents(env.DB, [event]);
  }
}

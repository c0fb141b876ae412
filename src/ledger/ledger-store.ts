import type { LedgerEvent } from "./ledger-event";

const COLUMNS = [
  "request_id", "ts", "tenant_id", "key_id", "endpoint", "task", "tier", "model", "provider", "cache",
  "prompt_tokens", "completion_tokens", "cost_usd", "saved_usd", "latency_ms", "ttfb_ms", "status",
  "error_code", "attempts", "route_reason", "escalated_from", "degraded", "stream", "detail_json",
  "session_id", "prompt_name", "prompt_version",
] as const;

// OR IGNORE makes redelivery harmless: the first write of a request id wins, later ones are no-ops.
const INSERT_SQL = `INSERT OR IGNORE INTO ledger (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`;

function row(event: LedgerEvent): (string | number | null)[] {
  return [
    event.request_id, event.ts, event.tenant_id, event.key_id, event.endpoint, event.task, event.tier, event.model,
    event.provider, event.cache, event.prompt_tokens, event.completion_tokens, event.cost_usd, event.saved_usd,
    event.latency_ms, event.ttfb_ms, event.status, event.error_code, event.attempts, event.route_reason,
    event.escalated_from, event.degraded, event.stream ? 1 : 0, event.detail ? JSON.stringify(event.detail) : null,
    // Rows parked in an outbox before the prompt columns existed have no such fields: write NULL.
    event.session_id, event.prompt_name ?? null, event.prompt_version ?? null,
  ];
}

/** The insert as a statement, for callers that write the row in the same D1 batch as the work it pays for. */
export function ledgerInsertStatement(db: D1Database, event: LedgerEvent): D1PreparedStatement {
  return db.prepare(INSERT_SQL).bind(...row(event));
}

/** One D1 batch (a single transaction) per queue batch. */
export async function insertLedgerEvents(db: D1Database, events: LedgerEvent[]): Promise<void> {
  if (events.length === 0) return;
  const statement = db.prepare(INSERT_SQL);
  await db.batch(events.map((event) => statement.bind(...row(event))));
}

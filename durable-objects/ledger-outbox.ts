import type { LedgerEvent } from "../src/ledger/ledger-event";
import { insertLedgerEvents } from "../src/ledger/ledger-store";

const BATCH = 100;
const BASE_RETRY_MS = 2_000;
const MAX_RETRY_MS = 5 * 60_000;

export interface ForwardResult {
  forwarded: number;
  failed: number;
  pending: number;
}

/**
 * Ledger rows that rode in with a settlement. They are written in the same synchronous section as the
 * spend they account for, so spend and ledger cannot drift apart, then forwarded to D1 (INSERT OR IGNORE
 * on the request id) and deleted only once D1 has confirmed the batch. A D1 outage only delays them.
 */
export class LedgerOutbox {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS outbox (request_id TEXT PRIMARY KEY, json TEXT NOT NULL, created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS outbox_next ON outbox(next_at);
    `);
  }

  /** Idempotent: the same request id settled twice keeps one row. */
  add(event: LedgerEvent, now: number): void {
    this.sql.exec(`INSERT OR IGNORE INTO outbox (request_id, json, created_at, next_at) VALUES (?, ?, ?, ?)`, event.request_id, JSON.stringify(event), now, now);
  }

  pending(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM outbox`).one().n;
  }

  /** When the earliest row is due for another try, or null when the outbox is empty. */
  nextAt(): number | null {
    return this.sql.exec<{ at: number | null }>(`SELECT MIN(next_at) AS at FROM outbox`).one().at;
  }

  /**
   * Sends every due row, a batch at a time. A failed batch is retried row by row, so one row D1 refuses
   * cannot hold back the others; rows that still fail back off exponentially and stay in the outbox.
   */
  async forward(db: D1Database, now: number, all = false): Promise<ForwardResult> {
    let forwarded = 0;
    let failed = 0;
    const tried = new Set<string>();
    for (;;) {
      const rows = this.sql
        .exec<{ request_id: string; json: string; attempts: number }>(`SELECT request_id, json, attempts FROM outbox WHERE next_at <= ? ORDER BY created_at LIMIT ?`, all ? Number.MAX_SAFE_INTEGER : now, BATCH + tried.size)
        .toArray()
        .filter((row) => !tried.has(row.request_id))
        .slice(0, BATCH);
      if (rows.length === 0) break;
      for (const row of rows) tried.add(row.request_id);
      const events = rows.map((row) => JSON.parse(row.json) as LedgerEvent);
      try {
        await insertLedgerEvents(db, events);
        this.remove(rows.map((row) => row.request_id));
        forwarded += rows.length;
        continue;
      } catch (error) {
        console.error(JSON.stringify({ level: "warn", msg: "ledger outbox batch failed; trying row by row", count: rows.length, error: String(error) }));
      }
      for (const [i, row] of rows.entries()) {
        try {
          await insertLedgerEvents(db, [events[i] as LedgerEvent]);
          this.remove([row.request_id]);
          forwarded++;
        } catch (error) {
          failed++;
          const delay = Math.min(MAX_RETRY_MS, BASE_RETRY_MS * 2 ** row.attempts);
          this.sql.exec(`UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE request_id = ?`, Date.now() + delay, row.request_id);
          console.error(JSON.stringify({ level: "error", msg: "ledger outbox row not forwarded; will retry", request_id: row.request_id, attempts: row.attempts + 1, error: String(error) }));
        }
      }
    }
    return { forwarded, failed, pending: this.pending() };
  }

  private remove(ids: string[]): void {
    this.sql.exec(`DELETE FROM outbox WHERE request_id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids));
  }
}

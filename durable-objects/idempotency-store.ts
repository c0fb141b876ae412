import { DurableObject } from "cloudflare:workers";

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type IdempotencyClaim =
  | { status: "new" }
  | { status: "pending" }
  | { status: "conflict" }
  | { status: "done"; response: StoredResponse };

const RETENTION_MS = 24 * 3600 * 1000;
/** A claim whose worker never finished (crash, timeout) stops blocking retries after this. */
const PENDING_TTL_MS = 5 * 60 * 1000;

/**
 * One per tenant. Strongly consistent, so two concurrent requests with the same Idempotency-Key cannot
 * both get "new": exactly one goes upstream, the others wait for its stored response.
 */
export class IdempotencyStore extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, body_hash TEXT NOT NULL, state TEXT NOT NULL,
      response_json TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
  }

  async begin(key: string, bodyHash: string, now = Date.now()): Promise<IdempotencyClaim> {
    this.sql.exec(`DELETE FROM records WHERE created_at < ? OR (state = 'pending' AND updated_at < ?)`, now - RETENTION_MS, now - PENDING_TTL_MS);
    const row = this.sql.exec<{ body_hash: string; state: string; response_json: string | null }>(`SELECT body_hash, state, response_json FROM records WHERE key = ?`, key).toArray()[0];
    if (!row) {
      this.sql.exec(`INSERT INTO records (key, body_hash, state, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)`, key, bodyHash, now, now);
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + RETENTION_MS);
      return { status: "new" };
    }
    if (row.body_hash !== bodyHash) return { status: "conflict" };
    if (row.state === "done" && row.response_json) return { status: "done", response: JSON.parse(row.response_json) as StoredResponse };
    return { status: "pending" };
  }

  async complete(key: string, response: StoredResponse, now = Date.now()): Promise<void> {
    this.sql.exec(`UPDATE records SET state = 'done', response_json = ?, updated_at = ? WHERE key = ?`, JSON.stringify(response), now, key);
  }

  /** A failed attempt is not remembered: the client may retry with the same key. */
  async release(key: string): Promise<void> {
    this.sql.exec(`DELETE FROM records WHERE key = ? AND state = 'pending'`, key);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec(`DELETE FROM records WHERE created_at < ?`, now - RETENTION_MS);
    const oldest = this.sql.exec<{ at: number | null }>(`SELECT MIN(created_at) AS at FROM records`).one().at;
    if (oldest !== null) await this.ctx.storage.setAlarm(oldest + RETENTION_MS);
  }
}

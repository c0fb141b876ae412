import type { BudgetConfig, SpendKey, TopUpInput, TopUpResult } from "../src/budget/budget-types";

/** How long an expired reservation's id is kept, so a late settlement or the ledger can still account for it. */
const EXPIRED_KEEP_MS = 24 * 3600_000;

type Bump = (key: SpendKey, spent: number, reserved: number) => void;

/**
 * One request's worst case, held against every budget period it counts toward until the request
 * settles, or until its hold runs out and the alarm releases it. A released id is remembered for a day,
 * so a settlement that arrives late still bills the periods it was reserved against, once.
 */
export class BudgetReservations {
  constructor(
    private readonly sql: SqlStorage,
    private readonly bump: Bump,
  ) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, amount REAL NOT NULL, tokens INTEGER NOT NULL,
        keys_json TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS reservations_expiry ON reservations(expires_at);
      CREATE TABLE IF NOT EXISTS expired (id TEXT PRIMARY KEY, keys_json TEXT NOT NULL, expired_at INTEGER NOT NULL);
    `);
  }

  /** The amount held for this request, if it holds one (a retried admit must not reserve twice). */
  amountOf(id: string): number | undefined {
    return this.sql.exec<{ amount: number }>(`SELECT amount FROM reservations WHERE id = ?`, id).toArray()[0]?.amount;
  }

  private live(id: string): { amount: number; keys: SpendKey[] } | undefined {
    const row = this.sql.exec<{ amount: number; keys_json: string }>(`SELECT amount, keys_json FROM reservations WHERE id = ?`, id).toArray()[0];
    return row && { amount: row.amount, keys: JSON.parse(row.keys_json) as SpendKey[] };
  }

  count(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM reservations`).one().n;
  }

  hold(id: string, amount: number, tokens: number, keys: SpendKey[], now: number, expiresAt: number): void {
    for (const key of keys) this.bump(key, 0, amount);
    this.sql.exec(`INSERT INTO reservations (id, amount, tokens, keys_json, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`, id, amount, tokens, JSON.stringify(keys), now, expiresAt);
  }

  /**
   * Raises a held reservation to `amountUsd` before a dearer fallback runs, in one synchronous section
   * against every budget it holds: granted whole, or not at all (the caller then skips that fallback).
   */
  topUp(config: BudgetConfig, input: TopUpInput): TopUpResult {
    const reservation = this.live(input.requestId);
    if (!reservation) return { granted: false, reservedUsd: 0 };
    const extra = input.amountUsd - reservation.amount;
    if (extra <= 0) return { granted: true, reservedUsd: reservation.amount };
    const { keys } = reservation;
    for (const key of keys) {
      const budget = config.budgets.find((b) => b.scope === key.scope && b.period === key.period);
      const row = this.sql.exec<{ spent: number; reserved: number }>(`SELECT spent, reserved FROM spend WHERE scope = ? AND period = ? AND period_key = ?`, key.scope, key.period, key.period_key).toArray()[0];
      if (budget && row && extra > budget.limit_usd - row.spent - row.reserved + 1e-12) return { granted: false, reservedUsd: reservation.amount };
    }
    for (const key of keys) this.bump(key, 0, extra);
    this.sql.exec(`UPDATE reservations SET amount = ? WHERE id = ?`, input.amountUsd, input.requestId);
    return { granted: true, reservedUsd: input.amountUsd };
  }

  /**
   * Bills a request once: a live reservation is swapped for the cost; one the alarm already released
   * (a settlement arriving after its hold) is billed on the periods it was reserved against. Anything
   * else was settled before (or never admitted here) and is not billed again.
   */
  take(id: string, actualUsd: number): SpendKey[] | null {
    const live = this.live(id);
    if (live) {
      for (const key of live.keys) this.bump(key, actualUsd, -live.amount);
      this.sql.exec(`DELETE FROM reservations WHERE id = ?`, id);
      return live.keys;
    }
    const late = this.sql.exec<{ keys_json: string }>(`SELECT keys_json FROM expired WHERE id = ?`, id).toArray()[0];
    if (!late) return null;
    const keys = JSON.parse(late.keys_json) as SpendKey[];
    for (const key of keys) this.bump(key, actualUsd, 0);
    this.sql.exec(`DELETE FROM expired WHERE id = ?`, id);
    return keys;
  }

  releaseExpired(now: number): number {
    const expired = this.sql.exec<{ id: string; amount: number; keys_json: string }>(`SELECT id, amount, keys_json FROM reservations WHERE expires_at <= ?`, now).toArray();
    for (const reservation of expired) {
      for (const key of JSON.parse(reservation.keys_json) as SpendKey[]) this.bump(key, 0, -reservation.amount);
      this.sql.exec(`DELETE FROM reservations WHERE id = ?`, reservation.id);
      // Kept for a day: a late settlement still bills it, and reconciliation asks the ledger about it.
      this.sql.exec(`INSERT OR REPLACE INTO expired (id, keys_json, expired_at) VALUES (?, ?, ?)`, reservation.id, reservation.keys_json, now);
    }
    this.sql.exec(`DELETE FROM expired WHERE expired_at < ?`, now - EXPIRED_KEEP_MS);
    return expired.length;
  }

  /** Ids nobody has settled yet, released ones first: reconciliation looks them up in the ledger. */
  unsettled(limit: number): { id: string; expired: boolean }[] {
    return [
      ...this.sql.exec<{ id: string }>(`SELECT id FROM expired ORDER BY expired_at LIMIT ?`, limit).toArray().map((r) => ({ id: r.id, expired: true })),
      ...this.sql.exec<{ id: string }>(`SELECT id FROM reservations ORDER BY created_at LIMIT ?`, limit).toArray().map((r) => ({ id: r.id, expired: false })),
    ];
  }

  inFlight(): { count: number; usd: number } {
    const flight = this.sql.exec<{ n: number; usd: number }>(`SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS usd FROM reservations`).one();
    return { count: flight.n, usd: flight.usd };
  }

  nextExpiry(): number | null {
    return this.sql.exec<{ at: number | null }>(`SELECT MIN(expires_at) AS at FROM reservations`).one().at;
  }
}

import { DurableObject } from "cloudflare:workers";

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerConfig {
  windowMs: number;
  minRequests: number;
  failureRate: number;
  consecutiveFailures: number;
  cooldownMs: number;
  halfOpenProbes: number;
}

export const DEFAULT_BREAKER: BreakerConfig = {
  windowMs: 30_000,
  minRequests: 10,
  failureRate: 0.5,
  consecutiveFailures: 5,
  cooldownMs: 10_000,
  halfOpenProbes: 3,
};

export interface BreakerSnapshot {
  key: string;
  state: BreakerState;
  failureRate: number;
  requests: number;
  consecutiveFailures: number;
  openedAt: number | null;
  /** When an open breaker lets probes through. */
  retryAt: number | null;
}

type BreakerRow = { key: string; state: BreakerState; opened_at: number | null; consecutive: number; probes_ok: number };

/**
 * One per provider:model. Holds the recent outcomes and the state machine
 * closed → open (trip) → half_open (after cooldown) → closed (probes succeed) or open (a probe fails).
 */
export class ProviderBreaker extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS outcomes (at INTEGER NOT NULL, ok INTEGER NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS breaker (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT NOT NULL, state TEXT NOT NULL,
      opened_at INTEGER, consecutive INTEGER NOT NULL, probes_ok INTEGER NOT NULL)`);
  }

  private row(key: string) {
    const existing = this.sql
      .exec<BreakerRow>(`SELECT * FROM breaker WHERE id = 1`)
      .toArray()[0];
    if (existing) return existing;
    const fresh: BreakerRow = { key, state: "closed", opened_at: null, consecutive: 0, probes_ok: 0 };
    this.save(fresh);
    return fresh;
  }

  private save(row: BreakerRow): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO breaker (id, key, state, opened_at, consecutive, probes_ok) VALUES (1, ?, ?, ?, ?, ?)`,
      row.key, row.state, row.opened_at, row.consecutive, row.probes_ok,
    );
  }

  private snapshotOf(row: BreakerRow, now: number, config: BreakerConfig): BreakerSnapshot {
    this.sql.exec(`DELETE FROM outcomes WHERE at < ?`, now - config.windowMs);
    const stats = this.sql.exec<{ n: number; failed: number }>(`SELECT COUNT(*) AS n, COALESCE(SUM(1 - ok), 0) AS failed FROM outcomes`).one();
    if (row.state === "open" && row.opened_at !== null && now - row.opened_at >= config.cooldownMs) {
      row.state = "half_open";
      row.probes_ok = 0;
      this.save(row);
    }
    return {
      key: row.key,
      state: row.state,
      failureRate: stats.n ? stats.failed / stats.n : 0,
      requests: stats.n,
      consecutiveFailures: row.consecutive,
      openedAt: row.opened_at,
      retryAt: row.state === "open" && row.opened_at !== null ? row.opened_at + config.cooldownMs : null,
    };
  }

  async snapshot(key: string, now = Date.now(), config = DEFAULT_BREAKER): Promise<BreakerSnapshot> {
    return this.snapshotOf(this.row(key), now, config);
  }

  async report(key: string, ok: boolean, now = Date.now(), config = DEFAULT_BREAKER): Promise<BreakerSnapshot> {
    return this.reportMany(key, [ok], now, config);
  }

  /** An isolate's outcomes since its last report, oldest first, applied in order. */
  async reportMany(key: string, outcomes: boolean[], now = Date.now(), config = DEFAULT_BREAKER): Promise<BreakerSnapshot> {
    const row = this.row(key);
    for (const ok of outcomes) this.apply(row, ok, now, config);
    this.save(row);
    return this.snapshotOf(row, now, config);
  }

  private apply(row: BreakerRow, ok: boolean, now: number, config: BreakerConfig): void {
    this.sql.exec(`INSERT INTO outcomes (at, ok) VALUES (?, ?)`, now, ok ? 1 : 0);
    row.consecutive = ok ? 0 : row.consecutive + 1;
    const snap = this.snapshotOf(row, now, config);
    if (snap.state === "half_open") {
      if (!ok) {
        row.state = "open";
        row.opened_at = now;
      } else if (++row.probes_ok >= config.halfOpenProbes) {
        row.state = "closed";
        row.opened_at = null;
        row.consecutive = 0;
        // A fresh start: the failures that tripped it must not trip it again at once.
        this.sql.exec(`DELETE FROM outcomes`);
      }
    } else if (snap.state === "closed") {
      const rateTrip = snap.requests >= config.minRequests && snap.failureRate >= config.failureRate;
      if (rateTrip || row.consecutive >= config.consecutiveFailures) {
        row.state = "open";
        row.opened_at = now;
      }
    }
  }

  async reset(key: string): Promise<void> {
    this.sql.exec(`DELETE FROM outcomes`);
    this.save({ key, state: "closed", opened_at: null, consecutive: 0, probes_ok: 0 });
  }
}

import { DurableObject } from "cloudflare:workers";

export type SlotGrant = { granted: true } | { granted: false; reason: "concurrency" | "breaker"; message: string; retryAfterS: number };

export interface AcquireSlotInput {
  callId: string;
  tool: string;
  limit: number;
  /** A slot whose worker never released it frees itself after this long (the tool's timeout and a margin). */
  holdMs: number;
  now?: number;
}

export interface ToolHealth {
  tool: string;
  in_flight: number;
  state: "closed" | "open" | "half_open";
  consecutive_failures: number;
}

const TRIP_AFTER = 5;
const COOLDOWN_MS = 10_000;

/**
 * One per (tenant, MCP server). Holds each tool's concurrency slots and its breaker, so the limits hold
 * across every isolate: a slow tool fills only its own slots, never another tool's, and never the
 * tenant's model in-flight slots (those live in TenantBudget). The object is only asked at the start
 * and end of a call, never held for its duration.
 */
export class ToolBulkhead extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS slots (call_id TEXT PRIMARY KEY, tool TEXT NOT NULL, probe INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS slots_tool ON slots(tool);
      CREATE TABLE IF NOT EXISTS breakers (tool TEXT PRIMARY KEY, consecutive INTEGER NOT NULL DEFAULT 0, opened_at INTEGER);
    `);
  }

  async acquire(input: AcquireSlotInput): Promise<SlotGrant> {
    const now = input.now ?? Date.now();
    this.sql.exec(`DELETE FROM slots WHERE expires_at <= ?`, now);
    const breaker = this.sql.exec<{ consecutive: number; opened_at: number | null }>(`SELECT consecutive, opened_at FROM breakers WHERE tool = ?`, input.tool).toArray()[0];
    let probe = 0;
    if (breaker?.opened_at != null) {
      const coolingDown = now - breaker.opened_at < COOLDOWN_MS;
      const probing = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM slots WHERE tool = ? AND probe = 1`, input.tool).one().n > 0;
      if (coolingDown || probing) {
        const retryAfterS = Math.max(1, Math.ceil((breaker.opened_at + COOLDOWN_MS - now) / 1000));
        return { granted: false, reason: "breaker", message: `Tool ${input.tool} is failing (${breaker.consecutive} failures in a row): its breaker is open`, retryAfterS };
      }
      probe = 1; // half-open: this call is the one probe
    }
    const inFlight = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM slots WHERE tool = ?`, input.tool).one().n;
    if (inFlight >= input.limit) {
      return { granted: false, reason: "concurrency", message: `Tool ${input.tool} has ${inFlight} calls in flight (max_concurrency ${input.limit})`, retryAfterS: 1 };
    }
    this.sql.exec(`INSERT OR REPLACE INTO slots (call_id, tool, probe, expires_at) VALUES (?, ?, ?, ?)`, input.callId, input.tool, probe, now + input.holdMs);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || now + input.holdMs < alarm) await this.ctx.storage.setAlarm(now + input.holdMs);
    return { granted: true };
  }

  /** `ok` is the tool's health: null when the outcome says nothing about it (the client went away). */
  async release(callId: string, tool: string, ok: boolean | null, now = Date.now()): Promise<void> {
    this.sql.exec(`DELETE FROM slots WHERE call_id = ?`, callId);
    if (ok === null) return;
    if (ok) {
      this.sql.exec(`INSERT OR REPLACE INTO breakers (tool, consecutive, opened_at) VALUES (?, 0, NULL)`, tool);
      return;
    }
    const row = this.sql.exec<{ consecutive: number; opened_at: number | null }>(`SELECT consecutive, opened_at FROM breakers WHERE tool = ?`, tool).toArray()[0];
    const consecutive = (row?.consecutive ?? 0) + 1;
    // A failed probe reopens at once; a closed breaker trips after TRIP_AFTER failures in a row.
    const openedAt = row?.opened_at != null || consecutive >= TRIP_AFTER ? now : null;
    this.sql.exec(`INSERT OR REPLACE INTO breakers (tool, consecutive, opened_at) VALUES (?, ?, ?)`, tool, consecutive, openedAt);
  }

  async health(): Promise<ToolHealth[]> {
    const now = Date.now();
    const rows = this.sql
      .exec<{ tool: string; in_flight: number; consecutive: number | null; opened_at: number | null }>(
        `SELECT t.tool, (SELECT COUNT(*) FROM slots s WHERE s.tool = t.tool AND s.expires_at > ?) AS in_flight, b.consecutive, b.opened_at
           FROM (SELECT tool FROM slots UNION SELECT tool FROM breakers) t LEFT JOIN breakers b ON b.tool = t.tool ORDER BY t.tool`,
        now,
      )
      .toArray();
    return rows.map((r) => ({
      tool: r.tool,
      in_flight: r.in_flight,
      state: r.opened_at == null ? "closed" : now - r.opened_at < COOLDOWN_MS ? "open" : "half_open",
      consecutive_failures: r.consecutive ?? 0,
    }));
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec(`DELETE FROM slots WHERE expires_at <= ?`, now);
    const next = this.sql.exec<{ at: number | null }>(`SELECT MIN(expires_at) AS at FROM slots`).one().at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}

import { DurableObject } from "cloudflare:workers";
import { SESSION_LIMIT_NAMES, type OpenStepInput, type OpenStepResult, type SessionLimits, type SessionRemaining, type SessionState, type SessionView, type SettleStepInput, type TimelineStep } from "../src/sessions/session-types";

type SessionRow = { tenant_id: string; session_id: string; state: SessionState; limits_json: string; limited_by: string | null; first_at: number; last_at: number; ended_at: number | null };
type Totals = { steps: number; tool_calls: number; committed_usd: number; reserved_usd: number; committed_tokens: number };
type StepRow = Omit<TimelineStep, "retries"> & { retries: number };

const EPSILON = 1e-12;

/** The tighter of two limit sets, key by key: a limit once tightened in a session stays tightened. */
function tightest(a: SessionLimits, b: SessionLimits): SessionLimits {
  const out: SessionLimits = {};
  for (const name of SESSION_LIMIT_NAMES) {
    const values = [a[name], b[name]].filter((v): v is number => v !== undefined);
    if (values.length) out[name] = Math.min(...values);
  }
  return out;
}

/**
 * One per agent session (named `<tenant>:<session id>`). A step is decided and reserved in one
 * synchronous section over SQLite, like a budget admission: concurrent calls in a session see each
 * other's reservations, so `max_usd`, `max_steps` and the others hold however many calls race.
 * Settlement swaps a step's reservation for its actual cost; an alarm closes steps whose worker never
 * came back at their reserved worst case (a session limit errs on the side of stopping the agent).
 */
export class AgentSession extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS session (id INTEGER PRIMARY KEY CHECK (id = 1), tenant_id TEXT NOT NULL, session_id TEXT NOT NULL,
        state TEXT NOT NULL, limits_json TEXT NOT NULL, limited_by TEXT, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, ended_at INTEGER);
      CREATE TABLE IF NOT EXISTS steps (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, task TEXT NOT NULL,
        body_hash TEXT NOT NULL, status TEXT NOT NULL, http_status INTEGER, started_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        reserved_usd REAL NOT NULL, reserved_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
        latency_ms REAL, cache TEXT, retries INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS steps_running ON steps(status, expires_at);
      CREATE TABLE IF NOT EXISTS body_hashes (hash TEXT PRIMARY KEY, n INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS tools (name TEXT PRIMARY KEY, retries INTEGER NOT NULL DEFAULT 0, last_failed INTEGER NOT NULL DEFAULT 0);
    `);
  }

  private session(): SessionRow | undefined {
    return this.sql.exec<SessionRow>(`SELECT tenant_id, session_id, state, limits_json, limited_by, first_at, last_at, ended_at FROM session WHERE id = 1`).toArray()[0];
  }

  private totals(): Totals {
    return this.sql
      .exec<Totals>(`SELECT COALESCE(SUM(kind = 'model'), 0) AS steps, COALESCE(SUM(kind = 'tool'), 0) AS tool_calls,
        COALESCE(SUM(CASE WHEN status = 'running' THEN reserved_usd ELSE cost_usd END), 0) AS committed_usd,
        COALESCE(SUM(CASE WHEN status = 'running' THEN reserved_usd ELSE 0 END), 0) AS reserved_usd,
        COALESCE(SUM(CASE WHEN status = 'running' THEN reserved_tokens ELSE tokens END), 0) AS committed_tokens FROM steps`)
      .one();
  }

  private remaining(limits: SessionLimits, totals: Totals, firstAt: number, now: number): SessionRemaining {
    const left = (limit: number | undefined, used: number) => (limit === undefined ? undefined : Math.max(0, limit - used));
    const usd = left(limits.max_usd, totals.committed_usd);
    const wall = limits.max_wall_clock_s === undefined ? undefined : Math.max(0, Math.floor(limits.max_wall_clock_s - (now - firstAt) / 1000));
    return { steps: left(limits.max_steps, totals.steps), tool_calls: left(limits.max_tool_calls, totals.tool_calls), tokens: left(limits.max_tokens, totals.committed_tokens), usd, wall_clock_s: wall };
  }

  async open(input: OpenStepInput): Promise<OpenStepResult> {
    // Everything below is synchronous: no other open can interleave between the checks and the reservation.
    const now = input.now ?? Date.now();
    let row = this.session();
    if (!row) {
      row = { tenant_id: input.tenantId, session_id: input.sessionId, state: "active", limits_json: "{}", limited_by: null, first_at: now, last_at: now, ended_at: null };
      this.sql.exec(`INSERT INTO session (id, tenant_id, session_id, state, limits_json, first_at, last_at) VALUES (1, ?, ?, 'active', ?, ?, ?)`, input.tenantId, input.sessionId, JSON.stringify(input.limits), now, now);
    }
    const limits = tightest(JSON.parse(row.limits_json) as SessionLimits, input.limits);
    this.sql.exec(`UPDATE session SET limits_json = ?, last_at = ? WHERE id = 1`, JSON.stringify(limits), now);
    const existing = this.sql.exec<{ id: string }>(`SELECT id FROM steps WHERE id = ?`, input.stepId).toArray()[0];
    const totals = this.totals();
    if (existing) return { ok: true, remaining: this.remaining(limits, totals, row.first_at, now), limits };

    const refuse = (code: "session_limit_exceeded" | "loop_detected", param: string, message: string): OpenStepResult => {
      this.sql.exec(`UPDATE session SET state = CASE WHEN state = 'ended' THEN state ELSE 'limited' END, limited_by = ? WHERE id = 1`, param);
      return { ok: false, code, param, message, remaining: this.remaining(limits, totals, row.first_at, now), limits };
    };
    if (row.state === "ended") return refuse("session_limit_exceeded", "session", `Session ${input.sessionId} has ended`);
    if (limits.max_wall_clock_s !== undefined && now - row.first_at > limits.max_wall_clock_s * 1000) {
      return refuse("session_limit_exceeded", "max_wall_clock_s", `Session ${input.sessionId} is older than its max_wall_clock_s of ${limits.max_wall_clock_s}`);
    }
    const seen = this.sql.exec<{ n: number }>(`SELECT n FROM body_hashes WHERE hash = ?`, input.bodyHash).toArray()[0]?.n ?? 0;
    if (limits.loop_repeat_limit !== undefined && seen + 1 > limits.loop_repeat_limit) {
      return refuse("loop_detected", "loop_repeat_limit", `The same request was already sent ${seen} times in session ${input.sessionId} (loop_repeat_limit ${limits.loop_repeat_limit})`);
    }
    if (input.kind === "model" && limits.max_steps !== undefined && totals.steps + 1 > limits.max_steps) {
      return refuse("session_limit_exceeded", "max_steps", `Session ${input.sessionId} has used its ${limits.max_steps} steps`);
    }
    if (input.kind === "tool" && limits.max_tool_calls !== undefined && totals.tool_calls + 1 > limits.max_tool_calls) {
      return refuse("session_limit_exceeded", "max_tool_calls", `Session ${input.sessionId} has used its ${limits.max_tool_calls} tool calls`);
    }
    // Calling a tool again after it failed is a retry, whether the agent or the gateway makes it.
    const tool = input.kind === "tool" ? this.sql.exec<{ retries: number; last_failed: number }>(`SELECT retries, last_failed FROM tools WHERE name = ?`, input.name).toArray()[0] : undefined;
    const isRetry = tool?.last_failed === 1;
    if (isRetry && limits.max_retries_per_tool !== undefined && (tool?.retries ?? 0) + 1 > limits.max_retries_per_tool) {
      return refuse("session_limit_exceeded", "max_retries_per_tool", `Tool ${input.name} has been retried ${tool?.retries ?? 0} times in session ${input.sessionId} (max_retries_per_tool ${limits.max_retries_per_tool})`);
    }
    if (limits.max_tokens !== undefined && totals.committed_tokens + input.estimateTokens > limits.max_tokens) {
      return refuse("session_limit_exceeded", "max_tokens", `Session ${input.sessionId} cannot cover ${input.estimateTokens} more tokens (max_tokens ${limits.max_tokens}, ${Math.max(0, limits.max_tokens - totals.committed_tokens)} left)`);
    }
    if (limits.max_usd !== undefined && totals.committed_usd + input.estimateUsd > limits.max_usd + EPSILON) {
      return refuse("session_limit_exceeded", "max_usd", `Session ${input.sessionId} cannot cover this call's worst case of $${input.estimateUsd.toFixed(6)} (max_usd ${limits.max_usd}, $${Math.max(0, limits.max_usd - totals.committed_usd).toFixed(6)} left)`);
    }

    const seq = this.sql.exec<{ n: number }>(`SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM steps`).one().n;
    this.sql.exec(`INSERT INTO steps (id, seq, kind, name, task, body_hash, status, started_at, expires_at, reserved_usd, reserved_tokens) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)`,
      input.stepId, seq, input.kind, input.name, input.task, input.bodyHash, now, now + input.holdMs, input.estimateUsd, input.estimateTokens);
    this.sql.exec(`INSERT INTO body_hashes (hash, n) VALUES (?, 1) ON CONFLICT (hash) DO UPDATE SET n = n + 1`, input.bodyHash);
    if (isRetry) this.sql.exec(`UPDATE tools SET retries = retries + 1 WHERE name = ?`, input.name);
    const after: Totals = { ...totals, steps: totals.steps + (input.kind === "model" ? 1 : 0), tool_calls: totals.tool_calls + (input.kind === "tool" ? 1 : 0), committed_usd: totals.committed_usd + input.estimateUsd, committed_tokens: totals.committed_tokens + input.estimateTokens };
    await this.scheduleAlarm(now + input.holdMs);
    return { ok: true, remaining: this.remaining(limits, after, row.first_at, now), limits };
  }

  /**
   * The gateway's own retry of a tool call inside one step: granted (and counted) while the tool has
   * retries left in this session.
   */
  async retry(stepId: string, tool: string): Promise<boolean> {
    const row = this.session();
    if (!row || row.state === "ended") return false;
    const limits = JSON.parse(row.limits_json) as SessionLimits;
    const used = this.sql.exec<{ retries: number }>(`SELECT retries FROM tools WHERE name = ?`, tool).toArray()[0]?.retries ?? 0;
    if (limits.max_retries_per_tool !== undefined && used + 1 > limits.max_retries_per_tool) return false;
    this.sql.exec(`INSERT INTO tools (name, retries) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET retries = retries + 1`, tool);
    this.sql.exec(`UPDATE steps SET retries = retries + 1 WHERE id = ?`, stepId);
    return true;
  }

  /**
   * Raises a running step's reservation to a dearer fallback's worst case, in one synchronous section
   * like `open`: false (and nothing reserved) when `max_usd` cannot cover the difference.
   */
  async cover(stepId: string, usd: number): Promise<boolean> {
    const row = this.session();
    const step = this.sql.exec<{ reserved_usd: number; status: string }>(`SELECT reserved_usd, status FROM steps WHERE id = ?`, stepId).toArray()[0];
    if (!row || !step || step.status !== "running") return false;
    if (usd <= step.reserved_usd) return true;
    const limits = JSON.parse(row.limits_json) as SessionLimits;
    if (limits.max_usd !== undefined && this.totals().committed_usd - step.reserved_usd + usd > limits.max_usd + EPSILON) return false;
    this.sql.exec(`UPDATE steps SET reserved_usd = ? WHERE id = ?`, usd, stepId);
    return true;
  }

  /** Swaps the step's reservation for what it really cost; a second settle of the same step is a no-op. */
  async settle(input: SettleStepInput): Promise<SessionRemaining | null> {
    const now = input.now ?? Date.now();
    const step = this.sql.exec<{ kind: string; name: string; status: string }>(`SELECT kind, name, status FROM steps WHERE id = ?`, input.stepId).toArray()[0];
    const row = this.session();
    if (!step || !row) return null;
    if (step.status === "running") {
      const ok = input.status < 400;
      this.sql.exec(`UPDATE steps SET status = ?, http_status = ?, cost_usd = ?, tokens = ?, latency_ms = ?, cache = ? WHERE id = ?`,
        ok ? "ok" : "error", input.status, input.costUsd, input.tokens, input.latencyMs, input.cache ?? null, input.stepId);
      if (step.kind === "tool") this.sql.exec(`INSERT INTO tools (name, last_failed) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_failed = excluded.last_failed`, step.name, ok ? 0 : 1);
      this.sql.exec(`UPDATE session SET last_at = MAX(last_at, ?) WHERE id = 1`, now);
    }
    return this.remaining(JSON.parse(row.limits_json) as SessionLimits, this.totals(), row.first_at, now);
  }

  async end(now = Date.now()): Promise<void> {
    this.sql.exec(`UPDATE session SET state = 'ended', ended_at = COALESCE(ended_at, ?) WHERE id = 1`, now);
  }

  /** Null when the session does not exist, or belongs to another tenant (the caller answers 404). */
  async view(tenantId: string, now = Date.now()): Promise<SessionView | null> {
    const row = this.session();
    if (!row || row.tenant_id !== tenantId) return null;
    const limits = JSON.parse(row.limits_json) as SessionLimits;
    const totals = this.totals();
    const remaining = this.remaining(limits, totals, row.first_at, now);
    const exhausted = Object.values(remaining).some((v) => v === 0);
    const state: SessionState = row.state === "ended" ? "ended" : row.state === "limited" || exhausted ? "limited" : "active";
    const timeline = this.sql.exec<StepRow>(`SELECT seq, id, kind, name, task, status, http_status, started_at, cost_usd, reserved_usd, tokens, latency_ms, cache, retries FROM steps ORDER BY seq`).toArray();
    const retries = this.sql.exec<{ name: string; retries: number }>(`SELECT name, retries FROM tools WHERE retries > 0`).toArray();
    const settled = this.sql.exec<{ usd: number; tokens: number }>(`SELECT COALESCE(SUM(cost_usd), 0) AS usd, COALESCE(SUM(tokens), 0) AS tokens FROM steps WHERE status != 'running'`).one();
    return {
      id: row.session_id,
      state,
      limited_by: row.limited_by,
      limits,
      counters: {
        steps: totals.steps,
        tool_calls: totals.tool_calls,
        tokens: settled.tokens,
        cost_usd: settled.usd,
        reserved_usd: totals.reserved_usd,
        retries_per_tool: Object.fromEntries(retries.map((r) => [r.name, r.retries])),
        first_activity: row.first_at,
        last_activity: row.last_at,
        ended_at: row.ended_at,
      },
      remaining,
      timeline,
    };
  }

  private async scheduleAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || at < current) await this.ctx.storage.setAlarm(at);
  }

  /** Steps whose worker never settled are closed at their reserved worst case. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec(`UPDATE steps SET status = 'expired', cost_usd = reserved_usd, tokens = reserved_tokens WHERE status = 'running' AND expires_at <= ?`, now);
    const next = this.sql.exec<{ at: number | null }>(`SELECT MIN(expires_at) AS at FROM steps WHERE status = 'running'`).one().at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}

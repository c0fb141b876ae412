import { DurableObject } from "cloudflare:workers";
import type { PromptVersion } from "../src/prompts/prompt-definition";

/** Which version serves by default, and which one a share of traffic tries. */
export interface RolloutState {
  stable: number | null;
  candidate: number | null;
  /** Share of traffic (0-100) the candidate gets. */
  percent: number;
  /** The stable version before the last promotion: what a rollback with no candidate returns to. */
  previous_stable: number | null;
  updated_at: number;
}

export interface PromptView {
  name: string;
  versions: PromptVersion[];
  rollout: RolloutState;
}

export type RolloutResult = { ok: true; rollout: RolloutState } | { ok: false; status: 400 | 404; message: string };

export interface ResolvedPrompt {
  version: PromptVersion;
  /** True when the rollout sent this request to the candidate. */
  candidate: boolean;
}

interface VersionRow extends Record<string, SqlStorageValue> {
  version: number;
  body_json: string;
  created_at: number;
}
interface RolloutRow extends Record<string, SqlStorageValue> {
  stable: number | null;
  candidate: number | null;
  percent: number;
  previous_stable: number | null;
  updated_at: number;
}

const toVersion = (row: VersionRow): PromptVersion => ({ ...(JSON.parse(row.body_json) as Omit<PromptVersion, "version" | "created_at">), version: row.version, created_at: row.created_at });

/**
 * One per tenant, all of its prompts. A rollout or rollback must hold on the very next request in every
 * isolate, so the state lives here (strongly consistent) and is read on each prompt request, never
 * through a cache.
 */
export class PromptRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS versions (name TEXT NOT NULL, version INTEGER NOT NULL, body_json TEXT NOT NULL,
      created_at INTEGER NOT NULL, PRIMARY KEY (name, version))`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS rollouts (name TEXT PRIMARY KEY, stable INTEGER, candidate INTEGER,
      percent REAL NOT NULL DEFAULT 0, previous_stable INTEGER, updated_at INTEGER NOT NULL)`);
  }

  private rollout(name: string): RolloutState | undefined {
    const row = this.sql.exec<RolloutRow>(`SELECT stable, candidate, percent, previous_stable, updated_at FROM rollouts WHERE name = ?`, name).toArray()[0];
    return row ? { stable: row.stable, candidate: row.candidate, percent: row.percent, previous_stable: row.previous_stable, updated_at: row.updated_at } : undefined;
  }

  private version(name: string, version: number): PromptVersion | undefined {
    const row = this.sql.exec<VersionRow>(`SELECT version, body_json, created_at FROM versions WHERE name = ? AND version = ?`, name, version).toArray()[0];
    return row ? toVersion(row) : undefined;
  }

  private save(name: string, state: Omit<RolloutState, "updated_at">, now: number): RolloutState {
    this.sql.exec(
      `INSERT INTO rollouts (name, stable, candidate, percent, previous_stable, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET stable = excluded.stable, candidate = excluded.candidate, percent = excluded.percent,
       previous_stable = excluded.previous_stable, updated_at = excluded.updated_at`,
      name, state.stable, state.candidate, state.percent, state.previous_stable, now,
    );
    return { ...state, updated_at: now };
  }

  /** Stores a new immutable version; the first one becomes stable, later ones wait for a rollout. */
  async putVersion(name: string, body: Omit<PromptVersion, "version" | "created_at">, now = Date.now()): Promise<number> {
    const next = Number(this.sql.exec<{ n: number }>(`SELECT COALESCE(MAX(version), 0) + 1 AS n FROM versions WHERE name = ?`, name).one().n);
    this.sql.exec(`INSERT INTO versions (name, version, body_json, created_at) VALUES (?, ?, ?, ?)`, name, next, JSON.stringify(body), now);
    if (!this.rollout(name)) this.save(name, { stable: next, candidate: null, percent: 0, previous_stable: null }, now);
    return next;
  }

  async view(name: string): Promise<PromptView | null> {
    const rollout = this.rollout(name);
    if (!rollout) return null;
    const versions = this.sql.exec<VersionRow>(`SELECT version, body_json, created_at FROM versions WHERE name = ? ORDER BY version`, name).toArray().map(toVersion);
    return { name, versions, rollout };
  }

  /** Percent 100 promotes the version to stable; 0 withdraws the candidate. */
  async setRollout(name: string, version: number, percent: number, now = Date.now()): Promise<RolloutResult> {
    const current = this.rollout(name);
    if (!current) return { ok: false, status: 404, message: `No prompt named '${name}'` };
    if (!this.version(name, version)) return { ok: false, status: 400, message: `Prompt '${name}' has no version ${version}` };
    if (version === current.stable) return { ok: false, status: 400, message: `Version ${version} is already the stable version of '${name}'` };
    if (percent >= 100) return { ok: true, rollout: this.save(name, { stable: version, candidate: null, percent: 0, previous_stable: current.stable }, now) };
    const rollout = percent <= 0 ? { ...current, candidate: null, percent: 0 } : { ...current, candidate: version, percent };
    return { ok: true, rollout: this.save(name, rollout, now) };
  }

  /** Drops the candidate; with none, returns to the version stable before the last promotion. */
  async rollback(name: string, now = Date.now()): Promise<RolloutResult> {
    const current = this.rollout(name);
    if (!current) return { ok: false, status: 404, message: `No prompt named '${name}'` };
    if (current.candidate !== null) return { ok: true, rollout: this.save(name, { ...current, candidate: null, percent: 0 }, now) };
    if (current.previous_stable !== null) return { ok: true, rollout: this.save(name, { stable: current.previous_stable, candidate: null, percent: 0, previous_stable: null }, now) };
    return { ok: false, status: 400, message: `Prompt '${name}' has no candidate and no earlier stable version to roll back to` };
  }

  /**
   * The version a request gets: the pinned one, else the candidate for buckets under its share, else
   * the stable one. `bucket` (0-9999) is a stable hash of the session or request, computed by the caller.
   */
  async resolve(name: string, pinned: number | null, bucket: number): Promise<ResolvedPrompt | null> {
    const rollout = this.rollout(name);
    if (!rollout) return null;
    if (pinned !== null) {
      const version = this.version(name, pinned);
      return version ? { version, candidate: false } : null;
    }
    const candidate = rollout.candidate !== null && bucket < rollout.percent * 100;
    const chosen = candidate ? rollout.candidate : rollout.stable;
    const version = chosen === null ? undefined : this.version(name, chosen);
    return version ? { version, candidate } : null;
  }
}

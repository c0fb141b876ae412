import * as z from "zod";
import type { Lane } from "./lanes";
import { StoredHintsSchema } from "./stored-hints";

export type RunStatus = "running" | "succeeded" | "failed" | "timed_out";
export type StepStatus = "pending" | "queued" | "running" | "succeeded" | "failed" | "skipped" | "cancelled";

export interface RunRow {
  id: string;
  tenant_id: string;
  key_id: string | null;
  workflow_name: string;
  workflow_version: number;
  definition_json: string;
  input_json: string;
  hints_json: string;
  lane: Lane;
  status: RunStatus;
  error_json: string | null;
  created_at: number;
  deadline_at: number;
  finished_at: number | null;
}

export interface StepRow {
  run_id: string;
  name: string;
  position: number;
  status: StepStatus;
  attempts: number;
  max_attempts: number;
  lease_until: number | null;
  enqueued_at: number | null;
  output: string | null;
  model: string | null;
  tier: string | null;
  cache: string | null;
  error_json: string | null;
  note: string | null;
  started_at: number | null;
  finished_at: number | null;
}

/** A run's stored hints: the request's x-tollgate-* hints plus per-step sim faults (dev/test hook). */
export const RunHintsSchema = StoredHintsSchema.extend({ stepFaults: z.record(z.string(), z.string().max(512)).optional() });
export type RunHints = z.infer<typeof RunHintsSchema>;

export const stepOwnerId = (runId: string, step: string): string => `${runId}/${step}`;

export function getRun(db: D1Database, runId: string): Promise<RunRow | null> {
  return db.prepare("SELECT * FROM workflow_runs WHERE id = ?").bind(runId).first<RunRow>();
}

export async function getSteps(db: D1Database, runId: string): Promise<StepRow[]> {
  const { results } = await db.prepare("SELECT * FROM workflow_steps WHERE run_id = ? ORDER BY position").bind(runId).all<StepRow>();
  return results;
}

export function getStep(db: D1Database, runId: string, name: string): Promise<StepRow | null> {
  return db.prepare("SELECT * FROM workflow_steps WHERE run_id = ? AND name = ?").bind(runId, name).first<StepRow>();
}

/** Same rule as jobs: a queued step, or a running one whose consumer's lease ran out. */
export function claimStep(db: D1Database, runId: string, name: string, now: number, leaseUntil: number): Promise<StepRow | null> {
  return db
    .prepare(
      `UPDATE workflow_steps SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, ?1), lease_until = ?2
        WHERE run_id = ?3 AND name = ?4 AND (status = 'queued' OR (status = 'running' AND lease_until < ?1)) RETURNING *`,
    )
    .bind(now, leaseUntil, runId, name)
    .first<StepRow>();
}

export interface StepSettlement {
  status: StepStatus;
  output?: string | null;
  model?: string | null;
  tier?: string | null;
  cache?: string | null;
  error?: unknown;
  note?: string | null;
  finished?: boolean;
  /** Back to queued with a delayed message: when it is due (the sweep resends it only once overdue). */
  dueInS?: number;
}

/**
 * Moves a step out of `from`; with `attempt`, only the claim holder can (stale-proof, idempotent).
 * A statement, so the attempt's ledger row can go in the same D1 batch.
 */
export function settleStepStatement(db: D1Database, runId: string, name: string, from: StepStatus[], attempt: number | null, s: StepSettlement, now: number): D1PreparedStatement {
  const placeholders = from.map(() => "?").join(", ");
  return db
    .prepare(
      `UPDATE workflow_steps SET status = ?, output = COALESCE(?, output), model = COALESCE(?, model), tier = COALESCE(?, tier), cache = COALESCE(?, cache),
              error_json = ?, note = COALESCE(?, note), lease_until = NULL, finished_at = CASE WHEN ? THEN ? ELSE finished_at END,
              enqueued_at = CASE WHEN ? = 'queued' THEN ? ELSE enqueued_at END
        WHERE run_id = ? AND name = ? AND status IN (${placeholders}) AND (? IS NULL OR attempts = ?)`,
    )
    .bind(
      s.status, s.output ?? null, s.model ?? null, s.tier ?? null, s.cache ?? null,
      s.error === undefined ? null : JSON.stringify(s.error), s.note ?? null, s.finished === false ? 0 : 1, now,
      s.status, now + (s.dueInS ?? 0) * 1000,
      runId, name, ...from, attempt, attempt,
    );
}

/** Returns whether this call made the change. */
export async function settleStep(db: D1Database, runId: string, name: string, from: StepStatus[], attempt: number | null, s: StepSettlement, now: number): Promise<boolean> {
  const res = await settleStepStatement(db, runId, name, from, attempt, s, now).run();
  return res.meta.changes > 0;
}

/** Ends a running run; pending and queued steps are cancelled, running ones may still finish. */
export async function closeRun(db: D1Database, runId: string, status: Exclude<RunStatus, "running">, error: unknown, now: number): Promise<boolean> {
  const [run] = await db.batch([
    db.prepare("UPDATE workflow_runs SET status = ?, error_json = ?, finished_at = ? WHERE id = ? AND status = 'running'").bind(status, error === null ? null : JSON.stringify(error), now, runId),
    db
      .prepare("UPDATE workflow_steps SET status = 'cancelled', finished_at = ?, note = 'the run ended before this step ran' WHERE run_id = ? AND status IN ('pending', 'queued')")
      .bind(now, runId),
  ]);
  return (run?.meta.changes ?? 0) > 0;
}

/** Cost per step, summed over attempts (one work_attempts row per ledger row). */
export async function stepCosts(db: D1Database, runId: string): Promise<Map<string, number>> {
  // Owner ids are "<run>/<step>": '/' sorts just before '0', so this range is exactly this run's steps.
  const { results } = await db
    .prepare("SELECT owner_id, SUM(cost_usd) AS cost FROM work_attempts WHERE owner_id > ? AND owner_id < ? GROUP BY owner_id")
    .bind(`${runId}/`, `${runId}0`)
    .all<{ owner_id: string; cost: number }>();
  return new Map(results.map((r) => [r.owner_id.slice(runId.length + 1), r.cost]));
}

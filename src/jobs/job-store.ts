import type { Lane } from "./lanes";

export const JOB_STATUSES = ["queued", "deferred", "running", "succeeded", "failed", "dead", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_JOB_STATUSES: ReadonlySet<string> = new Set(["succeeded", "failed", "dead", "cancelled"]);

export interface JobRow {
  id: string;
  tenant_id: string;
  key_id: string | null;
  batch_id: string | null;
  custom_id: string | null;
  item_index: number | null;
  lane: Lane;
  status: JobStatus;
  request_json: string;
  hints_json: string;
  callback_url: string | null;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  deadline_at: number | null;
  lease_until: number | null;
  enqueued_at: number | null;
  result_json: string | null;
  error_json: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  callback_state: "pending" | "delivered" | "failed" | null;
  callback_attempts: number;
  callback_next_at: number | null;
  callback_error: string | null;
}

export type NewJob = Pick<
  JobRow,
  "id" | "tenant_id" | "key_id" | "lane" | "status" | "request_json" | "hints_json" | "callback_url" | "max_attempts" | "timeout_ms" | "deadline_at" | "enqueued_at" | "created_at"
>;

export function insertJobStatement(db: D1Database, job: NewJob): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO jobs (id, tenant_id, key_id, lane, status, request_json, hints_json, callback_url, max_attempts, timeout_ms, deadline_at, enqueued_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(job.id, job.tenant_id, job.key_id, job.lane, job.status, job.request_json, job.hints_json, job.callback_url, job.max_attempts, job.timeout_ms, job.deadline_at, job.enqueued_at, job.created_at);
}

/** Tenant-scoped: another tenant's job is indistinguishable from a missing one. */
export function getTenantJob(db: D1Database, tenantId: string, id: string): Promise<JobRow | null> {
  return db.prepare("SELECT * FROM jobs WHERE id = ? AND tenant_id = ?").bind(id, tenantId).first<JobRow>();
}

export function getJob(db: D1Database, id: string): Promise<JobRow | null> {
  return db.prepare("SELECT * FROM jobs WHERE id = ?").bind(id).first<JobRow>();
}

/**
 * Takes the job for one attempt. Only a queued job, or a running one whose lease has run out (its
 * consumer died), can be claimed, so a message delivered twice, or redelivered mid-run, runs once.
 */
export function claimJob(db: D1Database, id: string, now: number, leaseUntil: number): Promise<JobRow | null> {
  return db
    .prepare(
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, ?1), lease_until = ?2, error_json = NULL
        WHERE id = ?3 AND (status = 'queued' OR (status = 'running' AND lease_until < ?1)) RETURNING *`,
    )
    .bind(now, leaseUntil, id)
    .first<JobRow>();
}

export interface JobOutcome {
  status: "succeeded" | "failed" | "dead";
  result?: unknown;
  error?: unknown;
}

/**
 * Ends the attempt that holds the claim. The attempt number in the WHERE clause makes the write
 * idempotent and stale-proof: a consumer whose lease was taken over cannot overwrite the newer result.
 * A statement, so the attempt's ledger row can go in the same D1 batch.
 */
export function finishJobStatement(db: D1Database, id: string, attempt: number, outcome: JobOutcome, now: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE jobs SET status = ?1, result_json = ?2, error_json = ?3, finished_at = ?4, lease_until = NULL,
              callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END,
              callback_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE ?4 END
        WHERE id = ?5 AND status = 'running' AND attempts = ?6`,
    )
    .bind(outcome.status, outcome.result === undefined ? null : JSON.stringify(outcome.result), outcome.error === undefined ? null : JSON.stringify(outcome.error), now, id, attempt);
}

export async function finishJob(db: D1Database, id: string, attempt: number, outcome: JobOutcome, now: number): Promise<boolean> {
  const res = await finishJobStatement(db, id, attempt, outcome, now).run();
  return res.meta.changes > 0;
}

/** Ends a job that is not running (deadline passed while waiting, dead-lettered, stuck for good). */
export async function closeWaitingJob(db: D1Database, id: string, from: JobStatus[], outcome: JobOutcome, now: number): Promise<boolean> {
  const placeholders = from.map(() => "?").join(", ");
  const res = await db
    .prepare(
      `UPDATE jobs SET status = ?, error_json = ?, finished_at = ?, lease_until = NULL,
              callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END,
              callback_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE ? END
        WHERE id = ? AND status IN (${placeholders})`,
    )
    .bind(outcome.status, outcome.error === undefined ? null : JSON.stringify(outcome.error), now, now, id, ...from)
    .run();
  return res.meta.changes > 0;
}

/**
 * Gives the claim back after a retryable failure; the queue redelivers the message after `delayS`.
 * enqueued_at is when that delivery is due, so the sweep only resends it once it is overdue.
 */
export function releaseJobStatement(db: D1Database, id: string, attempt: number, error: unknown, now: number, delayS = 0): D1PreparedStatement {
  return db
    .prepare("UPDATE jobs SET status = 'queued', lease_until = NULL, error_json = ?, enqueued_at = ? WHERE id = ? AND status = 'running' AND attempts = ?")
    .bind(JSON.stringify(error), now + delayS * 1000, id, attempt);
}

export async function cancelWaitingJob(db: D1Database, tenantId: string, id: string, now: number): Promise<boolean> {
  const res = await db
    .prepare("UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_until = NULL WHERE id = ? AND tenant_id = ? AND status IN ('queued', 'deferred')")
    .bind(now, id, tenantId)
    .run();
  return res.meta.changes > 0;
}

/** Total cost over every attempt (ledger-consistent: one work_attempts row per ledger row). */
export async function ownerCost(db: D1Database, ownerId: string): Promise<number> {
  const row = await db.prepare("SELECT COALESCE(SUM(cost_usd), 0) AS cost FROM work_attempts WHERE owner_id = ?").bind(ownerId).first<{ cost: number }>();
  return row?.cost ?? 0;
}

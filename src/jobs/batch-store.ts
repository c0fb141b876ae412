import { ulid } from "../unique-id";
import type { TenantContext } from "../hono-env";
import type { ChatRequest } from "../validate/chat-request";
import type { EmbeddingsWork } from "../validate/embeddings-request";
import { LANE_SETTINGS } from "./lanes";
import { latestRelease } from "./off-peak-window";
import type { StoredHints } from "./stored-hints";

export interface BatchRow {
  id: string;
  tenant_id: string;
  key_id: string | null;
  status: "deferred" | "released" | "cancelled";
  off_peak: number;
  completion_window_s: number;
  total: number;
  metadata_json: string | null;
  created_at: number;
  deadline_at: number;
  release_by: number;
  released_at: number | null;
  release_reason: string | null;
  cancelled_at: number | null;
}

export interface NewBatch {
  id?: string;
  tenant: TenantContext;
  items: { custom_id: string; body: ChatRequest | EmbeddingsWork }[];
  windowS: number;
  offPeak: boolean;
  metadata?: Record<string, string>;
  hints: StoredHints;
}

/**
 * Two statements whatever the size: the batch row, and every item inserted from one JSON array with
 * json_each. That keeps a 1,000-item batch inside D1's per-invocation query limit and atomic.
 */
export async function insertBatch(db: D1Database, batch: NewBatch, now: number): Promise<BatchRow> {
  const id = batch.id ?? `batch_${ulid()}`;
  const deadlineAt = now + batch.windowS * 1000;
  const row: BatchRow = {
    id,
    tenant_id: batch.tenant.tenantId,
    key_id: batch.tenant.keyId || null,
    status: "deferred",
    off_peak: batch.offPeak ? 1 : 0,
    completion_window_s: batch.windowS,
    total: batch.items.length,
    metadata_json: batch.metadata ? JSON.stringify(batch.metadata) : null,
    created_at: now,
    deadline_at: deadlineAt,
    release_by: latestRelease(now, batch.windowS),
    released_at: null,
    release_reason: null,
    cancelled_at: null,
  };
  const items = batch.items.map((item) => ({ id: `job_${ulid()}`, custom_id: item.custom_id, request: item.body }));
  await db.batch([
    db
      .prepare(
        `INSERT INTO batches (id, tenant_id, key_id, status, off_peak, completion_window_s, total, metadata_json, created_at, deadline_at, release_by)
         VALUES (?, ?, ?, 'deferred', ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(row.id, row.tenant_id, row.key_id, row.off_peak, row.completion_window_s, row.total, row.metadata_json, now, deadlineAt, row.release_by),
    db
      .prepare(
        `INSERT INTO jobs (id, tenant_id, key_id, batch_id, custom_id, item_index, lane, status, request_json, hints_json, max_attempts, timeout_ms, deadline_at, created_at)
         SELECT json_extract(value, '$.id'), ?1, ?2, ?3, json_extract(value, '$.custom_id'), CAST(key AS INTEGER), 'batch', 'deferred',
                json_extract(value, '$.request'), ?4, ?5, ?6, ?7, ?8
           FROM json_each(?9)`,
      )
      .bind(row.tenant_id, row.key_id, id, JSON.stringify(batch.hints), LANE_SETTINGS.batch.maxAttempts, LANE_SETTINGS.batch.timeoutMs, deadlineAt, now, JSON.stringify(items)),
  ]);
  return row;
}

export function getTenantBatch(db: D1Database, tenantId: string, id: string): Promise<BatchRow | null> {
  return db.prepare("SELECT * FROM batches WHERE id = ? AND tenant_id = ?").bind(id, tenantId).first<BatchRow>();
}

export interface BatchCounts {
  total: number;
  deferred: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  dead: number;
  cancelled: number;
  completed: number;
}

export async function batchCounts(db: D1Database, batchId: string): Promise<{ counts: BatchCounts; costUsd: number; finishedAt: number | null }> {
  const [byStatus, cost] = await db.batch<{ status?: keyof BatchCounts; n?: number; finished_at?: number | null; cost?: number }>([
    db.prepare("SELECT status, COUNT(*) AS n, MAX(finished_at) AS finished_at FROM jobs WHERE batch_id = ? GROUP BY status").bind(batchId),
    db.prepare("SELECT COALESCE(SUM(a.cost_usd), 0) AS cost FROM work_attempts a JOIN jobs j ON j.id = a.owner_id WHERE j.batch_id = ?").bind(batchId),
  ]);
  const counts: BatchCounts = { total: 0, deferred: 0, queued: 0, running: 0, succeeded: 0, failed: 0, dead: 0, cancelled: 0, completed: 0 };
  let finishedAt: number | null = null;
  for (const row of byStatus?.results ?? []) {
    if (!row.status || row.n === undefined) continue;
    counts[row.status] = row.n;
    counts.total += row.n;
    if (row.finished_at) finishedAt = Math.max(finishedAt ?? 0, row.finished_at);
  }
  counts.completed = counts.succeeded + counts.failed + counts.dead + counts.cancelled;
  return { counts, costUsd: cost?.results[0]?.cost ?? 0, finishedAt };
}

/** Cancels what has not started; running items finish and are reported. */
export async function cancelBatch(db: D1Database, batch: BatchRow, now: number): Promise<void> {
  await db.batch([
    db.prepare("UPDATE batches SET status = 'cancelled', cancelled_at = ? WHERE id = ? AND status IN ('deferred', 'released')").bind(now, batch.id),
    db.prepare("UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE batch_id = ? AND status IN ('deferred', 'queued')").bind(now, batch.id),
  ]);
}

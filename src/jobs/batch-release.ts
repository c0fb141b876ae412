import { parsePolicy } from "../config/tenant-policy";
import type { BatchRow } from "./batch-store";
import { inOffPeakWindow } from "./off-peak-window";
import { sendWork, type WorkMessage } from "./work-messages";

export type ReleaseReason = "immediate" | "off_peak_window" | "deadline";

/**
 * Moves a deferred batch's items onto the batch lane. The batch row's conditional UPDATE is the claim,
 * so two overlapping cron runs release it once. Items whose send fails keep enqueued_at NULL and the
 * sweep sends them.
 */
export async function releaseBatch(env: Env, batch: Pick<BatchRow, "id" | "tenant_id">, reason: ReleaseReason, now: number): Promise<number | null> {
  const claim = await env.DB.prepare("UPDATE batches SET status = 'released', released_at = ?, release_reason = ? WHERE id = ? AND status = 'deferred'")
    .bind(now, reason, batch.id)
    .run();
  if (claim.meta.changes === 0) return null;
  const { results } = await env.DB.prepare("UPDATE jobs SET status = 'queued', enqueued_at = ? WHERE batch_id = ? AND status = 'deferred' RETURNING id")
    .bind(now, batch.id)
    .all<{ id: string }>();
  const messages: WorkMessage[] = results.map((row) => ({ type: "job", job_id: row.id, tenant_id: batch.tenant_id, lane: "batch" }));
  const unsent = await sendWork(env, "batch", messages);
  if (unsent.length) {
    const ids = unsent.flatMap((m) => (m.type === "job" ? [m.job_id] : []));
    await env.DB.prepare("UPDATE jobs SET enqueued_at = NULL WHERE id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(ids)).run();
  }
  return results.length;
}

type DeferredRow = Pick<BatchRow, "id" | "tenant_id" | "release_by"> & { policy_json: string };

/**
 * Cron (every 5 minutes): a deferred batch is released when its tenant's off-peak window is open
 * (the policy as it is now, not as it was at submission), or when waiting any longer would miss its
 * completion window.
 */
export async function releaseDeferredBatches(env: Env, now: Date): Promise<{ released: string[]; waiting: number }> {
  const { results } = await env.DB.prepare(
    `SELECT b.id, b.tenant_id, b.release_by, t.policy_json FROM batches b JOIN tenants t ON t.id = b.tenant_id
      WHERE b.status = 'deferred' ORDER BY b.release_by LIMIT 500`,
  ).all<DeferredRow>();
  const released: string[] = [];
  const at = now.getTime();
  for (const row of results) {
    try {
      const reason: ReleaseReason | null = at >= row.release_by ? "deadline" : inOffPeakWindow(parsePolicy(row.policy_json).off_peak, now) ? "off_peak_window" : null;
      if (reason && (await releaseBatch(env, row, reason, at)) !== null) released.push(row.id);
    } catch (error) {
      // One tenant's broken policy or a failed write must not hold back everyone else's batches.
      console.error(JSON.stringify({ level: "error", msg: "batch release failed", batch: row.id, error: String(error) }));
    }
  }
  return { released, waiting: results.length - released.length };
}

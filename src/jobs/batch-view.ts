import type { BatchCounts, BatchRow } from "./batch-store";
import type { JobRow } from "./job-store";

export type BatchStatus = "deferred" | "in_progress" | "completed" | "cancelling" | "cancelled";

export function batchStatus(batch: BatchRow, counts: BatchCounts): BatchStatus {
  if (counts.completed === counts.total) return batch.cancelled_at ? "cancelled" : "completed";
  if (batch.status === "cancelled") return "cancelling";
  return batch.status === "deferred" ? "deferred" : "in_progress";
}

/** GET /v1/batches/:id. Times are epoch milliseconds. */
export function batchView(batch: BatchRow, counts: BatchCounts, costUsd: number, finishedAt: number | null) {
  const status = batchStatus(batch, counts);
  return {
    id: batch.id,
    object: "batch" as const,
    status,
    off_peak: batch.off_peak === 1,
    completion_window: batch.completion_window_s % 3600 === 0 ? `${batch.completion_window_s / 3600}h` : `${batch.completion_window_s / 60}m`,
    request_counts: counts,
    cost_usd: costUsd,
    created_at: batch.created_at,
    deadline_at: batch.deadline_at,
    release_by: batch.release_by,
    released_at: batch.released_at,
    release_reason: batch.release_reason,
    cancelled_at: batch.cancelled_at,
    finished_at: status === "completed" || status === "cancelled" ? finishedAt : null,
    metadata: batch.metadata_json ? (JSON.parse(batch.metadata_json) as Record<string, string>) : null,
    url: `/v1/batches/${batch.id}`,
    results_url: `/v1/batches/${batch.id}/results`,
  };
}

type ItemRow = Pick<JobRow, "id" | "custom_id" | "status" | "result_json" | "error_json" | "attempts"> & { cost: number };

/** One results line: the OpenAI batch output shape, plus status, attempts and cost. */
export function resultLine(item: ItemRow): string {
  const stored = item.result_json ? (JSON.parse(item.result_json) as { response?: unknown; meta?: unknown }) : null;
  const error = item.error_json ? (JSON.parse(item.error_json) as { code?: string; message?: string; status?: number }) : null;
  const done = item.status === "succeeded";
  return JSON.stringify({
    id: item.id,
    custom_id: item.custom_id,
    status: item.status,
    response: done ? { status_code: 200, body: stored?.response ?? null, routing: stored?.meta ?? null } : null,
    error: done ? null : error ? { code: error.code, message: error.message } : item.status === "cancelled" ? { code: "cancelled", message: "The batch was cancelled before this request ran" } : null,
    attempts: item.attempts,
    cost_usd: item.cost,
  });
}

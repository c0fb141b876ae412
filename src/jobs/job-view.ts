import type { JobRow } from "./job-store";

function parsed(json: string | null): unknown {
  if (json === null) return null;
  try {
    return JSON.parse(json);
  } catch {
    return null;
  }
}

interface StoredResult {
  response?: unknown;
  meta?: unknown;
}

/** GET /v1/jobs/:id, and the body of a job's callback. Times are epoch milliseconds. */
export function jobView(job: JobRow, costUsd: number) {
  const result = (parsed(job.result_json) ?? {}) as StoredResult;
  return {
    id: job.id,
    object: "job" as const,
    status: job.status,
    priority: job.lane,
    attempts: job.attempts,
    max_attempts: job.max_attempts,
    result: result.response ?? null,
    routing: result.meta ?? null,
    error: parsed(job.error_json),
    cost_usd: costUsd,
    created_at: job.created_at,
    started_at: job.started_at,
    finished_at: job.finished_at,
    deadline_at: job.deadline_at,
    ...(job.batch_id ? { batch_id: job.batch_id, custom_id: job.custom_id } : {}),
    callback: job.callback_url ? { url: job.callback_url, state: job.callback_state, attempts: job.callback_attempts, error: job.callback_error } : null,
    url: `/v1/jobs/${job.id}`,
  };
}
export type JobView = ReturnType<typeof jobView>;

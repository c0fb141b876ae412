import { GatewayError } from "../errors";
import { WorkRequestSchema } from "./batch-submission";
import { deliverJobCallback } from "./callback-delivery";
import { sendToDeadLetters } from "../delivery/dead-letter-store";
import { claimJob, closeWaitingJob, finishJob, finishJobStatement, getJob, type JobOutcome, type JobRow, releaseJobStatement, TERMINAL_JOB_STATUSES } from "./job-store";
import { LANE_SETTINGS, retryDelayS } from "./lanes";
import { loadWorkTenant } from "./queue-chat-context";
import { isEmbeddingsWork } from "../validate/embeddings-request";
import { type AttemptRecord, commitAttempt, errorRecord, runWorkCall } from "./run-work-call";
import { jobHeartbeat, LEASE_MS } from "./work-lease";
import { attemptHints, parseStoredHints, storedSession } from "./stored-hints";
import type { JobMessage } from "./work-messages";

export interface ExecutionEnv {
  env: Env;
  waitUntil: (promise: Promise<unknown>) => void;
  now?: () => number;
}

const deadlineError = (job: JobRow) =>
  errorRecord(new GatewayError(504, "deadline_exceeded", `The job's deadline passed after ${job.attempts} attempt(s); it will not be retried`));

function notifyIfFinished(x: ExecutionEnv, job: JobRow): void {
  if (job.callback_url) x.waitUntil(deliverJobCallback(x.env, job.id).catch((error) => console.error(JSON.stringify({ level: "error", msg: "callback delivery failed", job: job.id, error: String(error) }))));
}

/**
 * One job message. The message only says "look at job X": everything is decided from the job row,
 * so duplicates, redeliveries mid-run and replays are safe. Returns how the message should end.
 */
export async function executeJob(x: ExecutionEnv, body: JobMessage, deliveryAttempt: number): Promise<{ retryDelayS?: number }> {
  const { env } = x;
  const now = x.now?.() ?? Date.now();
  const job = await getJob(env.DB, body.job_id);
  // Unknown, another tenant's (a forged message), or already finished: nothing to do, ack.
  if (!job || job.tenant_id !== body.tenant_id || TERMINAL_JOB_STATUSES.has(job.status) || job.status === "deferred") return {};

  if (job.deadline_at !== null && now >= job.deadline_at) {
    if (await closeWaitingJob(env.DB, job.id, ["queued"], { status: "failed", error: deadlineError(job) }, now)) notifyIfFinished(x, job);
    return {};
  }
  const settings = LANE_SETTINGS[job.lane];
  const claimed = await claimJob(env.DB, job.id, now, now + LEASE_MS);
  // Someone else holds a live claim (this is a redelivery mid-run): that consumer finishes it, or the
  // sweep takes it back when its lease runs out.
  if (!claimed) return {};
  const attempt = claimed.attempts;

  const clock = () => x.now?.() ?? Date.now();
  // With the attempt's record, the finish and the attempt's ledger row are one D1 batch.
  const finish = async (status: JobOutcome["status"], fields: { result?: unknown; error?: unknown }, record?: AttemptRecord): Promise<boolean> => {
    const outcome = { status, ...fields };
    const done = record ? await commitAttempt(env.DB, record, [finishJobStatement(env.DB, claimed.id, attempt, outcome, clock())]) : await finishJob(env.DB, claimed.id, attempt, outcome, clock());
    if (done) notifyIfFinished(x, claimed);
    return done;
  };

  const loaded = await loadWorkTenant(env, claimed.tenant_id, claimed.key_id);
  const request = WorkRequestSchema.safeParse(JSON.parse(claimed.request_json));
  if ("error" in loaded || !request.success) {
    await finish("failed", { error: errorRecord("error" in loaded ? loaded.error : GatewayError.invalid("The stored request is no longer valid")) });
    return {};
  }
  const { tenant } = loaded;
  // Batch items run at the cheapest tier the policy allows: routed as "auto" with the tier capped at
  // fast (planRoute borrows the nearest tier when the tenant's allowed models have no fast one).
  const batchItem = claimed.batch_id !== null;
  const stored = { ...parseStoredHints(claimed.hints_json), ...(batchItem ? { tier: "fast" as const } : {}) };
  // Embeddings name their model; a chat batch item is routed as "auto" at the fast tier.
  const workRequest = batchItem && !isEmbeddingsWork(request.data) ? { ...request.data, model: "auto" } : request.data;
  const remaining = claimed.deadline_at === null ? claimed.timeout_ms : Math.min(claimed.timeout_ms, claimed.deadline_at - now);
  const result = await runWorkCall(env, x.waitUntil, {
    ownerId: claimed.id,
    attempt,
    endpoint: claimed.batch_id ? "/v1/batches" : "/v1/jobs",
    tenant,
    hints: attemptHints(stored, claimed.lane, remaining),
    simFault: stored.simFault,
    session: storedSession(stored),
    request: workRequest,
    detail: { job_id: claimed.id, lane: claimed.lane, ...(claimed.batch_id ? { batch_id: claimed.batch_id } : {}) },
    heartbeat: jobHeartbeat(env.DB, claimed.id, attempt, clock),
  });
  const { record } = result;

  if (result.ok) {
    const { meta } = result;
    const routing = {
      tier: meta.tier,
      model: meta.model,
      provider: meta.provider,
      cache: meta.cache,
      degraded: meta.degraded ?? null,
      escalated_from: meta.escalatedFrom ?? null,
      ...(batchItem ? { requested_model: request.data.model } : {}),
    };
    await finish("succeeded", { result: { response: result.response, meta: routing } }, record);
    return {};
  }
  const error = errorRecord(result.error);
  const later = x.now?.() ?? Date.now();
  if (!result.retryable) {
    await finish("failed", { error }, record);
    return {};
  }
  if (claimed.deadline_at !== null && later >= claimed.deadline_at) {
    await finish("failed", { error: deadlineError(claimed) }, record);
    return {};
  }
  // Out of attempts (the job's own count, which survives replays, or this message's deliveries):
  // hand it to the dead-letter queue ourselves and ack, rather than let the queue decide blindly.
  if (attempt >= claimed.max_attempts || deliveryAttempt >= settings.maxAttempts) {
    const reason = `Retries exhausted after ${attempt} attempt(s) on the ${claimed.lane} lane; last error: ${error.code}: ${error.message}`;
    if (await finish("dead", { error: { ...error, message: reason } }, record)) await sendToDeadLetters(env, body, { queue: `jobs-${claimed.lane}`, tenantId: claimed.tenant_id, reason, attempts: attempt, now: later });
    return {};
  }
  const delayS = retryDelayS(claimed.lane, attempt, result.retryAfterS);
  await commitAttempt(env.DB, record, [releaseJobStatement(env.DB, claimed.id, attempt, error, later, delayS)]);
  return { retryDelayS: delayS };
}

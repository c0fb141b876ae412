import { GatewayError } from "../errors";
import type { DeadLetterRow } from "../delivery/dead-letter-store";
import { originOf } from "./dead-letter-origin";
import { getJob } from "./job-store";
import { LANE_SETTINGS } from "./lanes";
import { getRun, getStep } from "./workflow-store";
import { sendWork } from "./work-messages";

const conflict = (message: string) => new GatewayError(409, "invalid_request", message);

/** A dead job goes back to `queued` with a fresh set of attempts. */
async function reopenJob(env: Env, jobId: string, now: number): Promise<void> {
  const job = await getJob(env.DB, jobId);
  if (!job) throw conflict(`Job ${jobId} no longer exists`);
  if (job.status !== "dead") throw conflict(`Job ${jobId} is ${job.status}; only dead jobs are replayed`);
  await env.DB.prepare(
    `UPDATE jobs SET status = 'queued', max_attempts = attempts + ?, error_json = NULL, finished_at = NULL, enqueued_at = ?,
            callback_state = NULL, callback_next_at = NULL WHERE id = ? AND status = 'dead'`,
  )
    .bind(LANE_SETTINGS[job.lane].maxAttempts, now, jobId)
    .run();
}

/** A failed required step is queued again and its run reopened, if the run's deadline allows. */
async function reopenStep(env: Env, runId: string, name: string, now: number): Promise<void> {
  const [run, step] = await Promise.all([getRun(env.DB, runId), getStep(env.DB, runId, name)]);
  if (!run || !step) throw conflict(`Workflow step ${runId}/${name} no longer exists`);
  if (step.status !== "failed") throw conflict(`Step '${name}' is ${step.status}; only failed steps are replayed`);
  if (run.deadline_at <= now) throw conflict(`Run ${runId} is past its deadline; start a new run instead`);
  if (run.status !== "failed" && run.status !== "running") throw conflict(`Run ${runId} is ${run.status}`);
  await env.DB.batch([
    env.DB.prepare("UPDATE workflow_runs SET status = 'running', error_json = NULL, finished_at = NULL WHERE id = ? AND status IN ('failed', 'running')").bind(runId),
    env.DB.prepare("UPDATE workflow_steps SET status = 'queued', max_attempts = attempts + 1, error_json = NULL, finished_at = NULL, enqueued_at = ? WHERE run_id = ? AND name = ? AND status = 'failed'").bind(now, runId, name),
    env.DB.prepare("UPDATE workflow_steps SET status = 'pending', note = NULL, finished_at = NULL WHERE run_id = ? AND status = 'cancelled'").bind(runId),
  ]);
}

/**
 * Sends a dead letter back to the queue it came from. The replayed_at claim comes first, so two
 * admins clicking at once replay it once; if the send fails the claim is undone.
 */
export async function replayDeadLetter(env: Env, id: string, now = Date.now()): Promise<{ id: string; queue: string; replayed_at: number }> {
  const row = await env.DB.prepare("SELECT * FROM dead_letters WHERE id = ?").bind(id).first<DeadLetterRow>();
  if (!row) throw GatewayError.notFound("dead letter");
  if (row.replayed_at !== null) throw conflict(`Dead letter ${id} was already replayed at ${new Date(row.replayed_at).toISOString()}`);
  const body: unknown = JSON.parse(row.body_json);
  const origin = originOf(body);
  if (origin.kind === "unknown") throw conflict("This message's origin queue cannot be told from its body, so it cannot be replayed");

  const claim = await env.DB.prepare("UPDATE dead_letters SET replayed_at = ? WHERE id = ? AND replayed_at IS NULL").bind(now, id).run();
  if (claim.meta.changes === 0) throw conflict(`Dead letter ${id} was already replayed`);
  try {
    // Once the work is reopened in D1 the replay has happened: a failed send leaves enqueued_at NULL
    // and the cron sweep sends it (the jobs tables are their own outbox).
    if (origin.kind === "job") {
      await reopenJob(env, origin.message.job_id, now);
      if ((await sendWork(env, origin.message.lane, [origin.message])).length) await env.DB.prepare("UPDATE jobs SET enqueued_at = NULL WHERE id = ?").bind(origin.message.job_id).run();
    } else if (origin.kind === "workflow_step") {
      await reopenStep(env, origin.message.run_id, origin.message.step, now);
      if ((await sendWork(env, origin.message.lane, [origin.message])).length) {
        await env.DB.prepare("UPDATE workflow_steps SET enqueued_at = NULL WHERE run_id = ? AND name = ?").bind(origin.message.run_id, origin.message.step).run();
      }
    } else if (origin.kind === "ledger") {
      await env.LEDGER_QUEUE.send(body, { contentType: "json" });
    } else {
      await env.ALERTS_QUEUE.send(body, { contentType: "json" });
    }
  } catch (error) {
    await env.DB.prepare("UPDATE dead_letters SET replayed_at = NULL WHERE id = ?").bind(id).run();
    throw error instanceof GatewayError ? error : new GatewayError(503, "upstream_error", `Replay failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { id, queue: origin.queue, replayed_at: now };
}

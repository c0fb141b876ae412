import { GatewayError } from "../errors";
import { deliverDueCallbacks } from "./callback-delivery";
import { closeWaitingJob, type JobRow } from "./job-store";
import type { Lane } from "./lanes";
import { errorRecord } from "./run-work-call";
import { advanceRun, stepFailedForGood, timeOutRun } from "./workflow-coordinator";
import { type StepRow } from "./workflow-store";
import { REQUEUE_GRACE_MS } from "./work-lease";
import { sendWork, type WorkMessage } from "./work-messages";

const SWEEP_LIMIT = 500;

async function resend(env: Env, messages: WorkMessage[]): Promise<void> {
  for (const lane of ["interactive", "standard", "batch"] as const) {
    const forLane = messages.filter((m) => m.lane === lane);
    if (forLane.length) await sendWork(env, lane, forLane);
  }
}

/** Jobs: stuck running past their lease → retried or failed; queued but never (re)sent → sent; past deadline → failed. */
async function sweepJobs(env: Env, at: number): Promise<{ requeued: number; failed: number; resent: number }> {
  const db = env.DB;
  const stuck = await db.prepare("SELECT * FROM jobs WHERE status = 'running' AND lease_until < ? LIMIT ?").bind(at, SWEEP_LIMIT).all<JobRow>();
  const messages: WorkMessage[] = [];
  let failed = 0;
  for (const job of stuck.results) {
    const pastDeadline = job.deadline_at !== null && at >= job.deadline_at;
    if (pastDeadline || job.attempts >= job.max_attempts) {
      const why = pastDeadline ? "its deadline passed" : `it ran out of attempts (${job.attempts})`;
      const error = errorRecord(new GatewayError(504, "deadline_exceeded", `The job was stuck in running past its timeout (${job.timeout_ms} ms) and ${why}`));
      if (await closeWaitingJob(db, job.id, ["running"], { status: "failed", error }, at)) failed++;
      continue;
    }
    const taken = await db.prepare("UPDATE jobs SET status = 'queued', lease_until = NULL, enqueued_at = ? WHERE id = ? AND status = 'running' AND lease_until < ?").bind(at, job.id, at).run();
    if (taken.meta.changes > 0) messages.push({ type: "job", job_id: job.id, tenant_id: job.tenant_id, lane: job.lane });
  }
  const requeued = messages.length;

  const expired = await db.prepare("SELECT id FROM jobs WHERE status IN ('queued', 'deferred') AND deadline_at < ? LIMIT ?").bind(at, SWEEP_LIMIT).all<{ id: string }>();
  for (const { id } of expired.results) {
    const error = errorRecord(new GatewayError(504, "deadline_exceeded", "The job's deadline passed before it could run"));
    if (await closeWaitingJob(db, id, ["queued", "deferred"], { status: "failed", error }, at)) failed++;
  }

  const lost = await db
    .prepare(
      // enqueued_at is when its message was due; one still queued a grace later was lost (or is stuck
      // behind a backlog, where a duplicate costs one conditional claim that fails).
      `SELECT id, tenant_id, lane FROM jobs WHERE status = 'queued' AND (enqueued_at IS NULL OR enqueued_at < ?) LIMIT ?`,
    )
    .bind(at - REQUEUE_GRACE_MS, SWEEP_LIMIT)
    .all<{ id: string; tenant_id: string; lane: Lane }>();
  for (const row of lost.results) messages.push({ type: "job", job_id: row.id, tenant_id: row.tenant_id, lane: row.lane });
  if (lost.results.length) {
    await db.prepare("UPDATE jobs SET enqueued_at = ? WHERE id IN (SELECT value FROM json_each(?))").bind(at, JSON.stringify(lost.results.map((r) => r.id))).run();
  }
  await resend(env, messages);
  return { requeued, failed, resent: lost.results.length };
}

type StepWithRun = StepRow & { tenant_id: string; lane: Lane };

/** Workflow runs past their deadline end with partial results; stuck or unsent steps are handled like jobs. */
async function sweepWorkflows(env: Env, at: number): Promise<{ timedOut: number; requeued: number; advanced: number }> {
  const db = env.DB;
  const overdue = await db.prepare("SELECT id FROM workflow_runs WHERE status = 'running' AND deadline_at < ? LIMIT ?").bind(at, SWEEP_LIMIT).all<{ id: string }>();
  let timedOut = 0;
  for (const { id } of overdue.results) if (await timeOutRun(env, id, at)) timedOut++;

  const select = `SELECT s.*, r.tenant_id, r.lane FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id WHERE r.status = 'running' AND `;
  const stuck = await db.prepare(`${select} s.status = 'running' AND s.lease_until < ? LIMIT ?`).bind(at, SWEEP_LIMIT).all<StepWithRun>();
  const messages: WorkMessage[] = [];
  for (const step of stuck.results) {
    if (step.attempts >= step.max_attempts) {
      const error = new GatewayError(504, "deadline_exceeded", `The step was stuck in running past its timeout after ${step.attempts} attempt(s)`);
      await stepFailedForGood(env, step.run_id, step, error, step.attempts, at, true);
      continue;
    }
    const taken = await db
      .prepare("UPDATE workflow_steps SET status = 'queued', lease_until = NULL, enqueued_at = ? WHERE run_id = ? AND name = ? AND status = 'running' AND lease_until < ?")
      .bind(at, step.run_id, step.name, at)
      .run();
    if (taken.meta.changes > 0) messages.push({ type: "workflow_step", run_id: step.run_id, step: step.name, tenant_id: step.tenant_id, lane: step.lane });
  }
  const lost = await db.prepare(`${select} s.status = 'queued' AND (s.enqueued_at IS NULL OR s.enqueued_at < ?) LIMIT ?`).bind(at - REQUEUE_GRACE_MS, SWEEP_LIMIT).all<StepWithRun>();
  for (const step of lost.results) {
    await db.prepare("UPDATE workflow_steps SET enqueued_at = ? WHERE run_id = ? AND name = ?").bind(at, step.run_id, step.name).run();
    messages.push({ type: "workflow_step", run_id: step.run_id, step: step.name, tenant_id: step.tenant_id, lane: step.lane });
  }
  await resend(env, messages);

  // A runner that died between finishing a step and enqueueing the next leaves a run with nothing
  // queued or running: advancing it again enqueues what is ready, or closes it.
  const idle = await db
    .prepare(
      `SELECT r.id FROM workflow_runs r WHERE r.status = 'running' AND r.created_at < ?
          AND NOT EXISTS (SELECT 1 FROM workflow_steps s WHERE s.run_id = r.id AND s.status IN ('queued', 'running')) LIMIT ?`,
    )
    .bind(at - REQUEUE_GRACE_MS, SWEEP_LIMIT)
    .all<{ id: string }>();
  for (const { id } of idle.results) await advanceRun(env, id, at);
  return { timedOut, requeued: messages.length, advanced: idle.results.length };
}

/**
 * Cron (every minute): nothing accepted is left behind, whatever happened to its messages or runners.
 * Leases are short and renewed by heartbeats (work-lease.ts), so dead work is back on a queue within
 * about a lease plus a minute of its runner dying.
 */
export async function sweepStuckWork(env: Env, now: Date): Promise<Record<string, unknown>> {
  const at = now.getTime();
  const jobs = await sweepJobs(env, at);
  const workflows = await sweepWorkflows(env, at);
  const callbacks = await deliverDueCallbacks(env, at);
  return { jobs, workflows, callbacks };
}

import { GatewayError } from "../errors";
import { recordDeadLetter } from "../delivery/dead-letter-store";
import { originOf } from "./dead-letter-origin";
import { deliverJobCallback } from "./callback-delivery";
import { closeWaitingJob, getJob } from "./job-store";
import { stepFailedForGood } from "./workflow-coordinator";
import { getStep } from "./workflow-store";

// Deliveries before the ledger and alert queues give up: wrangler.toml max_retries (5) + 1.
const LEDGER_AND_ALERT_DELIVERIES = 6;

function storedMessage(json: string | null): string | null {
  if (!json) return null;
  try {
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === "object" && parsed !== null && "message" in parsed && typeof parsed.message === "string" ? parsed.message : null;
  } catch {
    return null;
  }
}

/**
 * Records what it can about a dead message, and closes the work it stood for, so a job that the queue
 * gave up on still ends `dead` (never stuck in `queued`). Returns the reason and attempts to store.
 */
async function closeOut(env: Env, body: unknown, deliveries: number, waitUntil: (p: Promise<unknown>) => void): Promise<{ reason: string; attempts: number }> {
  const origin = originOf(body);
  const now = Date.now();
  const queueGaveUp = "the queue gave up after repeated consumer errors";
  switch (origin.kind) {
    case "job": {
      const job = await getJob(env.DB, origin.message.job_id);
      if (!job) return { reason: `job ${origin.message.job_id} does not exist`, attempts: deliveries };
      if (job.status === "queued" || job.status === "running") {
        const error = { code: "internal_error", status: 500, message: `Dead-lettered: ${queueGaveUp}` };
        if (await closeWaitingJob(env.DB, job.id, ["queued", "running"], { status: "dead", error }, now)) waitUntil(deliverJobCallback(env, job.id).catch(() => undefined));
        return { reason: error.message, attempts: job.attempts };
      }
      return { reason: storedMessage(job.error_json) ?? `dead-lettered while ${job.status}`, attempts: job.attempts };
    }
    case "workflow_step": {
      const step = await getStep(env.DB, origin.message.run_id, origin.message.step);
      if (!step) return { reason: `workflow step ${origin.message.run_id}/${origin.message.step} does not exist`, attempts: deliveries };
      if (step.status === "queued" || step.status === "running") {
        await stepFailedForGood(env, step.run_id, step, new GatewayError(500, "internal_error", `Dead-lettered: ${queueGaveUp}`), null, now, false);
        return { reason: `Dead-lettered: ${queueGaveUp}`, attempts: step.attempts };
      }
      return { reason: storedMessage(step.error_json) ?? `dead-lettered while ${step.status}`, attempts: step.attempts };
    }
    case "ledger":
      return { reason: "the ledger consumer could not write this event to D1", attempts: LEDGER_AND_ALERT_DELIVERIES };
    case "alert":
      return { reason: "the alerts consumer could not process this event", attempts: LEDGER_AND_ALERT_DELIVERIES };
    default:
      return { reason: "a message of unknown shape", attempts: deliveries };
  }
}

/** Consumer for the dead-letter queue: every message is kept in D1, listed and replayable by an admin. */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  for (const message of batch.messages) {
    try {
      const origin = originOf(message.body);
      const { reason, attempts } = await closeOut(env, message.body, message.attempts, (p) => ctx.waitUntil(p));
      // The message id is stable across redeliveries of this dead letter, so it is recorded once.
      await recordDeadLetter(env.DB, { id: `dl_${message.id}`, queue: origin.queue, tenantId: origin.tenantId, body: message.body, reason, attempts, now: Date.now() });
      message.ack();
    } catch (error) {
      console.error(JSON.stringify({ level: "error", msg: "dead letter not recorded; retrying", id: message.id, error: String(error) }));
      message.retry({ delaySeconds: 10 });
    }
  }
}

import { checkCallbackUrl } from "../delivery/callback-url-guard";
import { type JobRow, ownerCost } from "./job-store";
import { jobView } from "./job-view";
import { SIGNATURE_HEADER, signWebhook } from "../auth/webhook-signature";

export const MAX_CALLBACK_ATTEMPTS = 5;
const CALLBACK_TIMEOUT_MS = 10_000;
const BACKOFF_BASE_MS = 30_000;

export type DeliveryOutcome = "delivered" | "retrying" | "failed" | "skipped";

/**
 * Takes the next delivery attempt: pushing callback_next_at forward is the claim, so the consumer's
 * immediate try and the cron sweep never deliver the same attempt twice.
 */
async function claimDelivery(db: D1Database, jobId: string, now: number): Promise<JobRow | null> {
  return db
    .prepare(
      `UPDATE jobs SET callback_attempts = callback_attempts + 1,
              callback_next_at = ?1 + ?2 * (1 << MIN(callback_attempts, 6))
        WHERE id = ?3 AND callback_state = 'pending' AND callback_next_at <= ?1 RETURNING *`,
    )
    .bind(now, BACKOFF_BASE_MS, jobId)
    .first<JobRow>();
}

async function settle(db: D1Database, job: JobRow, state: "pending" | "delivered" | "failed", error: string | null): Promise<void> {
  await db.prepare("UPDATE jobs SET callback_state = ?, callback_error = ? WHERE id = ? AND callback_attempts = ?").bind(state, error, job.id, job.callback_attempts).run();
}

/** One signed POST of the finished job to its callback_url; failures are retried by the sweep. */
export async function deliverJobCallback(env: Env, jobId: string, now = Date.now(), fetcher: typeof fetch = fetch): Promise<DeliveryOutcome> {
  const job = await claimDelivery(env.DB, jobId, now);
  if (!job?.callback_url) return "skipped";
  const fail = async (error: string): Promise<DeliveryOutcome> => {
    const final = job.callback_attempts >= MAX_CALLBACK_ATTEMPTS;
    await settle(env.DB, job, final ? "failed" : "pending", error.slice(0, 500));
    return final ? "failed" : "retrying";
  };
  // Checked again at delivery: the environment (or the guard) may be stricter than when it was accepted.
  const verdict = checkCallbackUrl(job.callback_url, env.ENVIRONMENT);
  if (!verdict.ok) {
    await settle(env.DB, job, "failed", `callback_url ${verdict.reason}`);
    return "failed";
  }
  if (!env.WEBHOOK_SIGNING_SECRET) return fail("WEBHOOK_SIGNING_SECRET is not set; callbacks are never sent unsigned");
  const body = JSON.stringify({ type: "job.completed", job: jobView(job, await ownerCost(env.DB, job.id)) });
  try {
    const res = await fetcher(verdict.url.href, {
      method: "POST",
      // A redirect could point anywhere, including past the guard: treat it as a failure.
      redirect: "manual",
      signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
      headers: {
        "content-type": "application/json",
        "user-agent": "Tollgate-Webhook/1",
        "x-tollgate-event": "job.completed",
        "x-tollgate-delivery": `${job.id}:${job.callback_attempts}`,
        [SIGNATURE_HEADER]: await signWebhook(env.WEBHOOK_SIGNING_SECRET, body, Math.floor(now / 1000)),
      },
      body,
    });
    await res.body?.cancel();
    if (res.status >= 200 && res.status < 300) {
      await settle(env.DB, job, "delivered", null);
      return "delivered";
    }
    return fail(`HTTP ${res.status}`);
  } catch (error) {
    return fail(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }
}

/** Cron: every callback whose next attempt is due. */
export async function deliverDueCallbacks(env: Env, now: number, limit = 50): Promise<number> {
  const { results } = await env.DB.prepare("SELECT id FROM jobs WHERE callback_state = 'pending' AND callback_next_at <= ? ORDER BY callback_next_at LIMIT ?")
    .bind(now, limit)
    .all<{ id: string }>();
  await Promise.allSettled(results.map((row) => deliverJobCallback(env, row.id, now)));
  return results.length;
}

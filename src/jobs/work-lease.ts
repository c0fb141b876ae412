/**
 * Short leases with heartbeats. A runner claims work for LEASE_MS and renews the claim every
 * HEARTBEAT_MS while the provider call runs, so a live runner keeps its work however long the call
 * takes, and a dead one (a crash, a killed isolate) loses it within LEASE_MS: the sweep, which runs
 * every minute, then hands it to another runner. Nothing waits for a fixed 30-minute or 6-hour window.
 */
export const LEASE_MS = 30_000;
export const HEARTBEAT_MS = 10_000;
/**
 * A queued item whose message was sent this long ago and still has not been picked up is sent again
 * (local queues lose messages on a restart; duplicates are harmless because claims are conditional).
 */
export const REQUEUE_GRACE_MS = 30_000;

export type Heartbeat = () => Promise<boolean>;

/**
 * Runs `work` while renewing the lease. A renewal that finds the claim gone (the sweep took it back
 * after a stall) stops the beats; the attempt's result is then refused by the conditional finish.
 */
export async function withHeartbeat<T>(beat: Heartbeat | undefined, work: () => Promise<T>, everyMs = HEARTBEAT_MS): Promise<T> {
  if (!beat) return work();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const schedule = () => {
    timer = setTimeout(async () => {
      const held = await beat().catch((error) => {
        console.error(JSON.stringify({ level: "warn", msg: "lease heartbeat failed", error: String(error) }));
        return true;
      });
      if (held && !stopped) schedule();
    }, everyMs);
  };
  schedule();
  try {
    return await work();
  } finally {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Renews a job's lease while this attempt still holds it. */
export function jobHeartbeat(db: D1Database, jobId: string, attempt: number, now: () => number): Heartbeat {
  return async () => {
    const res = await db.prepare("UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' AND attempts = ?").bind(now() + LEASE_MS, jobId, attempt).run();
    return res.meta.changes > 0;
  };
}

export function stepHeartbeat(db: D1Database, runId: string, step: string, attempt: number, now: () => number): Heartbeat {
  return async () => {
    const res = await db
      .prepare("UPDATE workflow_steps SET lease_until = ? WHERE run_id = ? AND name = ? AND status = 'running' AND attempts = ?")
      .bind(now() + LEASE_MS, runId, step, attempt)
      .run();
    return res.meta.changes > 0;
  };
}

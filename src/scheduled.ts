import { releaseDeferredBatches } from "./jobs/batch-release";
import { sweepStuckWork } from "./jobs/stuck-work-sweep";
import { reconcileBudgets } from "./jobs/budget-reconciliation";
import { dailyRollupJob } from "./reports/rollup-job";

/**
 * Cron triggers (wrangler.toml [triggers]). Each job is independent; one failing must not stop the rest,
 * so they run side by side and failures are logged, not thrown.
 */
type CronJob = (env: Env, now: Date) => Promise<unknown>;

const EVERY_MIN = "* * * * *";
const EVERY_5_MIN = "*/5 * * * *";
const DAILY = "17 0 * * *";

// The sweep also runs on the 5-minute trigger, so a deployment whose minute trigger is missing still
// recovers work; two sweeps at once are harmless (every transition is a conditional UPDATE).
const jobs: Record<string, CronJob[]> = {
  [EVERY_MIN]: [sweepStuckWork],
  [EVERY_5_MIN]: [releaseDeferredBatches, sweepStuckWork, reconcileBudgets],
  [DAILY]: [dailyRollupJob],
};

export async function runScheduled(controller: ScheduledController, env: Env): Promise<void> {
  const now = new Date(controller.scheduledTime);
  // Unknown expressions (e.g. a manual trigger from /cdn-cgi/handler/scheduled) run everything.
  const selected = jobs[controller.cron] ?? Object.values(jobs).flat();
  const results = await Promise.allSettled(selected.map((job) => job(env, now)));
  for (const result of results) {
    if (result.status === "rejected") console.error(JSON.stringify({ level: "error", msg: "cron job failed", cron: controller.cron, error: String(result.reason) }));
  }
}

import * as z from "zod";

export const LANES = ["interactive", "standard", "batch"] as const;
export const LaneSchema = z.enum(LANES);
export type Lane = z.infer<typeof LaneSchema>;

export interface LaneSettings {
  /** Per-attempt budget: the model call's deadline (the claim itself is a short lease renewed by heartbeats). */
  timeoutMs: number;
  /** Queue deliveries before the dead-letter queue: wrangler.toml max_retries + 1, kept in step by hand. */
  maxAttempts: number;
  /** First retry delay; doubled per attempt, capped. */
  retryBaseS: number;
}

// The seeds' timeout hierarchy: short and eager for interactive work, patient for batch work.
export const LANE_SETTINGS: Record<Lane, LaneSettings> = {
  interactive: { timeoutMs: 60_000, maxAttempts: 4, retryBaseS: 1 },
  standard: { timeoutMs: 120_000, maxAttempts: 4, retryBaseS: 5 },
  batch: { timeoutMs: 600_000, maxAttempts: 4, retryBaseS: 30 },
};

const MAX_RETRY_DELAY_S = 900;

export function retryDelayS(lane: Lane, attempt: number, retryAfterS?: number): number {
  const backoff = Math.min(MAX_RETRY_DELAY_S, LANE_SETTINGS[lane].retryBaseS * 2 ** Math.max(0, attempt - 1));
  return Math.max(backoff, Math.min(MAX_RETRY_DELAY_S, retryAfterS ?? 0));
}

export function laneQueue(env: Env, lane: Lane): Queue {
  if (lane === "interactive") return env.JOBS_INTERACTIVE;
  if (lane === "standard") return env.JOBS_STANDARD;
  return env.JOBS_BATCH;
}

/** The lane of a queue name as queue-router's laneOf() reports it ("jobs-batch" → "batch"). */
export function laneFromQueueLane(queueLane: string): Lane | undefined {
  if (!queueLane.startsWith("jobs-")) return undefined;
  const parsed = LaneSchema.safeParse(queueLane.slice("jobs-".length));
  return parsed.success ? parsed.data : undefined;
}

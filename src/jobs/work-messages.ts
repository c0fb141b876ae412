import * as z from "zod";
import { type Lane, LaneSchema, laneQueue } from "./lanes";

/**
 * Queue messages carry ids, never state: D1 is the truth, so a message that arrives twice, late or
 * after a replay is checked against the row it points to. `type` lets the dead-letter consumer tell
 * job messages from ledger and alert events, and send them back to the right queue on replay.
 */
export const JobMessageSchema = z.object({
  type: z.literal("job"),
  job_id: z.string().min(1).max(64),
  tenant_id: z.string().min(1).max(64),
  lane: LaneSchema,
});
export type JobMessage = z.infer<typeof JobMessageSchema>;

export const StepMessageSchema = z.object({
  type: z.literal("workflow_step"),
  run_id: z.string().min(1).max(64),
  step: z.string().min(1).max(64),
  tenant_id: z.string().min(1).max(64),
  lane: LaneSchema,
});
export type StepMessage = z.infer<typeof StepMessageSchema>;

export const WorkMessageSchema = z.discriminatedUnion("type", [JobMessageSchema, StepMessageSchema]);
export type WorkMessage = z.infer<typeof WorkMessageSchema>;

// Queues accept at most 100 messages per sendBatch call.
const SEND_CHUNK = 100;

/** Sends in chunks; returns the messages whose chunk failed, so callers can leave them for the sweep. */
export async function sendWork(env: Env, lane: Lane, messages: WorkMessage[], delaySeconds?: number): Promise<WorkMessage[]> {
  const failed: WorkMessage[] = [];
  const queue = laneQueue(env, lane);
  for (let i = 0; i < messages.length; i += SEND_CHUNK) {
    const chunk = messages.slice(i, i + SEND_CHUNK);
    try {
      await queue.sendBatch(chunk.map((body) => ({ body, contentType: "json" as const, ...(delaySeconds ? { delaySeconds } : {}) })));
    } catch (error) {
      console.error(JSON.stringify({ level: "warn", msg: "job queue send failed; the sweep will resend", lane, count: chunk.length, error: String(error) }));
      failed.push(...chunk);
    }
  }
  return failed;
}

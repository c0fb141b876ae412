import { recordDeadLetter } from "../delivery/dead-letter-store";
import { type ExecutionEnv, executeJob } from "./job-executor";
import { type Lane, retryDelayS } from "./lanes";
import { WorkMessageSchema } from "./work-messages";
import { executeStep } from "./workflow-executor";
import { IngestMessageSchema, runIngestSlice } from "../retrieval/ingest-job";

/**
 * Consumer for the three job lanes. Messages of a batch run side by side and are acked or retried one
 * by one, so a slow or failing item never holds back its neighbours. Each lane has its own queue and
 * consumer settings (wrangler.toml), which is what keeps a surge of batch work from starving the
 * interactive lane: they never wait in the same line.
 */
export async function consumeJobLane(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext, lane: Lane): Promise<void> {
  const x: ExecutionEnv = { env, waitUntil: (promise) => ctx.waitUntil(promise) };
  await Promise.all(
    batch.messages.map(async (message) => {
      // A large collection ingest rides the batch lane: one slice of documents per message.
      const ingest = IngestMessageSchema.safeParse(message.body);
      if (ingest.success) {
        const outcome = await runIngestSlice(env, x.waitUntil, ingest.data).catch(() => ({ retryDelayS: retryDelayS(lane, message.attempts) }));
        if (outcome.retryDelayS === undefined) message.ack();
        else message.retry({ delaySeconds: outcome.retryDelayS });
        return;
      }
      const parsed = WorkMessageSchema.safeParse(message.body);
      if (!parsed.success) {
        // It can never succeed: keep it for an operator instead of burning retries.
        await recordDeadLetter(env.DB, {
          id: `dl_${message.id}`,
          queue: `jobs-${lane}`,
          tenantId: null,
          body: message.body,
          reason: `invalid job message: ${parsed.error.issues[0]?.message ?? "unknown shape"}`,
          attempts: message.attempts,
          now: Date.now(),
        });
        message.ack();
        return;
      }
      try {
        const outcome = parsed.data.type === "job" ? await executeJob(x, parsed.data, message.attempts) : await executeStep(x, parsed.data, message.attempts);
        if (outcome.retryDelayS === undefined) message.ack();
        else message.retry({ delaySeconds: outcome.retryDelayS });
      } catch (error) {
        // Infrastructure trouble (D1, the queue): the queue retries, then dead-letters it.
        console.error(JSON.stringify({ level: "error", msg: "job message failed", lane, id: message.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }));
        message.retry({ delaySeconds: retryDelayS(lane, message.attempts) });
      }
    }),
  );
}

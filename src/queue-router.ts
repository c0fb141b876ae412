import { consumeAlertBatch } from "./budget/alert-consumer";
import { consumeDeadLetters } from "./jobs/dead-letter-consumer";
import { consumeJobLane } from "./jobs/lane-consumer";
import { laneFromQueueLane } from "./jobs/lanes";
import { consumeLedgerBatch } from "./ledger/ledger-consumer";

/** Queue names carry an environment suffix in staging and production; the lane is what matters. */
export function laneOf(queueName: string): string {
  return queueName.replace(/-(staging|production)$/, "").replace(/^tollgate-/, "");
}

export async function routeQueueBatch(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const lane = laneOf(batch.queue);
  const jobLane = laneFromQueueLane(lane);
  if (jobLane) return consumeJobLane(batch, env, ctx, jobLane);
  switch (lane) {
    case "ledger":
      return consumeLedgerBatch(batch, env);
    case "dead-letters":
      return consumeDeadLetters(batch, env, ctx);
    case "alerts":
      return consumeAlertBatch(batch, env);
    default:
      console.error(JSON.stringify({ level: "error", msg: "no consumer for queue", queue: batch.queue }));
      batch.retryAll({ delaySeconds: 60 });
  }
}

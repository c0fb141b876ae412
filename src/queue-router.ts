import { consumeAlertBatch } from "./budget/alert-consumer";
import { consumeLedgerBatch } from "./ledger/ledger-consumer";

/** Queue names carry an environment suffix in staging and production; the lane is what matters. */
export function laneOf(queueName: string): string {
  return queueName.replace(/-(staging|production)$/, "").replace(/^tollgate-/, "");
}

export async function routeQueueBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  switch (laneOf(batch.queue)) {
    case "ledger":
      return consumeLedgerBatch(batch, env);
    case "alerts":
      return consumeAlertBatch(batch, env);
    default:
      console.error(JSON.stringify({ level: "error", msg: "no consumer for queue", queue: batch.queue }));
      batch.retryAll({ delaySeconds: 60 });
  }
}

import { Hono } from "hono";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { batchCounts, type BatchRow, cancelBatch, getTenantBatch } from "../jobs/batch-store";
import { BatchCreateSchema, submitBatch } from "../jobs/batch-submission";
import { batchView, resultLine } from "../jobs/batch-view";
import { hintsFromHeaders } from "../jobs/stored-hints";
import { parseJsonBody } from "../validate/parse-json-body";

const RESULTS_PAGE = 200;

async function requireBatch(db: D1Database, tenantId: string, id: string): Promise<BatchRow> {
  const batch = await getTenantBatch(db, tenantId, id);
  if (!batch) throw GatewayError.notFound("batch");
  return batch;
}

async function view(db: D1Database, batch: BatchRow) {
  const { counts, costUsd, finishedAt } = await batchCounts(db, batch.id);
  return batchView(batch, counts, costUsd, finishedAt);
}

/** Results as JSONL, read a page at a time so a large batch never sits in memory whole. */
function resultsStream(db: D1Database, batchId: string): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after = -1;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { results } = await db
        .prepare(
          `SELECT j.id, j.custom_id, j.status, j.result_json, j.error_json, j.attempts, j.item_index,
                  (SELECT COALESCE(SUM(a.cost_usd), 0) FROM work_attempts a WHERE a.owner_id = j.id) AS cost
             FROM jobs j WHERE j.batch_id = ? AND j.item_index > ? ORDER BY j.item_index LIMIT ?`,
        )
        .bind(batchId, after, RESULTS_PAGE)
        .all<Parameters<typeof resultLine>[0] & { item_index: number }>();
      if (results.length === 0) {
        controller.close();
        return;
      }
      after = results[results.length - 1]?.item_index ?? after;
      controller.enqueue(encoder.encode(results.map((row) => `${resultLine(row)}\n`).join("")));
    },
  });
}

/** Items not yet started are cancelled; running ones finish and stay in the results. */
async function cancel(db: D1Database, tenantId: string, id: string) {
  const batch = await requireBatch(db, tenantId, id);
  if ((await view(db, batch)).status === "completed") throw new GatewayError(409, "invalid_request", `Batch ${batch.id} has already completed`);
  await cancelBatch(db, batch, Date.now());
  return view(db, await requireBatch(db, tenantId, batch.id));
}

/** POST /v1/batches and friends: many chat requests, deferred to the tenant's off-peak window. */
export const batchRoutes = new Hono<AppEnv>()
  .post("/batches", async (c) => {
    const body = await parseJsonBody(c, BatchCreateSchema);
    const { batch, replayed } = await submitBatch(c.env, {
      tenant: c.var.tenant,
      body,
      hints: hintsFromHeaders((name) => c.req.header(name)),
      idempotencyKey: c.req.header("idempotency-key")?.trim() || undefined,
    });
    c.header("location", `/v1/batches/${batch.id}`);
    if (replayed) c.header("idempotent-replayed", "true");
    return c.json(await view(c.env.DB, batch), 202);
  })
  .get("/batches/:id", async (c) => c.json(await view(c.env.DB, await requireBatch(c.env.DB, c.var.tenant.tenantId, c.req.param("id")))))
  .get("/batches/:id/results", async (c) => {
    const batch = await requireBatch(c.env.DB, c.var.tenant.tenantId, c.req.param("id"));
    return new Response(resultsStream(c.env.DB, batch.id), {
      headers: { "content-type": "application/jsonl; charset=utf-8", "x-request-id": c.var.requestId, "content-disposition": `inline; filename="${batch.id}.jsonl"` },
    });
  })
  .post("/batches/:id/cancel", async (c) => c.json(await cancel(c.env.DB, c.var.tenant.tenantId, c.req.param("id"))))
  .delete("/batches/:id", async (c) => c.json(await cancel(c.env.DB, c.var.tenant.tenantId, c.req.param("id"))));

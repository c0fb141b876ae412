import { type Context, Hono } from "hono";
import * as z from "zod";
import { GatewayError } from "../errors";
import { type BatchEndpoint, type BatchLink, listLinkedBatchIds, loadLink, saveLink } from "../files/batch-links";
import { headFile, putFile, readFile } from "../files/file-store";
import type { AppEnv } from "../hono-env";
import { batchCounts, cancelBatch, getTenantBatch } from "../jobs/batch-store";
import { submitBatch } from "../jobs/batch-submission";
import { batchView } from "../jobs/batch-view";
import { hintsFromHeaders } from "../jobs/stored-hints";
import { validate } from "../validate/parse-json-body";
import { type ItemRow, outputFiles, parseInputLines } from "./openai-batch-lines";
import type { ResponsesRequest } from "./responses-translate";

// OpenAI's Batch API over Tollgate's batch machinery (src/jobs): the input file's lines become a batch
// through submitBatch, so deferral to the off-peak window, lanes, retries and the ledger are the same.
// Batches created here are linked to their files; a request about an unlinked batch (the inline form)
// falls through to routes/batches.ts.

const ENDPOINTS = new Set<string>(["/v1/chat/completions", "/v1/responses", "/v1/embeddings"]);

const CreateSchema = z
  .object({
    input_file_id: z.string().min(1).max(128),
    endpoint: z.string().max(64),
    completion_window: z.string().max(8),
    metadata: z.record(z.string().max(64), z.string().max(512)).nullish(),
  })
  .loose();

const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), after: z.string().max(64).optional() });

const seconds = (ms: number | null | undefined) => (ms ? Math.floor(ms / 1000) : null);
const isEndpoint = (value: string): value is BatchEndpoint => ENDPOINTS.has(value);

/** The answered and failed lines as output and error files, once every item has finished. */
async function finalize(env: Env, tenantId: string, link: BatchLink): Promise<BatchLink> {
  const { results } = await env.DB.prepare("SELECT id, custom_id, status, result_json, error_json FROM jobs WHERE batch_id = ? ORDER BY item_index").bind(link.batch_id).all<ItemRow>();
  const requests = new Map<string, ResponsesRequest>();
  if (link.endpoint === "/v1/responses") {
    const input = await readFile(env.FILES, tenantId, link.input_file_id);
    if (input) for (const line of parseInputLines(await input.text(), link.endpoint)) if (line.responses) requests.set(line.custom_id, line.responses);
  }
  const { output, errors } = outputFiles(results, link.endpoint, requests);
  const suffix = link.batch_id.replace(/^batch_/, "").toLowerCase();
  const out = await putFile(env.FILES, tenantId, { id: `file-${suffix}-output`, filename: `${link.batch_id}_output.jsonl`, purpose: "batch_output", content: output });
  const err = errors ? await putFile(env.FILES, tenantId, { id: `file-${suffix}-errors`, filename: `${link.batch_id}_error.jsonl`, purpose: "batch_output", content: errors }) : null;
  const finalized = { ...link, output_file_id: out.id, error_file_id: err?.id ?? null, finalized_at: Date.now() };
  await saveLink(env.FILES, tenantId, finalized);
  return finalized;
}

/** The Batch object of OpenAI's description (times in seconds), plus what Tollgate adds under `tollgate`. */
async function openaiView(env: Env, tenantId: string, stored: BatchLink) {
  const batch = await getTenantBatch(env.DB, tenantId, stored.batch_id);
  if (!batch) throw GatewayError.notFound("batch");
  const { counts, costUsd, finishedAt } = await batchCounts(env.DB, batch.id);
  const view = batchView(batch, counts, costUsd, finishedAt);
  const done = view.status === "completed" || view.status === "cancelled";
  const link = done && !stored.finalized_at ? await finalize(env, tenantId, stored) : stored;
  return {
    id: batch.id,
    object: "batch",
    endpoint: link.endpoint,
    errors: null,
    input_file_id: link.input_file_id,
    completion_window: view.completion_window,
    // A batch waiting for the off-peak window has been accepted and will run: OpenAI's in_progress.
    status: view.status === "deferred" ? "in_progress" : view.status,
    output_file_id: link.output_file_id,
    error_file_id: link.error_file_id,
    created_at: seconds(batch.created_at),
    in_progress_at: seconds(batch.released_at),
    expires_at: seconds(batch.deadline_at),
    finalizing_at: null,
    completed_at: view.status === "completed" ? seconds(finishedAt) : null,
    failed_at: null,
    expired_at: null,
    cancelling_at: seconds(batch.cancelled_at),
    cancelled_at: view.status === "cancelled" ? seconds(finishedAt ?? batch.cancelled_at) : null,
    request_counts: { total: counts.total, completed: counts.succeeded, failed: counts.failed + counts.dead },
    metadata: view.metadata,
    tollgate: { status: view.status, release_by: seconds(batch.release_by), release_reason: batch.release_reason, cost_usd: costUsd },
  };
}

/** The JSON body when it is OpenAI's create shape, else null (the inline form is another route's). */
async function openaiCreateBody(c: Context<AppEnv>): Promise<unknown | null> {
  try {
    const raw: unknown = JSON.parse(await c.req.text());
    return raw && typeof raw === "object" && "input_file_id" in raw ? raw : null;
  } catch {
    return null;
  }
}

export const openaiBatchRoutes = new Hono<AppEnv>()
  .post("/batches", async (c, next) => {
    const raw = await openaiCreateBody(c);
    if (raw === null) return next();
    const body = validate(CreateSchema, raw);
    const { tenantId } = c.var.tenant;
    if (!isEndpoint(body.endpoint)) throw GatewayError.invalid(`endpoint: ${[...ENDPOINTS].join(", ")} are served in batches here`, "endpoint");
    const file = await headFile(c.env.FILES, tenantId, body.input_file_id);
    const input = file?.purpose === "batch" ? await readFile(c.env.FILES, tenantId, body.input_file_id) : null;
    if (!input) throw new GatewayError(404, "not_found", `No such file '${body.input_file_id.slice(0, 128)}' with purpose batch`, "input_file_id");
    const lines = parseInputLines(await input.text(), body.endpoint);
    const requests = lines.map(({ custom_id, method, body: request }) => ({ custom_id, method, ...(body.endpoint === "/v1/responses" ? {} : { url: body.endpoint }), body: request }));
    const { batch } = await submitBatch(c.env, {
      tenant: c.var.tenant,
      body: { requests, completion_window: body.completion_window, off_peak: true, ...(body.metadata ? { metadata: body.metadata } : {}) },
      hints: hintsFromHeaders((name) => c.req.header(name)),
      idempotencyKey: c.req.header("idempotency-key")?.trim() || undefined,
    });
    const link = (await loadLink(c.env.FILES, tenantId, batch.id)) ?? { batch_id: batch.id, input_file_id: body.input_file_id, endpoint: body.endpoint, output_file_id: null, error_file_id: null, finalized_at: null };
    await saveLink(c.env.FILES, tenantId, link);
    return c.json(await openaiView(c.env, tenantId, link));
  })
  .get("/batches", async (c) => {
    const query = validate(ListQuery, c.req.query());
    const { tenantId } = c.var.tenant;
    const ids = await listLinkedBatchIds(c.env.FILES, tenantId);
    const start = query.after ? ids.indexOf(query.after) + 1 : 0;
    const page = ids.slice(start, start + query.limit);
    const data = [];
    for (const id of page) {
      const link = await loadLink(c.env.FILES, tenantId, id);
      if (link) data.push(await openaiView(c.env, tenantId, link));
    }
    return c.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + query.limit < ids.length });
  })
  .get("/batches/:id", async (c, next) => {
    const link = await loadLink(c.env.FILES, c.var.tenant.tenantId, c.req.param("id"));
    if (!link) return next();
    return c.json(await openaiView(c.env, c.var.tenant.tenantId, link));
  })
  .post("/batches/:id/cancel", async (c, next) => {
    const { tenantId } = c.var.tenant;
    const link = await loadLink(c.env.FILES, tenantId, c.req.param("id"));
    if (!link) return next();
    const batch = await getTenantBatch(c.env.DB, tenantId, link.batch_id);
    if (!batch) throw GatewayError.notFound("batch");
    const { counts } = await batchCounts(c.env.DB, batch.id);
    if (counts.completed === counts.total) throw new GatewayError(409, "invalid_request", `Batch ${batch.id} has already completed`);
    await cancelBatch(c.env.DB, batch, Date.now());
    return c.json(await openaiView(c.env, tenantId, link));
  });

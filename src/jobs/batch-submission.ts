import { ulid } from "../unique-id";
import * as z from "zod";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import { availableCatalog } from "../providers/provider-registry";
import { ChatRequestSchema } from "../validate/chat-request";
import { EmbeddingsWorkSchema, isEmbeddingsWork } from "../validate/embeddings-request";
import { paramPath } from "../validate/parse-json-body";
import { type BatchRow, getTenantBatch, insertBatch } from "./batch-store";
import { releaseBatch, type ReleaseReason } from "./batch-release";
import { claimIdempotencyKey } from "./idempotency-keys";
import { assertRunnableRequest } from "./job-submission";
import { inOffPeakWindow, parseCompletionWindow } from "./off-peak-window";
import type { StoredHints } from "./stored-hints";

/** Per batch. With the 1 MiB body limit it is the tighter bound for typical requests; past it, split. */
export const MAX_BATCH_REQUESTS = 1000;

export const BatchCreateSchema = z
  .object({
    requests: z.array(z.unknown()).min(1, "a batch needs at least one request"),
    completion_window: z.string().max(8).default("24h"),
    off_peak: z.boolean().default(true),
    metadata: z.record(z.string().max(64), z.string().max(512)).optional(),
  })
  .strict();
export type BatchCreate = z.infer<typeof BatchCreateSchema>;

/** What a batch item (or a job) runs: a chat request, or a tagged embeddings request (OpenAI /v1/embeddings batches). */
export const WorkRequestSchema = z.union([EmbeddingsWorkSchema, ChatRequestSchema]);

// The OpenAI batch line shape; method and url are optional here.
const BatchItemSchema = z
  .object({
    custom_id: z.string().min(1).max(64),
    method: z.literal("POST").optional(),
    url: z.enum(["/v1/chat/completions", "/v1/embeddings"]).optional(),
    body: WorkRequestSchema,
  })
  .strict();

function assertEmbeddingModel(env: Env, model: string, param: string): void {
  if (!availableCatalog(env).some((m) => m.id === model && m.kind === "embedding")) throw GatewayError.invalid(`${param}: unknown embedding model '${model.slice(0, 100)}'; GET /v1/models lists the catalog`, param);
}

function parseItems(env: Env, raw: unknown[]): { custom_id: string; body: z.infer<typeof WorkRequestSchema> }[] {
  if (raw.length > MAX_BATCH_REQUESTS) {
    throw GatewayError.invalid(`requests: a batch holds at most ${MAX_BATCH_REQUESTS} requests (got ${raw.length}); split the work into several batches`, "requests");
  }
  const seen = new Set<string>();
  return raw.map((item, i) => {
    const parsed = BatchItemSchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const inner = issue ? paramPath(issue.path) : null;
      const param = `requests[${i}]${inner ? `.${inner}` : ""}`;
      throw GatewayError.invalid(`${param}: ${issue?.message ?? "invalid"}`, param);
    }
    if (seen.has(parsed.data.custom_id)) throw GatewayError.invalid(`requests[${i}].custom_id: '${parsed.data.custom_id}' is used twice`, `requests[${i}].custom_id`);
    seen.add(parsed.data.custom_id);
    const body = parsed.data.body;
    if (isEmbeddingsWork(body)) assertEmbeddingModel(env, body.model, `requests[${i}].body.model`);
    else assertRunnableRequest(env, body, `requests[${i}].body`);
    return { custom_id: parsed.data.custom_id, body: parsed.data.body };
  });
}

/** Whether a new batch can go straight to the lane, and why. */
function releaseNow(body: BatchCreate, tenant: TenantContext, batch: BatchRow, now: number): ReleaseReason | null {
  if (!body.off_peak) return "immediate";
  if (now >= batch.release_by) return "deadline";
  return inOffPeakWindow(tenant.policy.off_peak, new Date(now)) ? "off_peak_window" : null;
}

export interface SubmitBatchInput {
  tenant: TenantContext;
  body: BatchCreate;
  hints: StoredHints;
  idempotencyKey?: string;
}

/** POST /v1/batches: stores every item as a `deferred` job, then releases at once if nothing says wait. */
export async function submitBatch(env: Env, x: SubmitBatchInput, now = Date.now()): Promise<{ batch: BatchRow; replayed: boolean }> {
  const windowS = parseCompletionWindow(x.body.completion_window);
  if (windowS === null) throw GatewayError.invalid("completion_window: use minutes or hours between 10m and 168h, e.g. \"24h\"", "completion_window");
  const items = parseItems(env, x.body.requests);
  let id = `batch_${ulid()}`;
  if (x.idempotencyKey) {
    const claim = await claimIdempotencyKey(env.DB, x.tenant.tenantId, "batch", x.idempotencyKey, { body: x.body, hints: x.hints }, id, now);
    if (!claim.fresh) {
      const existing = await getTenantBatch(env.DB, x.tenant.tenantId, claim.resourceId);
      if (existing) return { batch: existing, replayed: true };
    }
    id = claim.resourceId;
  }
  const batch = await insertBatch(env.DB, { id, tenant: x.tenant, items, windowS, offPeak: x.body.off_peak, metadata: x.body.metadata, hints: x.hints }, now);
  const reason = releaseNow(x.body, x.tenant, batch, now);
  if (reason) await releaseBatch(env, batch, reason, now);
  return { batch: (await getTenantBatch(env.DB, x.tenant.tenantId, id)) ?? batch, replayed: false };
}

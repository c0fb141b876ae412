import { ulid } from "../unique-id";
import * as z from "zod";
import { findModel } from "../config/model-catalog";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import { availableCatalog } from "../providers/provider-registry";
import { ChatRequestSchema, type ChatRequest } from "../validate/chat-request";
import { assertCallbackUrl } from "../delivery/callback-url-guard";
import { claimIdempotencyKey } from "./idempotency-keys";
import { getJob, insertJobStatement, type JobRow } from "./job-store";
import { type Lane, LANE_SETTINGS, LaneSchema } from "./lanes";
import type { StoredHints } from "./stored-hints";
import { sendWork } from "./work-messages";

export const JobCreateSchema = z
  .object({
    request: ChatRequestSchema,
    priority: LaneSchema.optional(),
    callback_url: z.string().min(1).max(2048).optional(),
    /** Past this many seconds from submission the job fails with deadline_exceeded, wherever it is. */
    deadline_s: z.number().int().min(1).max(7 * 86_400).optional(),
    /** Per-attempt timeout; capped by the lane's. */
    timeout_s: z.number().int().min(1).max(900).optional(),
  })
  .strict();
export type JobCreate = z.infer<typeof JobCreateSchema>;

/** Checks a queued request up front, so a mistake is a 400 now rather than a failed job later. */
export function assertRunnableRequest(env: Env, request: ChatRequest, param: string): void {
  if (request.stream) throw GatewayError.invalid(`${param}.stream: queued work does not stream; read the result when it is done`, `${param}.stream`);
  if (request.model !== "auto" && !findModel(availableCatalog(env), request.model)) {
    throw GatewayError.invalid(`${param}.model: unknown model '${request.model.slice(0, 100)}'; GET /v1/models lists the catalog`, `${param}.model`);
  }
}

export interface SubmitJobInput {
  tenant: TenantContext;
  body: JobCreate;
  hints: StoredHints;
  headerPriority?: Lane;
  idempotencyKey?: string;
}

/** POST /v1/jobs: validate, store as `queued`, enqueue on the lane. Returns the job and whether it already existed. */
export async function submitJob(env: Env, x: SubmitJobInput, now = Date.now()): Promise<{ job: JobRow; replayed: boolean }> {
  const { body, tenant } = x;
  if (body.callback_url) assertCallbackUrl(body.callback_url, env.ENVIRONMENT);
  assertRunnableRequest(env, body.request, "request");
  const lane = body.priority ?? x.headerPriority ?? "standard";
  let id = `job_${ulid()}`;
  if (x.idempotencyKey) {
    const claim = await claimIdempotencyKey(env.DB, tenant.tenantId, "job", x.idempotencyKey, { body, hints: x.hints, lane }, id, now);
    if (!claim.fresh) {
      const existing = await getJob(env.DB, claim.resourceId);
      if (existing) return { job: existing, replayed: true };
    }
    id = claim.resourceId;
  }
  const settings = LANE_SETTINGS[lane];
  const job = {
    id,
    tenant_id: tenant.tenantId,
    key_id: tenant.keyId || null,
    lane,
    status: "queued" as const,
    request_json: JSON.stringify(body.request),
    hints_json: JSON.stringify(x.hints),
    callback_url: body.callback_url ?? null,
    max_attempts: settings.maxAttempts,
    timeout_ms: Math.min(settings.timeoutMs, (body.timeout_s ?? Infinity) * 1000),
    deadline_at: body.deadline_s ? now + body.deadline_s * 1000 : null,
    enqueued_at: now,
    created_at: now,
  };
  await insertJobStatement(env.DB, job).run();
  // The row is the outbox: if the send fails the job stays queued with enqueued_at NULL and the sweep sends it.
  if ((await sendWork(env, lane, [{ type: "job", job_id: id, tenant_id: tenant.tenantId, lane }])).length) {
    await env.DB.prepare("UPDATE jobs SET enqueued_at = NULL WHERE id = ?").bind(id).run();
  }
  const stored = await getJob(env.DB, id);
  if (!stored) throw new GatewayError(500, "internal_error", "The job was not stored");
  return { job: stored, replayed: false };
}

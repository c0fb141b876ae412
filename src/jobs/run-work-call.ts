import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import { ledgerInsertStatement } from "../ledger/ledger-store";
import { RequestLedger } from "../ledger/request-ledger";
import { type ChatContext, type ResponseMeta, runChat } from "../pipeline/chat-pipeline";
import { embeddingsBody, runEmbeddings } from "../pipeline/embeddings-pipeline";
import type { ChatCompletion } from "../providers/provider-types";
import type { ChatRequest } from "../validate/chat-request";
import { type EmbeddingsWork, inputsOf, isEmbeddingsWork } from "../validate/embeddings-request";
import type { RequestHints } from "../validate/request-hints";
import type { SessionScope } from "../sessions/session-gate";
import { settleOnEnd } from "../sessions/settle-on-end";
import { queueChatContext } from "./queue-chat-context";
import { type Heartbeat, withHeartbeat } from "./work-lease";

export type WorkEndpoint = "/v1/jobs" | "/v1/batches" | "/v1/workflows";

export interface WorkCall {
  /** The job id, or "<run id>/<step>" for a workflow step. */
  ownerId: string;
  attempt: number;
  endpoint: WorkEndpoint;
  tenant: TenantContext;
  hints: RequestHints;
  simFault?: string;
  /** A chat request, or an embeddings request from an OpenAI batch for /v1/embeddings. */
  request: ChatRequest | EmbeddingsWork;
  /** Extra audit fields for the ledger row's detail (job id, lane, batch, step). */
  detail: Record<string, string>;
  /** Renews the claim's lease while the call runs. */
  heartbeat?: Heartbeat;
  /** The agent session the work was submitted in: each attempt is one of its steps. */
  session?: SessionScope;
}

interface CallBase {
  requestId: string;
  costUsd: number;
  /**
   * The attempt's row and its ledger row, not yet written: the caller commits them in one D1 batch
   * with the work's own state change (commitAttempt), so `succeeded` never exists without its row.
   */
  record: AttemptRecord;
}

export interface AttemptRecord {
  statements: D1PreparedStatement[];
  ledger: RequestLedger;
}
interface WorkAnswer {
  /** The body a client of the endpoint would have got: a chat completion or an embeddings list. */
  response: unknown;
  /** The chat completion, for work that builds on it (workflow steps); null for embeddings. */
  completion: ChatCompletion | null;
  meta: ResponseMeta;
}

export type WorkCallResult =
  | (CallBase & { ok: true } & WorkAnswer)
  | (CallBase & { ok: false; error: GatewayError; retryable: boolean; retryAfterS?: number });

// Worth another attempt later: the provider side, the clock or the limiter, not the request itself.
const RETRYABLE = new Set(["upstream_error", "no_healthy_provider", "deadline_exceeded", "rate_limited", "concurrency_limited", "internal_error"]);

/**
 * One attempt's ledger request id. Redelivery of the same claim cannot happen (claims are conditional
 * updates), and the ledger insert is idempotent on this id, so no attempt is ever billed twice.
 */
export const attemptRequestId = (ownerId: string, attempt: number): string => `${ownerId}.${attempt}`;

function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  console.error(JSON.stringify({ level: "error", msg: "work call failed unexpectedly", error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }));
  return new GatewayError(500, "internal_error", "Internal error while running the work item");
}

/** The same pipelines an HTTP request takes: chat (never streamed here) or embeddings. */
async function answerWork(ctx: ChatContext, request: ChatRequest | EmbeddingsWork): Promise<WorkAnswer> {
  if (isEmbeddingsWork(request)) {
    const outcome = await runEmbeddings(ctx, request.model, inputsOf(request));
    const meta: ResponseMeta = { tier: outcome.model.tier, model: outcome.model.id, provider: outcome.model.provider, cache: outcome.cache, costUsd: outcome.costUsd, savedUsd: outcome.savedUsd };
    return { response: embeddingsBody(outcome, request.encoding_format), completion: null, meta };
  }
  const answer = await runChat(ctx, { ...request, stream: false });
  if (answer.kind !== "completion") throw new GatewayError(500, "internal_error", "A work item produced a stream");
  return { response: answer.completion, completion: answer.completion, meta: answer.meta };
}

/** Runs one attempt through the normal pipeline; the caller commits its record (commitAttempt). */
export async function runWorkCall(env: Env, waitUntil: (promise: Promise<unknown>) => void, call: WorkCall): Promise<WorkCallResult> {
  const requestId = attemptRequestId(call.ownerId, call.attempt);
  const ledger = new RequestLedger(requestId, call.endpoint);
  ledger.event.tenant_id = call.tenant.tenantId;
  ledger.event.key_id = call.tenant.keyId || null;
  const ctx = { ...queueChatContext(env, waitUntil, call.tenant, call.hints, ledger, call.simFault), ...(call.session ? { session: call.session } : {}) };
  const startedAt = Date.now();
  let outcome: ({ ok: true } & WorkAnswer) | { ok: false; error: GatewayError; retryable: boolean; retryAfterS?: number };
  try {
    outcome = { ok: true, ...(await withHeartbeat(call.heartbeat, () => settleOnEnd(ctx, answerWork(ctx, call.request)))) };
  } catch (thrown) {
    const error = asGatewayError(thrown);
    ledger.event.status = error.status;
    ledger.event.error_code = error.code;
    const retryAfter = Number(error.headers["retry-after"]);
    outcome = { ok: false, error, retryable: RETRYABLE.has(error.code), ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterS: retryAfter } : {}) };
  }
  ledger.event.detail = { ...(ledger.event.detail ?? {}), ...call.detail };
  const event = await ledger.finalize(outcome.ok ? 200 : outcome.error.status);
  const attemptRow = env.DB.prepare(
    `INSERT INTO work_attempts (owner_id, attempt, request_id, status, cost_usd, model, tier, cache, error_code, started_at, finished_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner_id, attempt) DO NOTHING`,
  ).bind(call.ownerId, call.attempt, requestId, outcome.ok ? "succeeded" : "failed", event.cost_usd, event.model, event.tier, event.cache, outcome.ok ? null : outcome.error.code, startedAt, Date.now());
  const record = { statements: [attemptRow, ledgerInsertStatement(env.DB, event)], ledger };
  return { ...outcome, requestId, costUsd: event.cost_usd, record };
}

/**
 * Writes the attempt's row and ledger row in one D1 batch with the state change that ends the attempt
 * (succeeded, failed, released for a retry), then settles the budget carrying the same row. Returns
 * whether the state change applied (the attempt still held its claim). Every statement is idempotent
 * on the attempt's request id, so a redelivered attempt neither bills nor records twice.
 */
export async function commitAttempt(db: D1Database, record: AttemptRecord, transition: D1PreparedStatement[] = []): Promise<boolean> {
  const results = await db.batch([...transition, ...record.statements]);
  await record.ledger.settleRecorded();
  return transition.length > 0 && (results[0]?.meta.changes ?? 0) > 0;
}

/** The error as stored on a job or step and shown by the API. */
export function errorRecord(error: GatewayError): { code: string; message: string; status: number } {
  return { code: error.code, message: error.message, status: error.status };
}

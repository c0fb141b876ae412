import { type CallToolResult, ErrorCode, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { sha256Hex } from "../auth/key-hash";
import { canonicalJson } from "../cache/cache-key";
import { type Admission, admitRequest } from "../budget/admission";
import type { Residency } from "../config/model-catalog";
import { tenantObject } from "../config/tenant-objects";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import { RequestLedger } from "../ledger/request-ledger";
import { BACKOFF_CAP_MS, backoffMs } from "../providers/call-with-fallback";
import { openSessionStep, type SessionScope, type SessionTicket } from "../sessions/session-gate";
import { formatRemaining } from "../sessions/session-types";
import { toolSpan } from "../telemetry/tool-spans";
import type { RequestTrace } from "../telemetry/request-trace";
import { isAllowed, type McpServer, type ResolvedToolPolicy, toolPolicy } from "./server-registry";
import { claimToolCall } from "./tool-idempotency";
import { readToolResult, toolCacheKey, writeToolResult } from "./tool-result-cache";
import { callUpstreamTool, isTimeout, isTransient, upstreamTools } from "./upstream-client";

const SLOT_MARGIN_MS = 5_000;

/** One POST to /v1/mcp/:name: what every tools/call in it shares. */
export interface ToolCallContext {
  env: Env;
  tenant: TenantContext;
  task: string;
  requestId: string;
  server: McpServer;
  session?: SessionScope;
  idempotencyKey?: string;
  waitUntil: (promise: Promise<unknown>) => void;
  /** The session's remaining figures after the last call, for the HTTP response's header. */
  remaining?: string;
  calls: number;
  /** The HTTP request's trace: each tools/call gets an execute_tool span under it. */
  trace?: RequestTrace;
}

export interface ToolCallParams {
  name: string;
  arguments?: Record<string, unknown>;
}

/** An MCP error the client sees as a JSON-RPC error; `data.code` is Tollgate's error code. */
function refusal(code: number, message: string, data: Record<string, unknown>): McpError {
  return new McpError(code, message, data);
}

function bulkheadStub(env: Env, tenantId: string, server: string, residency: Residency | null) {
  return tenantObject(env.TOOL_BULKHEAD, `${tenantId}:${server}`, residency);
}

/** The retry decision is the tool's own: only calls it declares safe to repeat (or the tenant vouches for). */
function retryable(tool: Tool, policy: ResolvedToolPolicy): boolean {
  return tool.annotations?.readOnlyHint === true || tool.annotations?.idempotentHint === true || policy.retryable === true;
}

function withMeta(result: CallToolResult, meta: Record<string, unknown>): CallToolResult {
  return { ...result, _meta: { ...result._meta, ...meta } };
}

/**
 * tools/call through the gateway, in order: allow-list → upstream's tool → bulkhead slot → session
 * step → result cache (read-only tools) → Idempotency-Key (write tools) → call with timeout and
 * retries → release, settle, record. Nothing reaches the upstream before every check has passed.
 */
export async function callTool(ctx: ToolCallContext, params: ToolCallParams): Promise<CallToolResult> {
  const { env, tenant, server } = ctx;
  const index = ctx.calls++;
  const ledger = new RequestLedger(index === 0 ? ctx.requestId : `${ctx.requestId}.${index}`, `/v1/mcp/${server.name}`);
  const event = ledger.event;
  Object.assign(event, { tenant_id: tenant.tenantId, key_id: tenant.keyId, task: ctx.task, model: `${server.name}/${params.name}`, provider: "mcp" });
  if (ctx.session) event.session_id = ctx.session.id;
  let recorded = false;
  const span = ctx.trace && toolSpan(ctx.trace, { server: server.name, tool: params.name, callId: event.request_id, arguments: params.arguments });
  const record = (status: number, errorCode: string | null) => {
    recorded = true;
    Object.assign(event, { status, error_code: errorCode });
    span?.finish(event);
    ctx.waitUntil(ledger.flush(env, status).catch(() => undefined));
  };

  if (!isAllowed(server, params.name)) {
    record(403, "tool_not_allowed");
    throw refusal(ErrorCode.InvalidParams, `Tool "${params.name}" is not allowed on MCP server "${server.name}" for this tenant`, { code: "tool_not_allowed", status: 403 });
  }
  const listed = await upstreamTools(env, tenant.tenantId, server).catch((error: unknown) => {
    record(502, "upstream_error");
    throw refusal(ErrorCode.InternalError, `MCP server "${server.name}" did not list its tools: ${error instanceof Error ? error.message : String(error)}`, { code: "upstream_error", status: 502 });
  });
  const tool = listed.tools.find((t) => t.name === params.name);
  if (!tool) {
    record(404, "unknown_tool");
    throw refusal(ErrorCode.InvalidParams, `MCP server "${server.name}" has no tool "${params.name}"`, { code: "unknown_tool", status: 404 });
  }
  const policy = toolPolicy(server, tool.name, tenant.policy);
  const readOnly = tool.annotations?.readOnlyHint === true;
  const canRetry = retryable(tool, policy);
  const attempts = canRetry ? policy.retries + 1 : 1;
  const holdMs = attempts * (policy.timeout_ms + BACKOFF_CAP_MS) + SLOT_MARGIN_MS;
  const argsHash = await sha256Hex(canonicalJson({ tool: tool.name, arguments: params.arguments ?? {} }));

  // The slot first: a tool at its limit refuses at once, holding nothing else (not even a session step).
  const bulkhead = bulkheadStub(env, tenant.tenantId, server.name, tenant.policy.residency);
  const slot = await bulkhead.acquire({ callId: event.request_id, tool: tool.name, limit: policy.max_concurrency, holdMs });
  if (!slot.granted) {
    const status = slot.reason === "breaker" ? 503 : 429;
    record(status, slot.reason === "breaker" ? "tool_unavailable" : "concurrency_limited");
    throw refusal(ErrorCode.InternalError, slot.message, { code: slot.reason === "breaker" ? "tool_unavailable" : "concurrency_limited", status, retry_after_s: slot.retryAfterS });
  }
  let health: boolean | null = null;
  let ticket: SessionTicket | undefined;
  let settle: ((status: number, costUsd: number, cache: "exact" | "miss" | "bypass") => Record<string, string>) | undefined;
  try {
    try {
      ticket = await openSessionStep({ env, tenant, hints: { task: ctx.task }, ledger, session: ctx.session, waitUntil: ctx.waitUntil }, {
        kind: "tool", name: `${server.name}/${tool.name}`, bodyHash: argsHash, estimateUsd: policy.cost_usd ?? 0, estimateTokens: 0, stepId: event.request_id, holdMs,
      });
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      ctx.remaining = error.headers["x-tollgate-session-remaining"];
      record(error.status, error.code);
      throw refusal(ErrorCode.InvalidRequest, error.message, { code: error.code, param: error.param, status: error.status });
    }
    const finish = (settle = (status: number, costUsd: number, cache: "exact" | "miss" | "bypass"): Record<string, string> => {
      Object.assign(event, { cost_usd: costUsd, cache, latency_ms: ledger.elapsedMs() });
      const remaining = ticket?.settle({ costUsd, tokens: 0, latencyMs: event.latency_ms, status, cache });
      if (remaining) ctx.remaining = formatRemaining(remaining);
      return remaining ? { "tollgate/session_remaining": formatRemaining(remaining) } : {};
    });

    const cacheKey = readOnly && policy.cache_ttl_s > 0 ? await toolCacheKey(tenant.tenantId, server.name, tool.name, params.arguments, listed.schemaHashes[tool.name] ?? "") : undefined;
    const hit = cacheKey ? await readToolResult(env.CACHE_KV, cacheKey) : null;
    if (hit) {
      event.saved_usd = policy.cost_usd ?? 0;
      const meta = finish(200, 0, "exact");
      record(200, null);
      return withMeta(hit.result, { "tollgate/cache": "hit", "tollgate/cached_at": new Date(hit.storedAt).toISOString(), "tollgate/saved_usd": event.saved_usd, ...meta });
    }

    const claim = !readOnly && ctx.idempotencyKey ? await claimToolCall(env, tenant.tenantId, tenant.policy.residency, `${server.name}/${tool.name}`, ctx.idempotencyKey, argsHash, holdMs) : undefined;
    if (claim?.kind === "replay") {
      const meta = finish(200, 0, "bypass");
      event.detail = { idempotent_replay: true };
      record(200, null);
      return withMeta(claim.result, { "tollgate/idempotent_replay": true, ...meta });
    }

    // A tool that costs money spends like a model call: admitted against the tenant's budgets first.
    const admission = await admitTool(ctx, event.request_id, `${server.name}/${tool.name}`, policy.cost_usd ?? 0, holdMs).catch(async (error: unknown) => {
      if (claim) await claim.release().catch(() => undefined);
      if (!(error instanceof GatewayError)) throw error;
      finish(error.status, 0, "bypass");
      record(error.status, error.code);
      throw refusal(ErrorCode.InvalidRequest, error.message, { code: error.code, status: error.status, ...(error.headers["retry-after"] ? { retry_after_s: Number(error.headers["retry-after"]) } : {}) });
    });
    const charge = (costUsd: number) => {
      if (admission) ledger.settleWith((row) => admission.settle(costUsd, 0, row));
    };

    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      event.attempts = attempt;
      try {
        const result = await callUpstreamTool(server, tool.name, params.arguments, policy.timeout_ms);
        health = true; // an isError result is the tool's own answer: it is up
        const costUsd = policy.cost_usd ?? 0;
        if (cacheKey && !result.isError) ctx.waitUntil(writeToolResult(env.CACHE_KV, cacheKey, result, policy.cache_ttl_s).catch(() => undefined));
        if (claim) await (result.isError ? claim.release() : claim.complete(result)).catch(() => undefined);
        const meta = finish(result.isError ? 422 : 200, costUsd, cacheKey ? "miss" : "bypass");
        charge(costUsd);
        record(result.isError ? 422 : 200, result.isError ? "tool_error" : null);
        return withMeta(result, { "tollgate/cache": cacheKey ? "miss" : "bypass", "tollgate/cost_usd": costUsd, "tollgate/attempts": attempt, ...meta });
      } catch (error) {
        lastError = error;
        health = isTransient(error) ? false : null;
        if (!canRetry || attempt === attempts || !isTransient(error)) break;
        if (ticket && !(await ticket.retry(`${server.name}/${tool.name}`))) break;
        await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt - 1, undefined, Math.random)));
      }
    }
    if (claim) await claim.release().catch(() => undefined);
    // The upstream refused the call itself (bad arguments, say): its own error, not an outage.
    const refused = lastError instanceof McpError && !isTransient(lastError) ? lastError : undefined;
    const timedOut = isTimeout(lastError);
    const status = refused ? 400 : timedOut ? 504 : 502;
    finish(status, 0, cacheKey ? "miss" : "bypass");
    charge(0);
    event.detail = { error: lastError instanceof Error ? lastError.message.slice(0, 500) : String(lastError) };
    record(status, refused ? "tool_refused" : timedOut ? "deadline_exceeded" : "upstream_error");
    if (refused) throw new McpError(refused.code, refused.message.replace(/^MCP error -?\d+: /, ""), refused.data);
    const message = `Tool "${tool.name}" on MCP server "${server.name}" ${timedOut ? `did not answer within ${policy.timeout_ms} ms` : "failed"} after ${event.attempts} attempt(s)`;
    throw refusal(timedOut ? ErrorCode.RequestTimeout : ErrorCode.InternalError, message, { code: timedOut ? "deadline_exceeded" : "upstream_error", status });
  } catch (error) {
    // Anything not yet accounted for (an idempotency conflict, a failed cache read) still leaves its row.
    if (!recorded) {
      const status = error instanceof McpError && error.code === ErrorCode.InvalidRequest ? 409 : 500;
      settle?.(status, 0, "bypass");
      record(status, error instanceof McpError && typeof error.data === "object" && error.data !== null && "code" in error.data ? String(error.data.code) : "internal_error");
    }
    throw error;
  } finally {
    ctx.waitUntil(bulkhead.release(event.request_id, tool.name, health).catch(() => undefined));
  }
}

/**
 * Only a priced tool spends, so only it is admitted: its per-call cost is reserved like a model's
 * worst case (rate and in-flight limits count it as a request) and settled with the ledger row.
 */
function admitTool(ctx: ToolCallContext, requestId: string, toolId: string, costUsd: number, holdMs: number): Promise<Admission | undefined> {
  if (costUsd <= 0) return Promise.resolve(undefined);
  const estimate = { promptTokens: 0, outputTokens: 0, usd: costUsd, perModel: { [toolId]: costUsd } };
  return admitRequest({ env: ctx.env, tenantId: ctx.tenant.tenantId, residency: ctx.tenant.policy.residency, keyId: ctx.tenant.keyId, requestId, task: ctx.task, estimate, degradedEstimate: estimate, holdMs });
}

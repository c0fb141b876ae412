import type { Context } from "hono";
import type { AppEnv } from "../hono-env";
import type { LedgerEvent } from "./ledger-event";

/**
 * One JSON line per /v1 request for Workers Logs ([observability] in wrangler.toml): id, tenant, stage
 * timings and outcome. Prompt and completion text are logged only when the tenant's policy sets
 * `log_content`, because they may hold personal or confidential data the tenant never agreed to retain.
 */
export interface RequestLogLine {
  level: "info" | "warn";
  msg: "request";
  id: string;
  method: string;
  path: string;
  status: number;
  outcome: "ok" | "error";
  error_code: string | null;
  tenant: string | null;
  key: string | null;
  /** Server-Timing stages in ms (auth, validate, cache, admit, route, upstream, ...). */
  stages: Record<string, number>;
  ledger?: Pick<LedgerEvent, "task" | "tier" | "model" | "provider" | "cache" | "prompt_tokens" | "completion_tokens" | "cost_usd" | "saved_usd" | "latency_ms" | "ttfb_ms" | "attempts" | "escalated_from" | "degraded" | "stream">;
  content?: { prompt: string | null; completion: string | null };
}

const STAGE = /^([^;]+);dur=([0-9.]+)/;
/** Bounds a log line: Workers Logs truncates large events, and a log is not an archive. */
const MAX_CONTENT_CHARS = 8_000;

export function stageTimings(c: Context<AppEnv>): Record<string, number> {
  const stages: Record<string, number> = {};
  for (const entry of c.get("metric")?.headers ?? []) {
    const match = STAGE.exec(entry);
    if (match?.[1] && match[2]) stages[match[1]] = Number(match[2]);
  }
  return stages;
}

const clip = (text: string | null) => (text === null ? null : text.length > MAX_CONTENT_CHARS ? `${text.slice(0, MAX_CONTENT_CHARS)}…` : text);

/**
 * Captures what must be read before the response leaves (status, timings, the body text when content
 * logging is on); `emit` writes the line once the ledger row is final (streams end later).
 */
export async function captureRequestLog(c: Context<AppEnv>): Promise<{ emit: (event?: LedgerEvent) => Promise<void> }> {
  // REQUEST_LOG=errors: a line only for a request that failed (a stream can still fail after this).
  const errorsOnly = c.env.REQUEST_LOG === "errors";
  const tenant = c.get("tenant");
  const line: RequestLogLine = {
    level: "info",
    msg: "request",
    id: c.get("requestId"),
    method: c.req.method,
    path: c.req.path.slice(0, 128),
    status: c.res.status,
    outcome: c.res.status >= 400 ? "error" : "ok",
    error_code: null,
    tenant: tenant?.tenantId ?? null,
    key: tenant?.keyId ?? null,
    stages: stageTimings(c),
  };
  if (tenant?.policy.log_content && !(errorsOnly && c.res.status < 400)) {
    // Hono caches the request text it already parsed. A JSON response is read here and re-wrapped:
    // a tee'd clone would wait on the client reading its half, and a client that never reads would
    // hold the log line back until waitUntil gives up.
    let completion: string | null = null;
    if ((c.res.headers.get("content-type") ?? "").includes("application/json")) {
      completion = await c.res.text();
      c.res = new Response(completion, c.res);
    }
    line.content = { prompt: clip(await c.req.text().catch(() => null)), completion: clip(completion) };
  }
  return {
    async emit(event) {
      if (event) {
        line.status = event.status || line.status;
        line.error_code = event.error_code;
        line.ledger = {
          task: event.task,
          tier: event.tier,
          model: event.model,
          provider: event.provider,
          cache: event.cache,
          prompt_tokens: event.prompt_tokens,
          completion_tokens: event.completion_tokens,
          cost_usd: event.cost_usd,
          saved_usd: event.saved_usd,
          latency_ms: event.latency_ms,
          ttfb_ms: event.ttfb_ms,
          attempts: event.attempts,
          escalated_from: event.escalated_from,
          degraded: event.degraded,
          stream: event.stream,
        };
      }
      line.outcome = line.status >= 400 ? "error" : "ok";
      if (line.outcome === "error") line.level = "warn";
      else if (errorsOnly) return;
      console.log(JSON.stringify(line));
    },
  };
}

import type { Context } from "hono";
import { endTime, startTime } from "hono/timing";
import type { AppEnv } from "../hono-env";
import { type ChatContext, type ChatOutcome, type ResponseMeta, runChat } from "../pipeline/chat-pipeline";
import { immediateHints, submitRefinement } from "./refine-job";
import type { ChatRequest } from "../validate/chat-request";
import { parseHints } from "../validate/request-hints";
import { isolateBreakerGate } from "../routing/breaker-gate";
import { parseSessionHeaders } from "../sessions/session-gate";
import { settleOnEnd } from "../sessions/settle-on-end";
import type { RequestHints } from "../validate/request-hints";
import { groundingOf } from "../retrieval/grounding";

/** Times one stage for Server-Timing (stage names are the request path's steps). */
export async function stage<T>(c: Context<AppEnv>, name: string, run: () => Promise<T> | T): Promise<T> {
  startTime(c, name);
  try {
    return await run();
  } finally {
    endTime(c, name);
  }
}

export function chatContext(c: Context<AppEnv>, hints: RequestHints): ChatContext {
  return {
    env: c.env,
    waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    tenant: c.var.tenant,
    hints,
    ledger: c.var.ledger,
    simFaultHeader: c.req.header("x-tollgate-sim-fault"),
    breaker: isolateBreakerGate(c.env, (promise) => c.executionCtx.waitUntil(promise)),
    signal: c.req.raw.signal,
    session: parseSessionHeaders((name) => c.req.header(name)),
    stage: (name, run) => stage(c, name, run),
    trace: c.var.trace,
  };
}

/** The x-tollgate-* response headers, from what the pipeline decided. */
export function setMetaHeaders(c: Context<AppEnv>, meta: ResponseMeta): void {
  c.header("x-tollgate-cache", meta.cache);
  if (meta.semantic) c.header("x-tollgate-semantic", meta.semantic);
  c.header("x-tollgate-tier", meta.tier);
  c.header("x-tollgate-model", meta.model);
  c.header("x-tollgate-provider", meta.provider);
  c.header("x-tollgate-cost-usd", meta.costUsd.toFixed(8));
  c.header("x-tollgate-saved-usd", meta.savedUsd.toFixed(8));
  if (meta.budgetRemainingUsd !== undefined) c.header("x-tollgate-budget-remaining-usd", meta.budgetRemainingUsd.toFixed(6));
  if (meta.reservedUsd !== undefined) c.header("x-tollgate-reserved-usd", meta.reservedUsd.toFixed(8));
  if (meta.degraded) c.header("x-tollgate-degraded", meta.degraded);
  if (meta.skipped?.length) c.header("x-tollgate-skipped", meta.skipped.join(","));
  if (meta.escalatedFrom) c.header("x-tollgate-escalated-from", meta.escalatedFrom);
  if (meta.sessionRemaining) c.header("x-tollgate-session-remaining", meta.sessionRemaining);
  if (meta.guardrails) c.header("x-tollgate-guardrails", meta.guardrails);
  const { prompt_name: prompt, prompt_version: version } = c.var.ledger.event;
  if (prompt) c.header("x-tollgate-prompt", `${prompt}@${version}`);
  if (meta.retrieval) {
    c.header("x-tollgate-retrieval-sources", meta.retrieval.sources.join(","));
    c.header("x-tollgate-retrieval-cache", meta.retrieval.cache);
  }
}

/** The part chat completions and messages share: run the pipeline, set the headers, start a refinement. */
export async function serveChat(c: Context<AppEnv>, req: ChatRequest): Promise<ChatOutcome> {
  const hints = parseHints((name) => c.req.header(name));
  const ctx = chatContext(c, immediateHints(hints, req));
  const outcome = await settleOnEnd(ctx, runChat(ctx, req));
  outcome.meta.retrieval = groundingOf(ctx);
  setMetaHeaders(c, outcome.meta);
  if (hints.refine === "async") {
    c.header("x-tollgate-refine-job", await submitRefinement(c.env, c.var.tenant, hints, req, c.var.requestId, c.req.header("x-tollgate-sim-fault")));
  }
  return outcome;
}

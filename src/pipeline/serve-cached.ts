import { completionChunks, replayChunks } from "../cache/cached-stream";
import type { CacheHit } from "../cache/chat-cache";
import type { CacheEntry } from "../cache/exact-cache";
import type { SemanticStatus } from "../cache/semantic-cache";
import type { Tier } from "../config/model-catalog";
import { restoreOutcome } from "../guardrails/answer-guard";
import type { CacheStatus } from "../ledger/ledger-event";
import type { ChatCompletion } from "../providers/provider-types";
import type { ChatRequest } from "../validate/chat-request";
import type { ChatContext, ChatOutcome, ResponseMeta } from "./chat-types";
import type { StreamSummary } from "./metered-stream";

interface Served {
  kind: Extract<CacheStatus, "exact" | "semantic" | "stale">;
  entry: CacheEntry;
  score?: number;
  joined?: boolean;
  semantic?: SemanticStatus;
  degraded?: string;
}

/**
 * A cached answer costs only what finding it cost (a semantic lookup's query embedding, already on
 * the event); what the call would have cost, net of that, is recorded as saved. Streams replay as SSE.
 */
function serve(ctx: ChatContext, req: ChatRequest, tier: Tier, served: Served): ChatOutcome {
  const { entry } = served;
  const event = ctx.ledger.event;
  const costUsd = event.cost_usd;
  const savedUsd = Math.max(0, entry.cost_usd - costUsd);
  Object.assign(event, { cache: served.kind, model: entry.model, provider: entry.provider, cost_usd: costUsd, saved_usd: savedUsd, degraded: served.degraded ?? event.degraded });
  event.detail = { ...event.detail, cache: { source_request: entry.request_id, score: served.score ?? null, joined: served.joined ?? false } };
  const meta: ResponseMeta = { tier, model: entry.model, provider: entry.provider, cache: served.kind, semantic: served.semantic, costUsd, savedUsd, degraded: served.degraded };
  const ids = { id: `chatcmpl-${event.request_id}`, model: req.model, created: Math.floor(Date.now() / 1000) };
  const completion: ChatCompletion = { ...entry.completion, ...ids };
  if (req.stream !== true) return restoreOutcome(ctx, { kind: "completion", completion, meta });
  const choice = completion.choices[0];
  const summary: StreamSummary = { text: choice?.message.content ?? "", usage: completion.usage, finish: choice?.finish_reason ?? null, endedAt: Date.now() };
  event.ttfb_ms = ctx.ledger.elapsedMs();
  return restoreOutcome(ctx, { kind: "stream", chunks: replayChunks(completionChunks(completion, ids)), meta, done: Promise.resolve(summary) });
}

export function serveHit(ctx: ChatContext, req: ChatRequest, tier: Tier, hit: CacheHit, semantic: SemanticStatus | undefined): ChatOutcome {
  return serve(ctx, req, tier, { kind: hit.kind, entry: hit.entry, score: hit.score, joined: hit.joined, semantic });
}

/** An expired entry, served when the alternative is an error: the budget's hard stop, or no healthy provider. */
export function serveStale(ctx: ChatContext, req: ChatRequest, tier: Tier, entry: CacheEntry, reason: "budget" | "stale-cache"): ChatOutcome {
  ctx.ledger.event.status = 200;
  ctx.ledger.event.error_code = null;
  return serve(ctx, req, tier, { kind: "stale", entry, degraded: reason });
}

import type { SemanticStatus } from "../cache/semantic-cache";
import type { Tier } from "../config/model-catalog";
import type { TenantContext } from "../hono-env";
import type { RequestGuard } from "../guardrails/request-guard";
import type { CacheStatus } from "../ledger/ledger-event";
import type { RequestLedger } from "../ledger/request-ledger";
import type { BreakerGate } from "../providers/call-with-fallback";
import type { SessionScope } from "../sessions/session-gate";
import type { RequestTrace } from "../telemetry/request-trace";
import type { ChatChunk, ChatCompletion } from "../providers/provider-types";
import type { RequestHints } from "../validate/request-hints";
import type { StreamSummary } from "./metered-stream";
import type { RetrievalSummary } from "../retrieval/grounding";

/** Everything a chat call needs, whether it came over HTTP or off a queue. */
export interface ChatContext {
  env: Env;
  waitUntil: (promise: Promise<unknown>) => void;
  tenant: TenantContext;
  hints: RequestHints;
  ledger: RequestLedger;
  simFaultHeader?: string;
  breaker: BreakerGate;
  /** The client's own request: its abort ends the call, and never counts against a provider. */
  signal?: AbortSignal;
  /** x-tollgate-session: the agent session this call is a step of. */
  session?: SessionScope;
  /** The request's OpenTelemetry trace; absent when no OTLP endpoint is configured (nothing is built). */
  trace?: RequestTrace;
  /** Wraps a stage so it shows up in Server-Timing. */
  stage: <T>(name: string, run: () => Promise<T> | T) => Promise<T>;
  /** What the guardrail step did to this request (src/guardrails/), once it has run. */
  guard?: RequestGuard;
}

export interface ResponseMeta {
  tier: Tier;
  model: string;
  provider: string;
  cache: CacheStatus;
  /** What the semantic lookup did (x-tollgate-semantic), when it was consulted. */
  semantic?: SemanticStatus;
  costUsd: number;
  savedUsd: number;
  degraded?: string;
  escalatedFrom?: string;
  budgetRemainingUsd?: number;
  /** Chain models passed over, and why (`<model>=breaker` or `<model>=budget`): x-tollgate-skipped. */
  skipped?: string[];
  /** What admission reserved: the worst case the budget held for this request before it ran. */
  reservedUsd?: number;
  /** What is left of the agent session (x-tollgate-session-remaining). */
  sessionRemaining?: string;
  /** What guardrails did (x-tollgate-guardrails), when any acted. */
  guardrails?: string;
  /** The retrieval a grounded request was answered from (x-tollgate-retrieval-*, the body's `retrieval`). */
  retrieval?: RetrievalSummary;
}

export type ChatOutcome =
  | { kind: "completion"; completion: ChatCompletion; meta: ResponseMeta }
  | { kind: "stream"; chunks: AsyncGenerator<ChatChunk, void, void>; meta: ResponseMeta; done: Promise<StreamSummary> };

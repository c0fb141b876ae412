import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_TOLLGATE_ATTEMPTS,
  ATTR_TOLLGATE_MODEL,
} from "./semconv";
import type { RequestTrace } from "./request-trace";
import { type Span, SpanKind } from "./span";

/**
 * GenAI client spans (inference and embeddings) from the shapes the gateway already has. The types
 * here are structural, so telemetry imports nothing from the request path that calls it.
 */
export interface ModelRef {
  id: string;
  provider: string;
  upstream: string;
}

interface MessageLike {
  role: string;
  content?: unknown;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export interface InferenceParams {
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  messages: MessageLike[];
}

interface UsageLike {
  prompt_tokens: number;
  completion_tokens: number;
}

export interface CompletionLike {
  id: string;
  choices: { finish_reason: string | null; message: { content: string | null; tool_calls?: MessageLike["tool_calls"] } }[];
  usage: UsageLike;
}

export interface FailureLike {
  kind: string;
  status?: number;
  message: string;
}

/** Provider instance names to the conventions' well-known gen_ai.provider.name values; others pass through. */
const PROVIDER_NAMES: Record<string, string> = { openai: "openai", anthropic: "anthropic", "workers-ai": "cloudflare.workers_ai" };
export const providerName = (provider: string): string => PROVIDER_NAMES[provider] ?? provider;

/**
 * error.type for a failed provider call: the upstream's HTTP status when it answered with one (the
 * conventions' own example), else the failure kind: timeout, network, malformed, cut, breaker_open.
 */
export const errorType = (failure: FailureLike): string => (failure.kind === "http" && failure.status ? String(failure.status) : failure.kind);

function setServer(span: Span, baseUrl: string): void {
  if (!baseUrl) return;
  try {
    const url = new URL(baseUrl);
    span.set(ATTR_SERVER_ADDRESS, url.hostname);
    span.set(ATTR_SERVER_PORT, url.port ? Number(url.port) : url.protocol === "http:" ? 80 : 443);
  } catch {
    // A base URL that does not parse names no server.
  }
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part: unknown) => (typeof part === "object" && part !== null && "text" in part && typeof part.text === "string" ? part.text : "")).join("");
}

/** gen_ai.input.messages in the conventions' JSON schema (role + parts), recorded as a JSON string. */
export function inputMessages(messages: MessageLike[]): string {
  return JSON.stringify(
    messages.map((m) => {
      const parts: Record<string, unknown>[] = [];
      const text = textOf(m.content);
      if (m.role === "tool") parts.push({ type: "tool_call_response", id: m.tool_call_id ?? null, response: text });
      else if (text) parts.push({ type: "text", content: text });
      for (const call of m.tool_calls ?? []) parts.push({ type: "tool_call", id: call.id, name: call.function.name, arguments: call.function.arguments });
      return { role: m.role === "developer" ? "system" : m.role, parts };
    }),
  );
}

function outputMessages(choices: { text: string; finish: string | null; toolCalls?: MessageLike["tool_calls"] }[]): string {
  return JSON.stringify(
    choices.map((c) => ({
      role: "assistant",
      parts: [
        ...(c.text ? [{ type: "text", content: c.text }] : []),
        ...(c.toolCalls ?? []).map((call) => ({ type: "tool_call", id: call.id, name: call.function.name, arguments: call.function.arguments })),
      ],
      finish_reason: c.finish ?? "stop",
    })),
  );
}

/** Starts the CLIENT span of one model in the chain: `{operation} {request model}`. */
export function startInference(trace: RequestTrace, operation: string, model: ModelRef, baseUrl: string, params?: InferenceParams): Span {
  const span = trace.child(`${operation} ${model.upstream}`, SpanKind.CLIENT);
  span.set(ATTR_GEN_AI_OPERATION_NAME, operation).set(ATTR_GEN_AI_PROVIDER_NAME, providerName(model.provider)).set(ATTR_GEN_AI_REQUEST_MODEL, model.upstream).set(ATTR_TOLLGATE_MODEL, model.id);
  setServer(span, baseUrl);
  if (params) {
    span.set(ATTR_GEN_AI_REQUEST_MAX_TOKENS, params.max_completion_tokens ?? params.max_tokens);
    span.setDouble(ATTR_GEN_AI_REQUEST_TEMPERATURE, params.temperature);
    span.setDouble(ATTR_GEN_AI_REQUEST_TOP_P, params.top_p);
    if (trace.contentAllowed()) span.set(ATTR_GEN_AI_INPUT_MESSAGES, inputMessages(params.messages));
  }
  return span;
}

export function failInference(span: Span | undefined, failure: FailureLike | undefined, attempts: number): void {
  if (!span) return;
  span.set(ATTR_TOLLGATE_ATTEMPTS, attempts);
  span.fail(ATTR_ERROR_TYPE, failure ? errorType(failure) : "_OTHER", failure?.message);
  span.end();
}

function setUsage(span: Span, usage: UsageLike | undefined, finishReasons: string[]): void {
  if (usage) span.set(ATTR_GEN_AI_USAGE_INPUT_TOKENS, usage.prompt_tokens).set(ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, usage.completion_tokens);
  span.set(ATTR_GEN_AI_RESPONSE_FINISH_REASONS, finishReasons);
}

/** Ends a model's span with the answer: the model that answered, usage, finish reasons (and content if allowed). */
export function endWithCompletion(span: Span | undefined, trace: RequestTrace | undefined, model: ModelRef, completion: CompletionLike): void {
  if (!span) return;
  span.set(ATTR_GEN_AI_RESPONSE_MODEL, model.upstream).set(ATTR_GEN_AI_RESPONSE_ID, completion.id);
  setUsage(span, completion.usage, completion.choices.map((c) => c.finish_reason ?? "stop"));
  if (trace?.contentAllowed()) {
    span.set(ATTR_GEN_AI_OUTPUT_MESSAGES, outputMessages(completion.choices.map((c) => ({ text: c.message.content ?? "", finish: c.finish_reason, toolCalls: c.message.tool_calls }))));
  }
  span.end();
}

/** Ends a stream's span when the stream ends, with the usage the stream was billed at. */
export function endWithStream(span: Span | undefined, trace: RequestTrace | undefined, model: ModelRef, summary: { text: string; finish: string | null; error?: unknown }, usage: UsageLike): void {
  if (!span) return;
  span.set(ATTR_GEN_AI_RESPONSE_MODEL, model.upstream);
  setUsage(span, usage, summary.finish ? [summary.finish] : []);
  if (trace?.contentAllowed()) span.set(ATTR_GEN_AI_OUTPUT_MESSAGES, outputMessages([{ text: summary.text, finish: summary.finish }]));
  if (summary.error !== undefined) span.fail(ATTR_ERROR_TYPE, "cut", summary.error instanceof Error ? summary.error.message : String(summary.error));
  span.end();
}

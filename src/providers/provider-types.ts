import type { EventSourceMessage } from "eventsource-parser";
import type { ChatRequest, ToolCall } from "../validate/chat-request";

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface TokenLogprob {
  token: string;
  logprob: number;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: "assistant"; content: string | null; tool_calls?: ToolCall[]; refusal?: string | null };
    finish_reason: FinishReason | null;
    logprobs?: { content: TokenLogprob[] | null } | null;
  }[];
  usage: Usage;
}

export interface ChunkToolCall {
  index: number;
  id?: string;
  type?: "function";
  function?: { name?: string; arguments?: string };
}

export interface ChatChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: "assistant"; content?: string | null; tool_calls?: ChunkToolCall[] };
    finish_reason: FinishReason | null;
  }[];
  usage?: Usage | null;
}

export interface EmbeddingResult {
  vectors: number[][];
  promptTokens: number;
}

/** Identity stamped on every completion and chunk, whatever the upstream called it. */
export interface ResponseIds {
  id: string;
  model: string;
  created: number;
}

/** A decoder turns one SSE event into chunks; it keeps its own state across events. */
export type StreamDecoder = (event: EventSourceMessage) => ChatChunk[] | "done";

/**
 * A provider adapter is data plus pure transforms: where to send, what headers, how to translate the
 * request and the response. One caller (call-provider.ts) executes every adapter.
 */
export interface ProviderSpec {
  readonly kind: "openai" | "anthropic" | "workers-ai";
  chatUrl(baseUrl: string, upstreamModel: string): string;
  headers(apiKey: string): Record<string, string>;
  toChatBody(req: ChatRequest, upstreamModel: string, stream: boolean): unknown;
  /** Throws when the body does not have the provider's shape; the caller treats that as malformed. */
  fromChatBody(body: unknown, ids: ResponseIds, req: ChatRequest): ChatCompletion;
  streamDecoder(ids: ResponseIds, req: ChatRequest): StreamDecoder;
  embeddings?: {
    url(baseUrl: string, upstreamModel: string): string;
    toBody(input: string[], upstreamModel: string): unknown;
    fromBody(body: unknown): EmbeddingResult;
  };
}

export type FailureKind = "http" | "network" | "timeout" | "malformed" | "cut" | "breaker_open";

export interface ProviderFailure {
  kind: FailureKind;
  status?: number;
  retryable: boolean;
  retryAfterMs?: number;
  message: string;
}

export type Result<T, E = ProviderFailure> = { ok: true; value: T } | { ok: false; error: E };
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const fail = (error: ProviderFailure): Result<never> => ({ ok: false, error });

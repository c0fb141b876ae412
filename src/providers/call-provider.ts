import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { CatalogModel } from "../config/model-catalog";
import type { ChatRequest } from "../validate/chat-request";
import { IdleWatch } from "./idle-watch";
import type { ProviderInstance } from "./provider-registry";
import { type ChatChunk, type ChatCompletion, type EmbeddingResult, fail, ok, type ProviderFailure, type ResponseIds, type Result } from "./provider-types";

export interface AttemptOptions {
  ids: ResponseIds;
  /** Aborts the attempt: per-attempt timeout and the request deadline, combined by the caller. */
  signal: AbortSignal;
  /** For streams: the longest gap allowed between two chunks. */
  idleTimeoutMs?: number;
}

/** A stream whose first chunk has already arrived: failures before it are still fall-back-able. */
export interface StartedStream {
  first: ChatChunk[];
  rest: AsyncGenerator<ChatChunk[], void, void>;
}

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500;

/** Retry-After as seconds or an HTTP date; absent or absurd values are ignored. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms >= 0 && ms <= 3_600_000 ? ms : undefined;
}

export function failureFromError(error: unknown, signal: AbortSignal): ProviderFailure {
  if (signal.aborted) return { kind: "timeout", retryable: true, message: "upstream timed out" };
  return { kind: "network", retryable: true, message: error instanceof Error ? error.message : String(error) };
}

/**
 * Some upstreams echo the credentials they were sent in their error text ("Incorrect API key provided:
 * Bearer sk-..."). That text reaches the client's error message and the logs, so the key is cut out
 * first, before any truncation could leave half of it behind.
 */
export function redactKey(text: string, apiKey: string): string {
  return apiKey.length >= 8 ? text.split(apiKey).join("[redacted]") : text;
}

async function send(instance: ProviderInstance, url: string, body: unknown, signal: AbortSignal): Promise<Result<Response>> {
  let response: Response;
  try {
    response = await instance.fetch(url, { method: "POST", headers: instance.spec.headers(instance.apiKey), body: JSON.stringify(body), signal });
  } catch (error) {
    return fail(failureFromError(error, signal));
  }
  if (response.ok) return ok(response);
  const detail = redactKey(await response.text().catch(() => ""), instance.apiKey).slice(0, 300);
  return fail({
    kind: "http",
    status: response.status,
    retryable: RETRYABLE_STATUS(response.status),
    retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
    message: `${instance.name} answered ${response.status}${detail ? `: ${detail}` : ""}`,
  });
}

export async function chatOnce(instance: ProviderInstance, model: CatalogModel, req: ChatRequest, options: AttemptOptions): Promise<Result<ChatCompletion>> {
  const sent = await send(instance, instance.spec.chatUrl(instance.baseUrl, model.upstream), instance.spec.toChatBody(req, model.upstream, false), options.signal);
  if (!sent.ok) return sent;
  let json: unknown;
  try {
    json = await sent.value.json();
  } catch (error) {
    if (options.signal.aborted) return fail(failureFromError(error, options.signal));
    return fail({ kind: error instanceof SyntaxError ? "malformed" : "network", retryable: true, message: `${instance.name}: unreadable body` });
  }
  try {
    return ok(instance.spec.fromChatBody(json, options.ids, req));
  } catch {
    return fail({ kind: "malformed", retryable: true, message: `${instance.name}: response does not match the ${instance.spec.kind} shape` });
  }
}

/**
 * Reads the body straight into the SSE parser: no TextDecoderStream or parser TransformStream between
 * the bytes and the decoder, and every event that arrived in one network read goes out as one batch.
 */
async function* decodeEvents(instance: ProviderInstance, body: ReadableStream<Uint8Array>, req: ChatRequest, options: AttemptOptions): AsyncGenerator<ChatChunk[], void, void> {
  const decode = instance.spec.streamDecoder(options.ids, req);
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => void events.push(event) });
  const text = new TextDecoder();
  const reader = body.getReader();
  const idle = new IdleWatch(options.idleTimeoutMs, () => `${instance.name}: no chunk for ${options.idleTimeoutMs} ms`);
  // One read is always in flight while a batch goes downstream, as the piped streams before read
  // ahead: bytes that arrived before a connection reset are delivered, not dropped with the queue.
  const readAhead = () => {
    const read = idle.read(reader);
    read.catch(() => undefined);
    return read;
  };
  let pending = readAhead();
  try {
    while (true) {
      const next = await pending;
      if (idle.expired) throw new Error(idle.message());
      if (!next.done) pending = readAhead();
      parser.feed(next.done ? text.decode() : text.decode(next.value, { stream: true }));
      let batch: ChatChunk[] | undefined;
      for (let i = 0; i < events.length; i++) {
        const event = events[i] as EventSourceMessage;
        if (event.data === "") continue;
        let decoded: ChatChunk[] | "done";
        try {
          decoded = decode(event);
        } catch {
          // What arrived before the bad event is delivered first, as it was event by event.
          events.length = 0;
          if (batch) yield batch;
          throw new Error(`${instance.name}: malformed stream event`);
        }
        if (decoded === "done") {
          events.length = 0;
          if (batch) yield batch;
          return;
        }
        if (decoded.length) batch = batch ? batch.concat(decoded) : decoded;
      }
      events.length = 0;
      if (batch) yield batch;
      if (next.done) return;
    }
  } finally {
    idle.stop();
    reader.cancel().catch(() => undefined);
  }
}

/** Starts a stream and waits for its first chunk, so a failure up to then is a value, not a broken stream. */
export async function streamOnce(instance: ProviderInstance, model: CatalogModel, req: ChatRequest, options: AttemptOptions): Promise<Result<StartedStream>> {
  const sent = await send(instance, instance.spec.chatUrl(instance.baseUrl, model.upstream), instance.spec.toChatBody(req, model.upstream, true), options.signal);
  if (!sent.ok) return sent;
  const body = sent.value.body;
  if (!body) return fail({ kind: "malformed", retryable: true, message: `${instance.name}: empty stream` });
  const rest = decodeEvents(instance, body, req, options);
  try {
    const first = await rest.next();
    return ok({ first: first.done ? [] : first.value, rest });
  } catch (error) {
    if (options.signal.aborted) return fail(failureFromError(error, options.signal));
    const message = error instanceof Error ? error.message : String(error);
    return fail({ kind: message.includes("malformed") ? "malformed" : "cut", retryable: true, message });
  }
}

export async function embedOnce(instance: ProviderInstance, upstreamModel: string, input: string[], signal: AbortSignal): Promise<Result<EmbeddingResult>> {
  const spec = instance.spec.embeddings;
  if (!spec) return fail({ kind: "http", status: 400, retryable: false, message: `${instance.name} has no embeddings endpoint` });
  const sent = await send(instance, spec.url(instance.baseUrl, upstreamModel), spec.toBody(input, upstreamModel), signal);
  if (!sent.ok) return sent;
  try {
    return ok(spec.fromBody(await sent.value.json()));
  } catch (error) {
    return fail(signal.aborted ? failureFromError(error, signal) : { kind: "malformed", retryable: true, message: `${instance.name}: malformed embeddings` });
  }
}

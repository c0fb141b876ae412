import { type Tier, TierSchema } from "../config/model-catalog";
import { countPromptTokens, countText } from "../tokens/count-tokens";
import { ChatRequestSchema, maxOutputTokens } from "../validate/chat-request";
import { type FaultSpec, pickFault } from "./sim-faults";
import { simAnswer, simLogprob } from "./sim-answer";

export interface SimOptions {
  /** The provider name this sim is registered under (sim-a, sim-b, ...), for fault targeting. */
  name: string;
  /** 0 makes the sim instant (tests); 1 is the realistic default. */
  latencyScale: number;
  faults: FaultSpec[];
}

const TTFT_MS: Record<Tier, number> = { fast: 120, balanced: 350, powerful: 800 };
const PER_TOKEN_MS: Record<Tier, number> = { fast: 2, balanced: 6, powerful: 12 };

function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

function hang(signal?: AbortSignal | null): Promise<never> {
  return new Promise((_, reject) => {
    if (signal?.aborted) reject(signal.reason);
    signal?.addEventListener("abort", () => reject(signal.reason));
  });
}

/** Splits text into stream-sized pieces that keep their spaces, so chunks concatenate exactly. */
function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/**
 * An OpenAI-compatible upstream that lives in-process. It is called through the same adapter and
 * caller as a real provider, so injected faults exercise the real error, retry and parsing paths.
 */
export function simFetch(options: SimOptions): typeof fetch {
  return async (input, init) => {
    const signal = init?.signal;
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url.endsWith("/embeddings")) return simEmbeddings(init?.body);
    const parsed = ChatRequestSchema.safeParse(JSON.parse(typeof init?.body === "string" ? init.body : "{}"));
    const tierResult = TierSchema.safeParse(parsed.success ? parsed.data.model : "");
    if (!parsed.success || !tierResult.success) {
      return Response.json({ error: { message: "sim: bad request", type: "invalid_request_error" } }, { status: 400 });
    }
    const req = parsed.data;
    const tier = tierResult.data;
    const fault = pickFault(options.faults, options.name);
    const scale = options.latencyScale * (fault?.kind === "slow" ? 10 : 1);

    if (fault?.kind === "500") return Response.json({ error: { message: `sim ${options.name}: injected 500`, type: "server_error" } }, { status: 500 });
    if (fault?.kind === "429") {
      return Response.json(
        { error: { message: `sim ${options.name}: injected 429`, type: "rate_limit_error" } },
        { status: 429, headers: { "retry-after": String(fault.retryAfterS ?? 1) } },
      );
    }
    if (fault?.kind === "timeout") return hang(signal);

    const answer = simAnswer(req, tier);
    const limit = maxOutputTokens(req);
    let content = answer.content;
    let finish: "stop" | "length" | "tool_calls" = answer.toolCall ? "tool_calls" : "stop";
    if (content !== null && limit !== undefined && countText(content) > limit) {
      // Cut at a word boundary until the token budget fits, as a real model would stop mid-answer.
      const words = pieces(content);
      while (words.length > 1 && countText(words.join("")) > limit) words.pop();
      content = words.join("");
      finish = "length";
    }
    const promptTokens = countPromptTokens(req);
    const completionTokens = countText(content ?? answer.toolCall?.arguments ?? "");
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    // A tool-call id names one call: clients match results to calls by it across a whole conversation.
    const toolCalls = answer.toolCall ? [{ id: `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`, type: "function" as const, function: answer.toolCall }] : undefined;
    const logprob = simLogprob(tier, req);

    await sleep(TTFT_MS[tier] * scale, signal);
    if (!req.stream) {
      await sleep(PER_TOKEN_MS[tier] * completionTokens * scale, signal);
      if (fault?.kind === "malformed") return new Response('{"id":"sim","choices":[{"message":', { headers: { "content-type": "application/json" } });
      if (fault?.kind === "cut") {
        const cut = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"id":"sim","choices":[{"index":0,'));
            controller.error(new Error(`sim ${options.name}: connection reset`));
          },
        });
        return new Response(cut, { headers: { "content-type": "application/json" } });
      }
      const message = { role: "assistant", content, ...(toolCalls ? { tool_calls: toolCalls } : {}) };
      const logprobs = req.logprobs ? { content: pieces(content ?? "").map((token) => ({ token, logprob })) } : null;
      return Response.json({ id: "sim", object: "chat.completion", model: tier, choices: [{ index: 0, message, finish_reason: finish, logprobs }], usage });
    }

    const encoder = new TextEncoder();
    const parts = pieces(content ?? "");
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        const send = (data: unknown) => controller.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
        const chunk = (delta: unknown, finishReason: string | null = null) => ({ id: "sim", object: "chat.completion.chunk", model: tier, choices: [{ index: 0, delta, finish_reason: finishReason }] });
        try {
          send(chunk({ role: "assistant", content: "" }));
          if (fault?.kind === "malformed") controller.enqueue(encoder.encode("data: {not json\n\n"));
          if (toolCalls) send(chunk({ tool_calls: toolCalls.map((call, index) => ({ index, ...call })) }));
          for (let i = 0; i < parts.length; i++) {
            if (fault?.kind === "cut" && i >= Math.floor(parts.length / 2)) {
              controller.error(new Error(`sim ${options.name}: stream cut`));
              return;
            }
            // A stream that goes quiet midway: only the reader's idle timeout ends it.
            if (fault?.kind === "stall" && i >= Math.floor(parts.length / 2)) await hang(signal);
            await sleep(PER_TOKEN_MS[tier] * countText(parts[i] ?? "") * scale, signal);
            send(chunk({ content: parts[i] }));
          }
          send(chunk({}, finish));
          if (req.stream_options?.include_usage) send({ id: "sim", object: "chat.completion.chunk", model: tier, choices: [], usage });
          controller.enqueue(encoder.encode("data: [DONE]\n\n"));
          controller.close();
        } catch (error) {
          controller.error(error);
        }
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  };
}

const EMBED_DIMS = 256;

/** Feature hashing of words and word pairs: deterministic, cheap, and similar texts land close together. */
export function simEmbedding(text: string): number[] {
  const vector = new Array<number>(EMBED_DIMS).fill(0);
  const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  const features = [...words, ...words.slice(1).map((w, i) => `${words[i]} ${w}`)];
  for (const feature of features) {
    let h = 2166136261;
    for (let i = 0; i < feature.length; i++) h = Math.imul(h ^ feature.charCodeAt(i), 16777619);
    const index = (h >>> 0) % EMBED_DIMS;
    vector[index] = (vector[index] ?? 0) + ((h >>> 31) & 1 ? 1 : -1);
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((v) => v / norm);
}

function simEmbeddings(body: BodyInit | null | undefined): Response {
  const parsed: unknown = JSON.parse(typeof body === "string" ? body : "{}");
  const input = parsed && typeof parsed === "object" && "input" in parsed ? parsed.input : undefined;
  const texts = Array.isArray(input) ? input.filter((t): t is string => typeof t === "string") : typeof input === "string" ? [input] : [];
  const tokens = texts.reduce((sum, text) => sum + countText(text), 0);
  return Response.json({
    object: "list",
    data: texts.map((text, index) => ({ object: "embedding", index, embedding: simEmbedding(text) })),
    model: "sim-embed",
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

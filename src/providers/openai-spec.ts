import * as z from "zod";
import type { ChatChunk, ChatCompletion, ProviderSpec } from "./provider-types";
import { isToolError, withoutErrorFlag } from "./tool-error";

const UsageSchema = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative().optional(),
});

const CompletionSchema = z.object({
  choices: z
    .array(
      z.object({
        index: z.number().int().default(0),
        message: z.object({
          content: z.string().nullable().optional(),
          tool_calls: z
            .array(z.object({ id: z.string(), type: z.literal("function"), function: z.object({ name: z.string(), arguments: z.string() }) }))
            .optional(),
          refusal: z.string().nullable().optional(),
        }),
        finish_reason: z.enum(["stop", "length", "tool_calls", "content_filter"]).nullable().optional(),
        logprobs: z
          .object({ content: z.array(z.object({ token: z.string(), logprob: z.number() })).nullable().optional() })
          .nullable()
          .optional(),
      }),
    )
    .min(1),
  usage: UsageSchema,
});

const ChunkSchema = z.object({
  choices: z.array(
    z.object({
      index: z.number().int().default(0),
      delta: z
        .object({
          role: z.literal("assistant").optional(),
          content: z.string().nullable().optional(),
          tool_calls: z
            .array(
              z.object({
                index: z.number().int(),
                id: z.string().optional(),
                type: z.literal("function").optional(),
                function: z.object({ name: z.string().optional(), arguments: z.string().optional() }).optional(),
              }),
            )
            .optional(),
        })
        .default({}),
      finish_reason: z.enum(["stop", "length", "tool_calls", "content_filter"]).nullable().optional(),
    }),
  ),
  usage: UsageSchema.nullable().optional(),
});

/** OPENAI_BASE_URL may be given with or without its /v1: a bare origin means the standard /v1 API. */
export function openaiApiBase(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, "");
  return URL.canParse(trimmed) && new URL(trimmed).pathname.replace(/\/+$/, "") === "" ? `${trimmed}/v1` : trimmed;
}

/** Any OpenAI-compatible server: OpenAI, Groq, Together, vLLM, Ollama, and Tollgate's own sim. */
export const openaiSpec: ProviderSpec = {
  kind: "openai",
  chatUrl: (baseUrl) => `${openaiApiBase(baseUrl)}/chat/completions`,
  headers: (apiKey) => ({ "content-type": "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) }),
  toChatBody: (req, upstreamModel, stream) => ({
    ...req,
    ...(req.messages.some(isToolError) ? { messages: req.messages.map(withoutErrorFlag) } : {}),
    model: upstreamModel,
    stream,
    // Usage on the last chunk is what makes streamed calls billable exactly.
    stream_options: stream ? { include_usage: true } : undefined,
  }),
  fromChatBody(body, ids): ChatCompletion {
    const parsed = CompletionSchema.parse(body);
    const usage = parsed.usage;
    return {
      id: ids.id,
      object: "chat.completion",
      created: ids.created,
      model: ids.model,
      choices: parsed.choices.map((choice) => ({
        index: choice.index,
        message: {
          role: "assistant",
          content: choice.message.content ?? null,
          ...(choice.message.tool_calls ? { tool_calls: choice.message.tool_calls } : {}),
          ...(choice.message.refusal ? { refusal: choice.message.refusal } : {}),
        },
        finish_reason: choice.finish_reason ?? "stop",
        ...(choice.logprobs ? { logprobs: { content: choice.logprobs.content ?? null } } : {}),
      })),
      usage: { ...usage, total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens },
    };
  },
  streamDecoder(ids) {
    return (event) => {
      if (event.data.trim() === "[DONE]") return "done";
      const parsed = ChunkSchema.parse(JSON.parse(event.data));
      const chunk: ChatChunk = {
        id: ids.id,
        object: "chat.completion.chunk",
        created: ids.created,
        model: ids.model,
        choices: parsed.choices.map((choice) => ({
          index: choice.index,
          delta: {
            ...(choice.delta.role ? { role: choice.delta.role } : {}),
            ...(choice.delta.content != null ? { content: choice.delta.content } : {}),
            ...(choice.delta.tool_calls ? { tool_calls: choice.delta.tool_calls } : {}),
          },
          finish_reason: choice.finish_reason ?? null,
        })),
      };
      if (parsed.usage) {
        const u = parsed.usage;
        chunk.usage = { ...u, total_tokens: u.total_tokens ?? u.prompt_tokens + u.completion_tokens };
      }
      return [chunk];
    };
  },
  embeddings: {
    url: (baseUrl) => `${openaiApiBase(baseUrl)}/embeddings`,
    toBody: (input, upstreamModel) => ({ model: upstreamModel, input }),
    fromBody(body) {
      const parsed = z
        .object({
          data: z.array(z.object({ index: z.number().int(), embedding: z.array(z.number()) })),
          usage: z.object({ prompt_tokens: z.number().int() }).optional(),
        })
        .parse(body);
      const vectors = [...parsed.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      return { vectors, promptTokens: parsed.usage?.prompt_tokens ?? 0 };
    },
  },
};

import * as z from "zod";
import { countText } from "../tokens/count-tokens";
import { maxOutputTokens, messageText } from "../validate/chat-request";
import type { ChatChunk, ProviderSpec } from "./provider-types";
import { withoutErrorFlag } from "./tool-error";

const ResultSchema = z.object({
  response: z.string().nullable().optional(),
  usage: z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int() }).optional(),
});

/**
 * Workers AI is reached through the `env.AI` binding, not HTTP. This adapter gives the binding a
 * fetch-shaped face so the same caller, timeouts and stream decoding apply to it as to any provider.
 */
export function workersAiFetch(ai: Ai): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const model = decodeURIComponent(url.pathname.replace(/^\/+/, ""));
    const body: unknown = JSON.parse(typeof init?.body === "string" ? init.body : "{}");
    try {
      // The binding is typed per model; this adapter serves any chat model by name.
      const run = ai.run.bind(ai) as unknown as (model: string, inputs: unknown, options?: unknown) => Promise<unknown>;
      const result = await run(model, body, { signal: init?.signal });
      if (result instanceof ReadableStream) return new Response(result, { headers: { "content-type": "text/event-stream" } });
      return Response.json(result);
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 502 });
    }
  };
}

export const workersAiSpec: ProviderSpec = {
  kind: "workers-ai",
  chatUrl: (_baseUrl, upstreamModel) => `https://workers-ai.binding/${encodeURIComponent(upstreamModel)}`,
  headers: () => ({ "content-type": "application/json" }),
  toChatBody: (req, _model, stream) => ({
    messages: req.messages.map(withoutErrorFlag).map((m) => ({ role: m.role === "developer" ? "system" : m.role, content: messageText(m) })),
    max_tokens: maxOutputTokens(req) ?? 1024,
    ...(req.temperature != null ? { temperature: req.temperature } : {}),
    ...(req.top_p != null ? { top_p: req.top_p } : {}),
    ...(req.seed != null ? { seed: req.seed } : {}),
    stream,
  }),
  embeddings: {
    url: (_baseUrl, upstreamModel) => `https://workers-ai.binding/${encodeURIComponent(upstreamModel)}`,
    toBody: (input) => ({ text: input }),
    fromBody: (body) => {
      const parsed = z.object({ data: z.array(z.array(z.number())) }).parse(body);
      return { vectors: parsed.data, promptTokens: 0 };
    },
  },
  fromChatBody(body, ids, req) {
    const parsed = ResultSchema.parse(body);
    const text = parsed.response ?? "";
    // Older models report no usage; count it ourselves so the ledger still has real numbers.
    const prompt = parsed.usage?.prompt_tokens ?? countText(req.messages.map(messageText).join("\n"));
    const completion = parsed.usage?.completion_tokens ?? countText(text);
    return {
      id: ids.id,
      object: "chat.completion",
      created: ids.created,
      model: ids.model,
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    };
  },
  streamDecoder(ids, req) {
    let completionText = "";
    return (event) => {
      const base = { id: ids.id, object: "chat.completion.chunk" as const, created: ids.created, model: ids.model };
      if (event.data.trim() === "[DONE]") {
        const prompt = countText(req.messages.map(messageText).join("\n"));
        const completion = countText(completionText);
        const last: ChatChunk = { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] };
        last.usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
        // The body ends right after [DONE]; the final usage chunk is what matters.
        return [last];
      }
      const parsed = ResultSchema.parse(JSON.parse(event.data));
      const text = parsed.response ?? "";
      completionText += text;
      return text ? [{ ...base, choices: [{ index: 0, delta: { content: text }, finish_reason: null }] }] : [];
    };
  },
};

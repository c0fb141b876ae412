import * as z from "zod";
import { type ChatMessage, type ChatRequest, maxOutputTokens, messageText } from "../validate/chat-request";
import type { ChatChunk, ChatCompletion, FinishReason, ProviderSpec, ResponseIds } from "./provider-types";
import { isToolError } from "./tool-error";

// The two vocabularies for why generation stopped; /v1/messages translates with the same tables.
export const STOP_TO_FINISH: Record<string, FinishReason> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
  pause_turn: "stop",
};
export const FINISH_TO_STOP: Record<FinishReason, string> = {
  stop: "end_turn",
  length: "max_tokens",
  tool_calls: "tool_use",
  content_filter: "refusal",
};

type AnthropicBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown }
  | { type: "tool_result"; tool_use_id: string; content: string; is_error?: true };

function parseArguments(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return { raw };
  }
}

function toAnthropicMessages(messages: ChatMessage[]): { role: "user" | "assistant"; content: AnthropicBlock[] }[] {
  const out: { role: "user" | "assistant"; content: AnthropicBlock[] }[] = [];
  const push = (role: "user" | "assistant", blocks: AnthropicBlock[]) => {
    const last = out.at(-1);
    // Anthropic requires alternating roles, so consecutive same-role turns are merged.
    if (last && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const message of messages) {
    if (message.role === "system" || message.role === "developer") continue;
    const text = messageText(message);
    if (message.role === "tool") {
      push("user", [{ type: "tool_result", tool_use_id: message.tool_call_id ?? "", content: text, ...(isToolError(message) ? { is_error: true as const } : {}) }]);
    } else if (message.role === "assistant") {
      const blocks: AnthropicBlock[] = text ? [{ type: "text", text }] : [];
      for (const call of message.tool_calls ?? []) {
        blocks.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
      }
      push("assistant", blocks);
    } else {
      push("user", [{ type: "text", text }]);
    }
  }
  return out;
}

function toolChoice(choice: ChatRequest["tool_choice"]): unknown {
  if (choice === undefined || choice === "auto") return undefined;
  if (choice === "required") return { type: "any" };
  if (choice === "none") return { type: "none" };
  return { type: "tool", name: choice.function.name };
}

const ResponseSchema = z.object({
  content: z.array(
    z.union([
      z.object({ type: z.literal("text"), text: z.string() }),
      z.object({ type: z.literal("tool_use"), id: z.string(), name: z.string(), input: z.unknown() }),
      z.object({ type: z.string() }).loose(),
    ]),
  ),
  stop_reason: z.string().nullable(),
  usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }),
});

const StreamEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("message_start"), message: z.object({ usage: z.object({ input_tokens: z.number().int() }).loose() }).loose() }),
  z.object({
    type: z.literal("content_block_start"),
    index: z.number().int(),
    content_block: z.object({ type: z.string(), id: z.string().optional(), name: z.string().optional() }).loose(),
  }),
  z.object({
    type: z.literal("content_block_delta"),
    index: z.number().int(),
    delta: z.union([
      z.object({ type: z.literal("text_delta"), text: z.string() }),
      z.object({ type: z.literal("input_json_delta"), partial_json: z.string() }),
      z.object({ type: z.string() }).loose(),
    ]),
  }),
  z.object({ type: z.literal("content_block_stop") }).loose(),
  z.object({
    type: z.literal("message_delta"),
    delta: z.object({ stop_reason: z.string().nullable().optional() }).loose(),
    usage: z.object({ output_tokens: z.number().int() }).loose(),
  }),
  z.object({ type: z.literal("message_stop") }),
  z.object({ type: z.literal("ping") }),
  z.object({ type: z.literal("error"), error: z.object({ message: z.string() }).loose() }),
]);

function chunk(ids: ResponseIds, delta: ChatChunk["choices"][number]["delta"], finish: FinishReason | null = null): ChatChunk {
  return { id: ids.id, object: "chat.completion.chunk", created: ids.created, model: ids.model, choices: [{ index: 0, delta, finish_reason: finish }] };
}

export const anthropicSpec: ProviderSpec = {
  kind: "anthropic",
  // ANTHROPIC_BASE_URL with or without its /v1 (the SDKs take it without, many docs show it with).
  chatUrl: (baseUrl) => `${baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "")}/v1/messages`,
  headers: (apiKey) => ({ "content-type": "application/json", "x-api-key": apiKey, "anthropic-version": "2023-06-01" }),
  toChatBody(req, upstreamModel, stream) {
    const system = req.messages
      .filter((m) => m.role === "system" || m.role === "developer")
      .map(messageText)
      .join("\n\n");
    const stop = req.stop == null ? undefined : Array.isArray(req.stop) ? req.stop : [req.stop];
    return {
      model: upstreamModel,
      max_tokens: maxOutputTokens(req) ?? 1024,
      messages: toAnthropicMessages(req.messages),
      ...(system ? { system } : {}),
      ...(req.temperature != null ? { temperature: Math.min(req.temperature, 1) } : {}),
      ...(req.top_p != null ? { top_p: req.top_p } : {}),
      ...(stop ? { stop_sequences: stop } : {}),
      ...(req.tools?.length
        ? {
            tools: req.tools.map((t) => ({
              name: t.function.name,
              description: t.function.description,
              input_schema: t.function.parameters ?? { type: "object", properties: {} },
            })),
          }
        : {}),
      ...(toolChoice(req.tool_choice) ? { tool_choice: toolChoice(req.tool_choice) } : {}),
      stream,
    };
  },
  fromChatBody(body, ids): ChatCompletion {
    const parsed = ResponseSchema.parse(body);
    let text = "";
    const toolCalls: { id: string; type: "function"; function: { name: string; arguments: string } }[] = [];
    for (const block of parsed.content) {
      if (block.type === "text" && "text" in block && typeof block.text === "string") text += block.text;
      if (block.type === "tool_use" && "name" in block && typeof block.name === "string") {
        const id = "id" in block && typeof block.id === "string" ? block.id : "";
        toolCalls.push({ id, type: "function", function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
      }
    }
    const { input_tokens, output_tokens } = parsed.usage;
    return {
      id: ids.id,
      object: "chat.completion",
      created: ids.created,
      model: ids.model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: text || (toolCalls.length ? null : ""), ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
          finish_reason: STOP_TO_FINISH[parsed.stop_reason ?? "end_turn"] ?? "stop",
        },
      ],
      usage: { prompt_tokens: input_tokens, completion_tokens: output_tokens, total_tokens: input_tokens + output_tokens },
    };
  },
  streamDecoder(ids) {
    let promptTokens = 0;
    const toolIndex = new Map<number, number>();
    return (event) => {
      const parsed = StreamEventSchema.parse(JSON.parse(event.data));
      switch (parsed.type) {
        case "message_start":
          promptTokens = parsed.message.usage.input_tokens;
          return [chunk(ids, { role: "assistant", content: "" })];
        case "content_block_start": {
          const block = parsed.content_block;
          if (block.type !== "tool_use") return [];
          const index = toolIndex.size;
          toolIndex.set(parsed.index, index);
          return [chunk(ids, { tool_calls: [{ index, id: block.id, type: "function", function: { name: block.name, arguments: "" } }] })];
        }
        case "content_block_delta": {
          const delta = parsed.delta;
          if (delta.type === "text_delta" && "text" in delta && typeof delta.text === "string") return [chunk(ids, { content: delta.text })];
          if (delta.type === "input_json_delta" && "partial_json" in delta && typeof delta.partial_json === "string") {
            return [chunk(ids, { tool_calls: [{ index: toolIndex.get(parsed.index) ?? 0, function: { arguments: delta.partial_json } }] })];
          }
          return [];
        }
        case "message_delta": {
          const finish = STOP_TO_FINISH[parsed.delta.stop_reason ?? "end_turn"] ?? "stop";
          const out = chunk(ids, {}, finish);
          const completion = parsed.usage.output_tokens;
          out.usage = { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
          return [out];
        }
        case "message_stop":
          return "done";
        case "error":
          throw new Error(`upstream stream error: ${parsed.error.message}`);
        default:
          return [];
      }
    };
  },
};

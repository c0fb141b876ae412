import * as z from "zod";
import { GatewayError } from "../errors";
import { FINISH_TO_STOP } from "../providers/anthropic-spec";
import type { ChatChunk, ChatCompletion, Usage } from "../providers/provider-types";
import type { ChatMessage, ChatRequest } from "../validate/chat-request";

const MAX_TEXT = 1_000_000;
const TextBlock = z.object({ type: z.literal("text"), text: z.string().max(MAX_TEXT) }).loose();
const ToolUseBlock = z.object({ type: z.literal("tool_use"), id: z.string().max(256), name: z.string().max(256), input: z.unknown() }).loose();
const ToolResultBlock = z
  .object({
    type: z.literal("tool_result"),
    tool_use_id: z.string().max(256),
    content: z.union([z.string().max(MAX_TEXT), z.array(TextBlock.or(z.object({ type: z.string() }).loose())).max(256)]).optional(),
    is_error: z.boolean().optional(),
  })
  .loose();
// Known block types must match their schema; anything else (images, documents) passes through untouched.
const KNOWN_BLOCKS = new Set(["text", "tool_use", "tool_result"]);
const OtherBlock = z.object({ type: z.string().min(1).max(64).refine((t) => !KNOWN_BLOCKS.has(t), "malformed content block") }).loose();
const Block = z.union([TextBlock, ToolUseBlock, ToolResultBlock, OtherBlock]);

export const MessagesRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    max_tokens: z.number().int().positive().max(1_000_000),
    messages: z
      .array(z.object({ role: z.enum(["user", "assistant"]), content: z.union([z.string().max(MAX_TEXT), z.array(Block).max(256)]) }).loose())
      .min(1)
      .max(2048),
    system: z.union([z.string().max(MAX_TEXT), z.array(TextBlock).max(64)]).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().nonnegative().optional(),
    stop_sequences: z.array(z.string().max(256)).max(8).optional(),
    stream: z.boolean().optional(),
    tools: z
      .array(z.object({ name: z.string().min(1).max(64), description: z.string().max(16_384).optional(), input_schema: z.record(z.string(), z.unknown()) }).loose())
      .max(128)
      .optional(),
    tool_choice: z.object({ type: z.enum(["auto", "any", "tool", "none"]), name: z.string().max(64).optional() }).loose().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    // Checked by the route, which answers with the error the SDK's thread logic understands.
    thread: z.unknown().optional(),
  })
  .loose();
export type MessagesRequest = z.infer<typeof MessagesRequestSchema>;

/** count_tokens takes the same body minus the output budget. */
export const CountTokensRequestSchema = MessagesRequestSchema.extend({ max_tokens: z.number().int().positive().max(1_000_000).optional() });

const blockText = (blocks: { type: string; text?: unknown }[]): string =>
  blocks.map((b) => (b.type === "text" && typeof b.text === "string" ? b.text : "")).join("");

/** Anthropic Messages → the internal (OpenAI) request; everything downstream speaks one shape. */
export function toChatRequest(body: MessagesRequest): ChatRequest {
  const messages: ChatMessage[] = [];
  if (body.system) messages.push({ role: "system", content: typeof body.system === "string" ? body.system : blockText(body.system) });
  for (const message of body.messages) {
    if (typeof message.content === "string") {
      messages.push({ role: message.role, content: message.content });
      continue;
    }
    const toolCalls = [];
    let text = "";
    let toolResults = 0;
    for (const block of message.content) {
      if (block.type === "text" && "text" in block && typeof block.text === "string") text += block.text;
      else if (block.type === "tool_use" && "name" in block && typeof block.name === "string") {
        const id = "id" in block && typeof block.id === "string" ? block.id : "";
        toolCalls.push({ id, type: "function" as const, function: { name: block.name, arguments: JSON.stringify("input" in block ? block.input : {}) } });
      } else if (block.type === "tool_result" && "tool_use_id" in block && typeof block.tool_use_id === "string") {
        const content = "content" in block ? block.content : "";
        const resultText = typeof content === "string" ? content : Array.isArray(content) ? blockText(content) : "";
        // is_error rides on the tool message; each provider spec renders it in its own vocabulary.
        const isError = "is_error" in block && block.is_error === true;
        messages.push({ role: "tool", tool_call_id: block.tool_use_id, content: resultText, ...(isError ? { is_error: true } : {}) });
        toolResults++;
      }
    }
    // A user turn of only tool_result blocks is the tool messages above and nothing more: an empty user
    // turn after them reads to the model as a new question, and it calls the tool again.
    if (text || toolCalls.length || (message.role === "user" && toolResults === 0)) {
      messages.push({ role: message.role, content: text, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) });
    }
  }
  // Blocks the internal shape cannot carry (an assistant turn of only images) are dropped above; if
  // nothing is left there is nothing to send, and that is the client's request, not a provider failure.
  if (messages.length === 0) throw GatewayError.invalid("messages: no message has content that can be sent (text, tool_use or tool_result)", "messages");
  const choice = body.tool_choice;
  return {
    model: body.model,
    messages,
    max_tokens: body.max_tokens,
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.top_p !== undefined ? { top_p: body.top_p } : {}),
    ...(body.stop_sequences ? { stop: body.stop_sequences.slice(0, 4) } : {}),
    ...(body.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    ...(body.tools ? { tools: body.tools.map((t) => ({ type: "function" as const, function: { name: t.name, description: t.description, parameters: t.input_schema } })) } : {}),
    ...(choice
      ? { tool_choice: choice.type === "any" ? "required" : choice.type === "tool" && choice.name ? { type: "function" as const, function: { name: choice.name } } : choice.type === "none" ? "none" : "auto" }
      : {}),
  };
}

const messageId = (id: string) => `msg_${id.replace(/^chatcmpl-/, "")}`;

function parseInput(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

export function toAnthropicMessage(completion: ChatCompletion) {
  const choice = completion.choices[0];
  const content: ({ type: "text"; text: string } | { type: "tool_use"; id: string; name: string; input: unknown })[] = [];
  if (choice?.message.content) content.push({ type: "text", text: choice.message.content });
  for (const call of choice?.message.tool_calls ?? []) content.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseInput(call.function.arguments) });
  return {
    id: messageId(completion.id),
    type: "message",
    role: "assistant",
    model: completion.model,
    content,
    stop_reason: FINISH_TO_STOP[choice?.finish_reason ?? "stop"],
    stop_sequence: null,
    usage: { input_tokens: completion.usage.prompt_tokens, output_tokens: completion.usage.completion_tokens },
  };
}

export interface AnthropicEvent {
  event: string;
  data: unknown;
}

/** Turns internal chunks into Anthropic's event sequence, opening and closing content blocks as needed. */
export class AnthropicStreamWriter {
  private blockIndex = -1;
  private openBlock: "text" | "tool_use" | null = null;
  private finish: string = "end_turn";

  start(id: string, model: string, promptTokens: number): AnthropicEvent[] {
    const message = { id: messageId(id), type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: promptTokens, output_tokens: 0 } };
    return [{ event: "message_start", data: { type: "message_start", message } }, { event: "ping", data: { type: "ping" } }];
  }

  private open(kind: "text" | "tool_use", block: Record<string, unknown>): AnthropicEvent[] {
    const events = this.close();
    this.blockIndex++;
    this.openBlock = kind;
    events.push({ event: "content_block_start", data: { type: "content_block_start", index: this.blockIndex, content_block: block } });
    return events;
  }

  private close(): AnthropicEvent[] {
    if (this.openBlock === null) return [];
    this.openBlock = null;
    return [{ event: "content_block_stop", data: { type: "content_block_stop", index: this.blockIndex } }];
  }

  chunk(chunk: ChatChunk): AnthropicEvent[] {
    const events: AnthropicEvent[] = [];
    for (const choice of chunk.choices) {
      const text = choice.delta.content;
      if (text) {
        if (this.openBlock !== "text") events.push(...this.open("text", { type: "text", text: "" }));
        events.push({ event: "content_block_delta", data: { type: "content_block_delta", index: this.blockIndex, delta: { type: "text_delta", text } } });
      }
      for (const call of choice.delta.tool_calls ?? []) {
        if (call.id) events.push(...this.open("tool_use", { type: "tool_use", id: call.id, name: call.function?.name ?? "", input: {} }));
        const partial = call.function?.arguments;
        if (partial) events.push({ event: "content_block_delta", data: { type: "content_block_delta", index: this.blockIndex, delta: { type: "input_json_delta", partial_json: partial } } });
      }
      if (choice.finish_reason) this.finish = FINISH_TO_STOP[choice.finish_reason];
    }
    return events;
  }

  end(usage: Usage): AnthropicEvent[] {
    return [
      ...this.close(),
      { event: "message_delta", data: { type: "message_delta", delta: { stop_reason: this.finish, stop_sequence: null }, usage: { output_tokens: usage.completion_tokens } } },
      { event: "message_stop", data: { type: "message_stop" } },
    ];
  }
}

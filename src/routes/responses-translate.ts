import * as z from "zod";
import { GatewayError } from "../errors";
import { type ChatMessage, type ChatRequest, PromptRefSchema, RetrievalFieldSchema } from "../validate/chat-request";

// POST /v1/responses as a ChatRequest: the pipeline (cache, admission, routing, ledger) speaks one shape.
// The translation is chosen so that a Responses request and a Chat Completions request for the same
// question produce the same ChatRequest, and so share one exact-cache entry.

const MAX_TEXT = 1_000_000;
const Part = z.object({ type: z.string().min(1).max(64) }).loose();
const Content = z.union([z.string().max(MAX_TEXT), z.array(Part).max(256)]);

const MessageItem = z.object({ type: z.literal("message").optional(), id: z.string().max(256).optional(), role: z.enum(["user", "assistant", "system", "developer"]), content: Content }).loose();
const FunctionCallItem = z.object({ type: z.literal("function_call"), id: z.string().max(256).optional(), call_id: z.string().min(1).max(256), name: z.string().min(1).max(256), arguments: z.string().max(MAX_TEXT) }).loose();
const FunctionOutputItem = z.object({ type: z.literal("function_call_output"), id: z.string().max(256).nullish(), call_id: z.string().min(1).max(256), output: Content }).loose();
// Reasoning items come back from reasoning models; there is nothing in them a Chat upstream can take.
const ReasoningItem = z.object({ type: z.literal("reasoning") }).loose();
export const InputItemSchema = z.union([MessageItem, FunctionCallItem, FunctionOutputItem, ReasoningItem]);
export type InputItem = z.infer<typeof InputItemSchema>;

const FunctionTool = z
  .object({ type: z.literal("function"), name: z.string().min(1).max(64), description: z.string().max(16_384).nullish(), parameters: z.record(z.string(), z.unknown()).nullish(), strict: z.boolean().nullish() })
  .loose();
const TextFormat = z.union([
  z.object({ type: z.literal("text") }).loose(),
  z.object({ type: z.literal("json_object") }).loose(),
  z.object({ type: z.literal("json_schema"), name: z.string().min(1).max(64), schema: z.record(z.string(), z.unknown()), strict: z.boolean().nullish(), description: z.string().max(16_384).optional() }).loose(),
]);

export const ResponsesRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    // Optional when `prompt` supplies the conversation, as in OpenAI's API.
    input: z.union([z.string().max(MAX_TEXT), z.array(InputItemSchema).max(2048)]).default([]),
    instructions: z.string().max(MAX_TEXT).nullish(),
    tools: z.array(FunctionTool).max(128).optional(),
    tool_choice: z.union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), name: z.string().max(64) }).loose()]).optional(),
    text: z.object({ format: TextFormat.optional() }).loose().nullish(),
    max_output_tokens: z.number().int().positive().max(1_000_000).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    stream: z.boolean().nullish(),
    store: z.boolean().nullish(),
    previous_response_id: z.string().min(1).max(256).nullish(),
    metadata: z.record(z.string(), z.string().max(512)).nullish(),
    user: z.string().max(256).optional(),
    prompt: PromptRefSchema.nullish(),
    retrieval: RetrievalFieldSchema.optional(),
  })
  .loose();
export type ResponsesRequest = z.infer<typeof ResponsesRequestSchema>;

type ChatPart = Exclude<ChatMessage["content"], string | null | undefined>[number];

/** Responses content parts as Chat parts; all-text content becomes a plain string, as Chat clients send it. */
function chatContent(content: z.infer<typeof Content>): string | ChatPart[] {
  if (typeof content === "string") return content;
  const parts: ChatPart[] = [];
  for (const part of content) {
    const text = "text" in part && typeof part.text === "string" ? part.text : "refusal" in part && typeof part.refusal === "string" ? part.refusal : undefined;
    if (text !== undefined) parts.push({ type: "text", text });
    else if (part.type === "input_image" && "image_url" in part && typeof part.image_url === "string") {
      parts.push({ type: "image_url", image_url: { url: part.image_url, ...("detail" in part ? { detail: part.detail } : {}) } });
    } else throw GatewayError.invalid(`input: content part type '${part.type.slice(0, 64)}' is not supported here`, "input");
  }
  return parts.every((p) => p.type === "text") ? parts.map((p) => (typeof p.text === "string" ? p.text : "")).join("") : parts;
}

/** The conversation items as Chat messages (no instructions: those belong to one request only). */
export function itemsToMessages(input: ResponsesRequest["input"]): ChatMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  const messages: ChatMessage[] = [];
  for (const item of input) {
    if (item.type === "reasoning") continue;
    if (item.type === "function_call") {
      const call = { id: item.call_id, type: "function" as const, function: { name: item.name, arguments: item.arguments } };
      const last = messages.at(-1);
      // Parallel calls arrive as consecutive items; Chat carries them on one assistant turn.
      if (last?.role === "assistant") last.tool_calls = [...(last.tool_calls ?? []), call];
      else messages.push({ role: "assistant", content: null, tool_calls: [call] });
    } else if (item.type === "function_call_output") {
      const content = chatContent(item.output);
      messages.push({ role: "tool", tool_call_id: item.call_id, content: typeof content === "string" ? content : content.map((p) => (typeof p.text === "string" ? p.text : "")).join("") });
    } else {
      messages.push({ role: item.role, content: chatContent(item.content) });
    }
  }
  return messages;
}

function responseFormat(format: z.infer<typeof TextFormat> | undefined): ChatRequest["response_format"] {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  const { name, schema, strict, description } = format;
  return { type: "json_schema", json_schema: { name, schema, ...(strict != null ? { strict } : {}), ...(description ? { description } : {}) } };
}

/** The Chat request for this Responses request, after `history` (the stored conversation it continues). */
export function toChatRequest(body: ResponsesRequest, history: ChatMessage[]): ChatRequest {
  const messages: ChatMessage[] = [...(body.instructions ? [{ role: "system" as const, content: body.instructions }] : []), ...history, ...itemsToMessages(body.input)];
  if (messages.length === 0 && !body.prompt) throw GatewayError.invalid("input: there is nothing to answer", "input");
  const choice = body.tool_choice;
  const format = responseFormat(body.text?.format);
  return {
    model: body.model,
    messages,
    ...(body.prompt ? { prompt: body.prompt } : {}),
    ...(body.max_output_tokens != null ? { max_completion_tokens: body.max_output_tokens } : {}),
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { top_p: body.top_p } : {}),
    ...(body.tools?.length
      ? {
          tools: body.tools.map((t) => ({
            type: "function" as const,
            function: { name: t.name, ...(t.description ? { description: t.description } : {}), ...(t.parameters ? { parameters: t.parameters } : {}), ...(t.strict != null ? { strict: t.strict } : {}) },
          })),
        }
      : {}),
    ...(choice !== undefined ? { tool_choice: typeof choice === "string" ? choice : { type: "function" as const, function: { name: choice.name } } } : {}),
    ...(format ? { response_format: format } : {}),
    ...(body.parallel_tool_calls === false ? { parallel_tool_calls: false } : {}),
    ...(body.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    ...(body.retrieval ? { retrieval: body.retrieval } : {}),
  };
}

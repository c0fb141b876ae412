import { ulid } from "../unique-id";
import type { ChatCompletion, FinishReason, Usage } from "../providers/provider-types";
import type { ChatMessage } from "../validate/chat-request";
import type { ResponsesRequest } from "./responses-translate";

// Chat answers as Responses objects. Every field OpenAI's OpenAPI description marks required on
// Response, OutputMessage, OutputTextContent, FunctionToolCall and ResponseUsage is present.

export const newId = (prefix: string) => `${prefix}_${ulid().toLowerCase()}`;

export interface OutputText {
  type: "output_text";
  text: string;
  annotations: never[];
  logprobs: never[];
}
export interface MessageOutput {
  type: "message";
  id: string;
  status: "in_progress" | "completed" | "incomplete";
  role: "assistant";
  content: OutputText[];
}
export interface FunctionCallOutput {
  type: "function_call";
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: "in_progress" | "completed" | "incomplete";
}
export type OutputItem = MessageOutput | FunctionCallOutput;

export const outputText = (text: string): OutputText => ({ type: "output_text", text, annotations: [], logprobs: [] });

export function responseUsage(usage: Usage | undefined) {
  const input = usage?.prompt_tokens ?? 0;
  const output = usage?.completion_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}

export interface ResponseShell {
  id: string;
  createdAt: number;
  model: string;
}

/** The Response object around `output`; `status` in_progress has no usage yet. */
export function responseObject(shell: ResponseShell, body: ResponsesRequest, output: OutputItem[], finish: FinishReason | null, usage?: Usage) {
  const status = finish === null ? "in_progress" : finish === "length" ? "incomplete" : "completed";
  const format = body.text?.format ?? { type: "text" };
  return {
    id: shell.id,
    object: "response",
    created_at: shell.createdAt,
    status,
    completed_at: finish === null ? null : Math.floor(Date.now() / 1000),
    error: null,
    incomplete_details: finish === "length" ? { reason: "max_output_tokens" } : finish === "content_filter" ? { reason: "content_filter" } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: shell.model,
    output,
    output_text: output.flatMap((item) => (item.type === "message" ? item.content.map((c) => c.text) : [])).join(""),
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: null,
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: { format },
    tool_choice: body.tool_choice ?? "auto",
    tools: (body.tools ?? []).map((t) => ({ ...t, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null })),
    top_p: body.top_p ?? 1,
    truncation: "disabled",
    usage: finish === null ? null : responseUsage(usage),
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}
export type ResponseBody = ReturnType<typeof responseObject>;

/** A whole (non-streamed) chat answer as Responses output items: text first, then each function call. */
export function completionOutput(completion: ChatCompletion): { output: OutputItem[]; finish: FinishReason } {
  const choice = completion.choices[0];
  const output: OutputItem[] = [];
  const status = choice?.finish_reason === "length" ? "incomplete" : "completed";
  const text = choice?.message.content;
  if (text) output.push({ type: "message", id: newId("msg"), status, role: "assistant", content: [outputText(text)] });
  for (const call of choice?.message.tool_calls ?? []) {
    output.push({ type: "function_call", id: newId("fc"), call_id: call.id, name: call.function.name, arguments: call.function.arguments, status: "completed" });
  }
  return { output, finish: choice?.finish_reason ?? "stop" };
}

/** What this turn adds to the stored conversation: the answer as Chat messages. */
export function outputMessages(output: OutputItem[]): ChatMessage[] {
  const text = output.flatMap((item) => (item.type === "message" ? item.content.map((c) => c.text) : [])).join("");
  const calls = output.flatMap((item) => (item.type === "function_call" ? [{ id: item.call_id, type: "function" as const, function: { name: item.name, arguments: item.arguments } }] : []));
  if (!text && calls.length === 0) return [];
  return [{ role: "assistant", content: text || null, ...(calls.length ? { tool_calls: calls } : {}) }];
}

import type { ChatChunk, FinishReason, Usage } from "../providers/provider-types";
import { type FunctionCallOutput, type MessageOutput, newId, type OutputItem, outputText, type ResponseBody, type ResponseShell, responseObject } from "./responses-output";
import type { ResponsesRequest } from "./responses-translate";

export interface ResponsesEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

type Open = { kind: "text"; item: MessageOutput; index: number } | { kind: "call"; item: FunctionCallOutput; index: number; chunkIndex: number };

/**
 * Chat chunks in, the Responses event sequence out: response.created, response.in_progress, then per
 * output item output_item.added → (content_part.added → output_text.delta… → output_text.done →
 * content_part.done | function_call_arguments.delta… → function_call_arguments.done) → output_item.done,
 * and response.completed (response.incomplete when the output budget ran out). Items open and close in
 * order, as OpenAI streams them, so a client's snapshot accumulator sees what it expects.
 */
export class ResponsesStreamWriter {
  private sequence = 0;
  private readonly output: OutputItem[] = [];
  private open: Open | null = null;
  private finish: FinishReason = "stop";

  constructor(
    private readonly shell: ResponseShell,
    private readonly body: ResponsesRequest,
  ) {}

  private event(type: string, fields: Record<string, unknown>): ResponsesEvent {
    // Serialised copies: later deltas mutate the items, never what was already sent.
    return { type, sequence_number: this.sequence++, ...structuredClone(fields) };
  }

  start(): ResponsesEvent[] {
    const response = responseObject(this.shell, this.body, [], null);
    return [this.event("response.created", { response }), this.event("response.in_progress", { response })];
  }

  private close(): ResponsesEvent[] {
    const open = this.open;
    if (!open) return [];
    this.open = null;
    const at = { item_id: open.item.id, output_index: open.index };
    if (open.kind === "call") {
      open.item.status = "completed";
      return [
        this.event("response.function_call_arguments.done", { ...at, name: open.item.name, arguments: open.item.arguments }),
        this.event("response.output_item.done", { output_index: open.index, item: open.item }),
      ];
    }
    const part = open.item.content[0] ?? outputText("");
    open.item.status = this.finish === "length" ? "incomplete" : "completed";
    return [
      this.event("response.output_text.done", { ...at, content_index: 0, text: part.text, logprobs: [] }),
      this.event("response.content_part.done", { ...at, content_index: 0, part }),
      this.event("response.output_item.done", { output_index: open.index, item: open.item }),
    ];
  }

  private text(delta: string): ResponsesEvent[] {
    const events: ResponsesEvent[] = [];
    let open = this.open;
    if (open?.kind !== "text") {
      events.push(...this.close());
      const item: MessageOutput = { type: "message", id: newId("msg"), status: "in_progress", role: "assistant", content: [] };
      open = { kind: "text", item, index: this.output.push(item) - 1 };
      this.open = open;
      events.push(this.event("response.output_item.added", { output_index: open.index, item }));
      item.content.push(outputText(""));
      events.push(this.event("response.content_part.added", { item_id: item.id, output_index: open.index, content_index: 0, part: outputText("") }));
    }
    const part = open.item.content[0];
    if (part) part.text += delta;
    events.push(this.event("response.output_text.delta", { item_id: open.item.id, output_index: open.index, content_index: 0, delta, logprobs: [] }));
    return events;
  }

  private toolCall(call: NonNullable<ChatChunk["choices"][number]["delta"]["tool_calls"]>[number]): ResponsesEvent[] {
    const events: ResponsesEvent[] = [];
    if (call.id && !(this.open?.kind === "call" && this.open.item.call_id === call.id)) {
      events.push(...this.close());
      const item: FunctionCallOutput = { type: "function_call", id: newId("fc"), call_id: call.id, name: call.function?.name ?? "", arguments: "", status: "in_progress" };
      this.open = { kind: "call", item, index: this.output.push(item) - 1, chunkIndex: call.index };
      events.push(this.event("response.output_item.added", { output_index: this.open.index, item }));
    }
    const open = this.open;
    const delta = call.function?.arguments;
    if (open?.kind === "call" && delta) {
      open.item.arguments += delta;
      events.push(this.event("response.function_call_arguments.delta", { item_id: open.item.id, output_index: open.index, delta }));
    }
    return events;
  }

  chunk(chunk: ChatChunk): ResponsesEvent[] {
    const events: ResponsesEvent[] = [];
    for (const choice of chunk.choices) {
      if (choice.delta.content) events.push(...this.text(choice.delta.content));
      for (const call of choice.delta.tool_calls ?? []) events.push(...this.toolCall(call));
      if (choice.finish_reason) this.finish = choice.finish_reason;
    }
    return events;
  }

  /** Closes the open item and completes the response; returns the final Response for storing. */
  end(usage: Usage | undefined): { events: ResponsesEvent[]; response: ResponseBody } {
    const events = this.close();
    const response = responseObject(this.shell, this.body, this.output, this.finish, usage);
    events.push(this.event(this.finish === "length" ? "response.incomplete" : "response.completed", { response }));
    return { events, response };
  }

  fail(message: string): ResponsesEvent[] {
    return [this.event("error", { code: "upstream_error", message, param: null })];
  }

  get items(): OutputItem[] {
    return this.output;
  }
}

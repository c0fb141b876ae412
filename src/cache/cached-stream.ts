import type { ChatChunk, ChatCompletion, ChunkToolCall, FinishReason, ResponseIds } from "../providers/provider-types";
import type { ToolCall } from "../validate/chat-request";

// Words per replayed chunk: small enough to look like a live stream to a UI, large enough that a
// long cached answer is not thousands of SSE events.
const WORDS_PER_CHUNK = 8;

/** A cached completion as the chunk sequence a provider would have streamed (usage is the route's job). */
export function completionChunks(completion: ChatCompletion, ids: ResponseIds): ChatChunk[] {
  const chunk = (delta: ChatChunk["choices"][number]["delta"], finish: FinishReason | null = null): ChatChunk => ({
    id: ids.id,
    object: "chat.completion.chunk",
    created: ids.created,
    model: ids.model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const choice = completion.choices[0];
  const out: ChatChunk[] = [chunk({ role: "assistant", content: "" })];
  const content = choice?.message.content ?? "";
  // Whitespace-only content has no words to split on but must still arrive intact.
  const words = content.match(/\s*\S+\s*/g) ?? (content ? [content] : []);
  for (let i = 0; i < words.length; i += WORDS_PER_CHUNK) out.push(chunk({ content: words.slice(i, i + WORDS_PER_CHUNK).join("") }));
  (choice?.message.tool_calls ?? []).forEach((call, index) => {
    out.push(chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: call.function.arguments } }] }));
  });
  out.push(chunk({}, choice?.finish_reason ?? "stop"));
  return out;
}

export async function* replayChunks(chunks: readonly ChatChunk[]): AsyncGenerator<ChatChunk, void, void> {
  for (const chunk of chunks) yield chunk;
}

/** Rebuilds the completion a stream delivered, so a streamed miss can be cached like any other. */
export class StreamAssembler {
  private content = "";
  private sawContent = false;
  private readonly calls = new Map<number, ChunkToolCall & { arguments: string }>();
  finish: FinishReason | null = null;

  add(chunk: ChatChunk): void {
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      if (typeof choice.delta.content === "string") {
        this.content += choice.delta.content;
        this.sawContent ||= choice.delta.content !== "";
      }
      for (const call of choice.delta.tool_calls ?? []) {
        const known = this.calls.get(call.index) ?? { index: call.index, arguments: "" };
        known.id ??= call.id;
        known.function = { name: known.function?.name ?? call.function?.name };
        known.arguments += call.function?.arguments ?? "";
        this.calls.set(call.index, known);
      }
      if (choice.finish_reason) this.finish = choice.finish_reason;
    }
  }

  /** The completion, or undefined when the stream never said it was finished. */
  completion(ids: ResponseIds): Omit<ChatCompletion, "usage"> | undefined {
    if (!this.finish) return undefined;
    const toolCalls: ToolCall[] = [...this.calls.values()]
      .sort((a, b) => a.index - b.index)
      .map((c) => ({ id: c.id ?? `call_${c.index}`, type: "function", function: { name: c.function?.name ?? "", arguments: c.arguments } }));
    return {
      id: ids.id,
      object: "chat.completion",
      created: ids.created,
      model: ids.model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: this.sawContent || !toolCalls.length ? this.content : null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
          finish_reason: this.finish,
        },
      ],
    };
  }
}

import type { ChatChunk, ChatCompletion, ChunkToolCall, FinishReason, ResponseIds, TokenLogprob } from "../providers/provider-types";
import type { ToolCall } from "../validate/chat-request";

// Words per replayed chunk: small enough to look like a live stream to a UI, large enough that a
// long cached answer is not thousands of SSE events.
const WORDS_PER_CHUNK = 8;

// A replayed chunk may carry its tokens' log probabilities, as OpenAI's streamed chunks do.
type ReplayChunk = Omit<ChatChunk, "choices"> & { choices: (ChatChunk["choices"][number] & { logprobs?: { content: TokenLogprob[] } })[] };

/** Hands each token to the text piece its first character falls in; any excess goes to the last piece. */
function splitLogprobs(tokens: readonly TokenLogprob[], pieces: readonly string[]): TokenLogprob[][] {
  const out = pieces.map((): TokenLogprob[] => []);
  let piece = 0;
  let pieceEnd = pieces[0]?.length ?? 0;
  let offset = 0;
  for (const token of tokens) {
    while (offset >= pieceEnd && piece < pieces.length - 1) pieceEnd += pieces[++piece]?.length ?? 0;
    out[piece]?.push(token);
    offset += token.token.length;
  }
  return out;
}

/**
 * A cached completion as the chunk sequence a provider would have streamed (usage is the route's job).
 * Log probabilities, when the entry has them (only a request that asked for them stores them), ride
 * on the content chunks, so a streamed hit drops nothing the request asked for.
 */
export function completionChunks(completion: ChatCompletion, ids: ResponseIds): ChatChunk[] {
  const chunk = (delta: ChatChunk["choices"][number]["delta"], finish: FinishReason | null = null, logprobs?: TokenLogprob[]): ReplayChunk => ({
    id: ids.id,
    object: "chat.completion.chunk",
    created: ids.created,
    model: ids.model,
    choices: [{ index: 0, delta, finish_reason: finish, ...(logprobs ? { logprobs: { content: logprobs } } : {}) }],
  });
  const choice = completion.choices[0];
  const content = choice?.message.content ?? "";
  // Whitespace-only content has no words to split on but must still arrive intact.
  const words = content.match(/\s*\S+\s*/g) ?? (content ? [content] : []);
  const pieces: string[] = [];
  for (let i = 0; i < words.length; i += WORDS_PER_CHUNK) pieces.push(words.slice(i, i + WORDS_PER_CHUNK).join(""));
  const tokens = choice?.logprobs?.content ?? undefined;
  const perPiece = tokens ? splitLogprobs(tokens, pieces.length ? pieces : [""]) : undefined;
  // With no text to ride on, the tokens go on the opening chunk.
  const out: ReplayChunk[] = [chunk({ role: "assistant", content: "" }, null, pieces.length ? undefined : perPiece?.[0])];
  pieces.forEach((text, i) => out.push(chunk({ content: text }, null, perPiece?.[i])));
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

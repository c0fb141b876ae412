import type { ChatChunk, ChatCompletion, TokenLogprob } from "../providers/provider-types";

// The render edge for Chat Completions: whatever the pipeline produced (a fresh answer, a cached one, a
// translated Anthropic or Workers AI one), the body leaves with every field OpenAI's OpenAPI description
// marks required, null where there is no value. Strict clients generated from that description reject
// a body without them.

const encoder = new TextEncoder();

/** ChatCompletionTokenLogprob requires bytes and top_logprobs; upstreams that omit them get them derived. */
function specLogprob(entry: TokenLogprob & { bytes?: number[] | null; top_logprobs?: unknown[] }) {
  return { ...entry, bytes: entry.bytes ?? [...encoder.encode(entry.token)], top_logprobs: entry.top_logprobs ?? [] };
}

export function completionBody(completion: ChatCompletion) {
  return {
    ...completion,
    choices: completion.choices.map((choice) => ({
      ...choice,
      message: { ...choice.message, content: choice.message.content ?? null, refusal: choice.message.refusal ?? null },
      finish_reason: choice.finish_reason ?? "stop",
      logprobs: choice.logprobs ? { content: choice.logprobs.content?.map(specLogprob) ?? null, refusal: null } : null,
    })),
  };
}

type ChunkChoice = ChatChunk["choices"][number] & { logprobs?: { content: TokenLogprob[] | null } | null };

export function chunkBody(chunk: ChatChunk) {
  return {
    ...chunk,
    choices: chunk.choices.map((choice: ChunkChoice) => ({
      ...choice,
      index: choice.index ?? 0,
      finish_reason: choice.finish_reason ?? null,
      // A replayed entry's log probabilities ride on its content chunks, in the same spec shape as a whole answer's.
      ...(choice.logprobs ? { logprobs: { content: choice.logprobs.content?.map(specLogprob) ?? null, refusal: null } } : {}),
    })),
  };
}

import type { ChatRequest } from "../validate/chat-request";

/**
 * Parts of an answer that exist only when the request asks for them. The cache key already holds the
 * fields that ask (they are not transport fields), so two requests with one key ask for the same
 * parts; what differs is how the entry was recorded. A non-streamed completion is kept whole: it is
 * exactly what a fresh call returns. A recorded stream keeps only what chunks carry (content, tool
 * calls, finish reason), so an entry names the parts its recording could not keep, and a request that
 * asks for one of them is a miss that records a whole entry in its place.
 *
 * Not listed, because they cannot go missing this way: `n` > 1 is refused at validation (one choice
 * per answer); tool calls are rebuilt from the stream; a refusal is never stored; usage is stored with
 * every entry and its details are not kept by the provider adapters for fresh answers either.
 */
export const OPTIONAL_OUTPUTS = ["logprobs"] as const;
export type OptionalOutput = (typeof OPTIONAL_OUTPUTS)[number];

export function requestedOutputs(req: ChatRequest): OptionalOutput[] {
  return req.logprobs === true || (req.top_logprobs ?? 0) > 0 ? ["logprobs"] : [];
}

/**
 * What a stream recording of this request lacks. Provider chunks do not carry log probabilities
 * (see ChatChunk), so a recorded stream never holds them.
 */
export function lostInStream(req: ChatRequest): OptionalOutput[] {
  return requestedOutputs(req).filter((output) => output === "logprobs");
}

/** True when an entry recorded without `lacks` can answer this request in full. */
export function answersInFull(lacks: readonly OptionalOutput[], req: ChatRequest): boolean {
  return !requestedOutputs(req).some((output) => lacks.includes(output));
}

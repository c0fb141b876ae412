import { describe, expect, it } from "vitest";
import { completionChunks } from "../../src/cache/cached-stream";
import { answersInFull, lostInStream, requestedOutputs } from "../../src/cache/optional-outputs";
import type { ChatCompletion, TokenLogprob } from "../../src/providers/provider-types";
import type { ChatRequest } from "../../src/validate/chat-request";

const req = (extra: Partial<ChatRequest> = {}): ChatRequest => ({ model: "sim/fast", messages: [{ role: "user", content: "hi" }], ...extra });
const ids = { id: "chatcmpl-1", model: "sim/fast", created: 1 };
const completion = (content: string | null, tokens?: TokenLogprob[]): ChatCompletion => ({
  ...ids,
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop", ...(tokens ? { logprobs: { content: tokens } } : {}) }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});
type Replayed = { choices: { delta: { content?: string | null }; logprobs?: { content: TokenLogprob[] } }[] };

describe("optional outputs", () => {
  it("logprobs are asked for by logprobs: true or top_logprobs > 0, and a recorded stream loses them", () => {
    expect(requestedOutputs(req())).toEqual([]);
    expect(requestedOutputs(req({ logprobs: false, top_logprobs: 0 }))).toEqual([]);
    expect(requestedOutputs(req({ logprobs: true }))).toEqual(["logprobs"]);
    expect(requestedOutputs(req({ top_logprobs: 3 }))).toEqual(["logprobs"]);
    expect(lostInStream(req({ logprobs: true }))).toEqual(["logprobs"]);
    expect(lostInStream(req())).toEqual([]);
  });

  it("an entry answers in full unless it lacks something the request asks for", () => {
    expect(answersInFull([], req({ logprobs: true }))).toBe(true);
    expect(answersInFull(["logprobs"], req({ logprobs: true }))).toBe(false);
    expect(answersInFull(["logprobs"], req())).toBe(true);
  });

  it("a replayed stream carries each token on the chunk its text starts in, and loses none", () => {
    const words = Array.from({ length: 20 }, (_, i) => `w${i} `);
    const tokens = words.map((token, i) => ({ token, logprob: -i / 10 }));
    const chunks = completionChunks(completion(words.join(""), tokens), ids) as Replayed[];
    const content = chunks.filter((c) => c.choices[0]?.delta.content);
    expect(content.length).toBeGreaterThan(2);
    for (const chunk of content) {
      expect(chunk.choices[0]?.logprobs?.content.map((t) => t.token).join("")).toBe(chunk.choices[0]?.delta.content);
    }
    expect(chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? [])).toEqual(tokens);
  });

  it("tokens that do not line up with the text, or have no text to ride on, are still all replayed", () => {
    const odd = [{ token: "hello there friend, and more than the text", logprob: -1 }, { token: "!", logprob: -2 }];
    const short = completionChunks(completion("hi", odd), ids) as Replayed[];
    expect(short.flatMap((c) => c.choices[0]?.logprobs?.content ?? [])).toEqual(odd);
    const empty = completionChunks(completion(null, odd), ids) as Replayed[];
    expect(empty[0]?.choices[0]?.logprobs?.content).toEqual(odd);
    const none = completionChunks(completion("no logprobs asked"), ids) as Replayed[];
    expect(none.some((c) => c.choices[0]?.logprobs)).toBe(false);
  });
});

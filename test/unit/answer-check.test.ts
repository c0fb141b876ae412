import { describe, expect, it } from "vitest";
import type { ChatCompletion } from "../../src/providers/provider-types";
import { checkAnswer } from "../../src/routing/answer-check";
import type { ChatRequest } from "../../src/validate/chat-request";

const completion = (content: string | null, extra: Partial<ChatCompletion["choices"][number]> = {}): ChatCompletion => ({
  id: "c",
  object: "chat.completion",
  created: 1,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop", ...extra }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});
const req: ChatRequest = { model: "auto", messages: [{ role: "user", content: "q" }] };
const schemaReq: ChatRequest = {
  ...req,
  response_format: { type: "json_schema", json_schema: { name: "person", schema: { type: "object", required: ["name", "age"], properties: { name: { type: "string" }, age: { type: "integer" } } } } },
};

describe("checkAnswer", () => {
  it("accepts a plain answer", () => {
    expect(checkAnswer(completion("Paris."), req, { capped: false })).toEqual({ ok: true });
  });

  it("rejects empty answers and refusals", () => {
    expect(checkAnswer(completion("  "), req, { capped: false })).toMatchObject({ ok: false, reason: "empty" });
    expect(checkAnswer(completion("I'm sorry, but I can't help with that."), req, { capped: false })).toMatchObject({ ok: false, reason: "refusal" });
    expect(checkAnswer(completion(null, { message: { role: "assistant", content: null, refusal: "no" } }), req, { capped: false })).toMatchObject({ reason: "refusal" });
    expect(checkAnswer(completion("Sorry for the wait: the answer is 42."), req, { capped: false })).toEqual({ ok: true });
  });

  it("rejects an answer cut by Tollgate's own cap, but not by the client's", () => {
    const cut = completion("half an ans", { finish_reason: "length" });
    expect(checkAnswer(cut, req, { capped: true })).toMatchObject({ ok: false, reason: "length" });
    expect(checkAnswer(cut, req, { capped: false })).toEqual({ ok: true });
  });

  it("validates JSON answers against the requested schema", () => {
    expect(checkAnswer(completion('{"name":"Ada","age":36}'), schemaReq, { capped: false })).toEqual({ ok: true });
    expect(checkAnswer(completion('{"name":"Ada"}'), schemaReq, { capped: false })).toMatchObject({ ok: false, reason: "schema" });
    expect(checkAnswer(completion("Ada, 36"), schemaReq, { capped: false })).toMatchObject({ ok: false, reason: "schema" });
    expect(checkAnswer(completion('{"name":"Ada","age":"old"}'), schemaReq, { capped: false })).toMatchObject({ ok: false, reason: "schema" });
  });

  it("escalates on low confidence when logprobs are present", () => {
    const unsure = completion("maybe", { logprobs: { content: [{ token: "maybe", logprob: -2.3 }] } });
    const sure = completion("yes", { logprobs: { content: [{ token: "yes", logprob: -0.05 }] } });
    expect(checkAnswer(unsure, req, { capped: false })).toMatchObject({ ok: false, reason: "low_confidence" });
    expect(checkAnswer(sure, req, { capped: false })).toEqual({ ok: true });
  });
});

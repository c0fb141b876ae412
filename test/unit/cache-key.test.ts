import { describe, expect, it } from "vitest";
import { canonicalJson, exactKey, type KeyIdentity, normaliseText, scopeHash, semanticQuestion } from "../../src/cache/cache-key";
import { cacheRules } from "../../src/cache/chat-cache";
import { parsePolicy } from "../../src/config/tenant-policy";
import type { ChatRequest } from "../../src/validate/chat-request";
import { parseHints } from "../../src/validate/request-hints";

const base: ChatRequest = {
  model: "sim/fast",
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "What is the capital of France?" },
  ],
};
const identity: KeyIdentity = { model: "sim/fast", tier: "fast" };
const key = (req: ChatRequest, tenant = "ten_a", id = identity) => exactKey(tenant, id, req);

describe("canonical JSON", () => {
  it("sorts keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1], c: null } })).toBe('{"a":{"c":null,"d":[3,1]},"b":1}');
    expect(canonicalJson({ a: undefined, b: "x" })).toBe('{"b":"x"}');
  });

  it("normalises whitespace but keeps indentation and the words", () => {
    expect(normaliseText("  What   is\r\nthis?  \n\n")).toBe("  What is\nthis?");
    expect(normaliseText("def f():\n    return  1")).toBe("def f():\n    return 1");
  });
});

describe("exact key", () => {
  it("is stable under key order, whitespace, nulls and transport fields", async () => {
    const k = await key(base);
    expect(await key({ messages: [{ content: "Be  brief.", role: "system" }, { role: "user", content: "What is the capital of France? " }], model: "sim/fast" })).toBe(k);
    expect(await key({ ...base, temperature: null, stop: null })).toBe(k);
    expect(await key({ ...base, stream: true, stream_options: { include_usage: true } })).toBe(k);
    expect(await key({ ...base, messages: [base.messages[0]!, { role: "user", content: [{ type: "text", text: "What is  the capital of France?" }] }] })).not.toBe(k);
  });

  it("changes with every field that can change the answer", async () => {
    const k = await key(base);
    const tool = { type: "function" as const, function: { name: "lookup", parameters: { type: "object" } } };
    const changes: Record<string, Partial<ChatRequest> & Record<string, unknown>> = {
      messages: { messages: [base.messages[0]!, { role: "user", content: "What is the capital of Spain?" }] },
      system: { messages: [{ role: "system", content: "Be long." }, base.messages[1]!] },
      tools: { tools: [tool] },
      tool_choice: { tool_choice: "required" },
      response_format: { response_format: { type: "json_object" } },
      temperature: { temperature: 0 },
      top_p: { top_p: 0.9 },
      max_tokens: { max_tokens: 10 },
      max_completion_tokens: { max_completion_tokens: 10 },
      seed: { seed: 1 },
      stop: { stop: "END" },
      n: { n: 1 },
      logprobs: { logprobs: true },
      top_logprobs: { top_logprobs: 2 },
      presence_penalty: { presence_penalty: 0.5 },
      frequency_penalty: { frequency_penalty: 0.5 },
      logit_bias: { logit_bias: { "50256": -100 } },
      parallel_tool_calls: { parallel_tool_calls: false },
      user: { user: "u1" },
      unknown: { reasoning_effort: "low" },
    };
    const keys = new Set([k]);
    for (const [field, change] of Object.entries(changes)) {
      const changed = await key({ ...base, ...change });
      expect({ field, same: changed === k }).toEqual({ field, same: false });
      keys.add(changed);
    }
    expect(keys.size).toBe(Object.keys(changes).length + 1);
    expect(await key(base, "ten_b")).not.toBe(k);
    expect(await key(base, "ten_a", { model: "sim/fast", tier: "balanced" })).not.toBe(k);
    expect(await key(base, "ten_a", { model: "sim-b/fast", tier: "fast" })).not.toBe(k);
  });
});

describe("semantic scope", () => {
  const scope = (req: ChatRequest, tenant = "ten_a", embedder = "local/use-lite") => scopeHash(tenant, identity, req, embedder);
  const withQuestion = (q: string): ChatRequest => ({ ...base, messages: [base.messages[0]!, { role: "user", content: q }] });

  it("ignores the last user turn and nothing else", async () => {
    const s = await scope(base);
    expect(await scope(withQuestion("Tell me France's capital city"))).toBe(s);
    expect(await scope({ ...base, messages: [{ role: "system", content: "Be long." }, base.messages[1]!] })).not.toBe(s);
    expect(await scope({ ...base, messages: [{ role: "user", content: "Hi" }, ...base.messages] })).not.toBe(s);
    expect(await scope({ ...base, response_format: { type: "json_object" } })).not.toBe(s);
    expect(await scope(base, "ten_b")).not.toBe(s);
    expect(await scope(base, "ten_a", "workers-ai/bge-base-en-v1.5")).not.toBe(s);
  });

  it("embeds only a plain-text last user turn", () => {
    expect(semanticQuestion(base)).toBe("What is the capital of France?");
    expect(semanticQuestion({ ...base, messages: [...base.messages, { role: "assistant", content: "Paris" }] })).toBeUndefined();
    expect(semanticQuestion({ ...base, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] })).toBeUndefined();
    expect(semanticQuestion({ ...base, messages: [{ role: "user", content: "   " }] })).toBeUndefined();
  });
});

describe("cache rules", () => {
  const hints = (headers: Record<string, string>) => parseHints((name) => headers[name]);
  const policy = parsePolicy(null);

  it("maps x-tollgate-cache onto reads and writes", () => {
    expect(cacheRules(policy, hints({}), base)).toMatchObject({ readExact: true, readSemantic: true, write: true, writeSemantic: true, ttlS: 3600 });
    expect(cacheRules(policy, hints({ "x-tollgate-cache": "no-store" }), base)).toMatchObject({ readExact: false, write: false });
    expect(cacheRules(policy, hints({ "x-tollgate-cache": "no-cache" }), base)).toMatchObject({ readExact: false, readSemantic: false, write: true, writeSemantic: true });
    expect(cacheRules(policy, hints({ "x-tollgate-cache": "exact-only" }), base)).toMatchObject({ readExact: true, readSemantic: false, write: true, writeSemantic: false });
    expect(cacheRules(policy, hints({ "x-tollgate-cache-ttl": "600" }), base).ttlS).toBe(600);
  });

  it("treats an absent temperature as sampled when the policy refuses sampled answers", () => {
    const strict = parsePolicy(JSON.stringify({ cache: { cache_sampled: false } }));
    expect(cacheRules(strict, hints({}), base).write).toBe(false);
    expect(cacheRules(strict, hints({}), { ...base, temperature: 0.2 }).write).toBe(false);
    expect(cacheRules(strict, hints({}), { ...base, temperature: 0 }).write).toBe(true);
  });
});

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { findModel, DEFAULT_CATALOG } from "../../src/config/model-catalog";
import { chatOnce, embedOnce, streamOnce } from "../../src/providers/call-provider";
import { providerInstances } from "../../src/providers/provider-registry";
import type { ChatChunk } from "../../src/providers/provider-types";
import type { ChatRequest } from "../../src/validate/chat-request";

const ids = { id: "chatcmpl-test", model: "test-model", created: 1 };
const req: ChatRequest = {
  model: "x",
  messages: [
    { role: "system", content: "be brief" },
    { role: "user", content: "hi" },
  ],
  max_tokens: 50,
};
const signal = () => AbortSignal.timeout(5_000);
const model = (id: string) => {
  const found = findModel(DEFAULT_CATALOG, id);
  if (!found) throw new Error(id);
  return found;
};

function sse(events: { event?: string; data: unknown }[]): Response {
  const text = events.map((e) => `${e.event ? `event: ${e.event}\n` : ""}data: ${typeof e.data === "string" ? e.data : JSON.stringify(e.data)}\n\n`).join("");
  return new Response(text, { headers: { "content-type": "text/event-stream" } });
}

async function collect(rest: AsyncGenerator<ChatChunk[]>, first: ChatChunk[]): Promise<ChatChunk[]> {
  const all = [...first];
  for await (const batch of rest) all.push(...batch);
  return all;
}

afterEach(() => vi.restoreAllMocks());

describe("openai adapter (mocked HTTP)", () => {
  const instances = () => providerInstances({ ...env, OPENAI_API_KEY: "sk-test", OPENAI_BASE_URL: "https://upstream.test/v1" });

  it("sends the OpenAI shape with the upstream model and key, and parses the answer", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockResolvedValue(
      Response.json({ id: "x", choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } }),
    );
    const instance = instances().get("openai");
    if (!instance) throw new Error("openai instance missing");
    const result = await chatOnce(instance, model("openai/gpt-4o-mini"), req, { ids, signal: signal() });
    expect(result.ok && result.value.choices[0]?.message.content).toBe("hello");
    expect(result.ok && result.value.usage.total_tokens).toBe(9);
    const [url, init] = fetchSpy.mock.calls[0] ?? [];
    expect(String(url)).toBe("https://upstream.test/v1/chat/completions");
    expect(new Headers(init?.headers).get("authorization")).toBe("Bearer sk-test");
    expect(JSON.parse(String(init?.body)).model).toBe("gpt-4o-mini");
  });

  it("maps a 429 with Retry-After to a retryable failure", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response("slow down", { status: 429, headers: { "retry-after": "2" } }));
    const instance = instances().get("openai");
    if (!instance) throw new Error("openai instance missing");
    const result = await chatOnce(instance, model("openai/gpt-4o-mini"), req, { ids, signal: signal() });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ kind: "http", status: 429, retryable: true, retryAfterMs: 2000 });
  });

  it("never retries a 401 from the provider, and flags a malformed body", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValueOnce(new Response("no", { status: 401 })).mockResolvedValueOnce(Response.json({ unexpected: true }));
    const instance = instances().get("openai");
    if (!instance) throw new Error("openai instance missing");
    const denied = await chatOnce(instance, model("openai/gpt-4o-mini"), req, { ids, signal: signal() });
    expect(!denied.ok && denied.error.retryable).toBe(false);
    const malformed = await chatOnce(instance, model("openai/gpt-4o-mini"), req, { ids, signal: signal() });
    expect(!malformed.ok && malformed.error.kind).toBe("malformed");
  });

  it("decodes a stream and its usage chunk", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(
      sse([
        { data: { choices: [{ index: 0, delta: { role: "assistant", content: "he" }, finish_reason: null }] } },
        { data: { choices: [{ index: 0, delta: { content: "llo" }, finish_reason: "stop" }] } },
        { data: { choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } } },
        { data: "[DONE]" },
      ]),
    );
    const instance = instances().get("openai");
    if (!instance) throw new Error("openai instance missing");
    const result = await streamOnce(instance, model("openai/gpt-4o-mini"), req, { ids, signal: signal() });
    if (!result.ok) throw new Error(result.error.message);
    const chunks = await collect(result.value.rest, result.value.first);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("hello");
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(2);
  });
});

describe("anthropic adapter (mocked HTTP)", () => {
  const instance = () => {
    const found = providerInstances({ ...env, ANTHROPIC_API_KEY: "sk-ant", ANTHROPIC_BASE_URL: "https://anthropic.test" }).get("anthropic");
    if (!found) throw new Error("anthropic instance missing");
    return found;
  };

  it("translates OpenAI → Messages (system, max_tokens, tools) and back", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockResolvedValue(
      Response.json({
        id: "msg_1",
        content: [
          { type: "text", text: "Let me check." },
          { type: "tool_use", id: "tu_1", name: "weather", input: { city: "Paris" } },
        ],
        stop_reason: "tool_use",
        usage: { input_tokens: 11, output_tokens: 6 },
      }),
    );
    const withTools: ChatRequest = { ...req, tools: [{ type: "function", function: { name: "weather", parameters: { type: "object" } } }] };
    const result = await chatOnce(instance(), model("anthropic/claude-haiku-4-5"), withTools, { ids, signal: signal() });
    if (!result.ok) throw new Error(result.error.message);
    const [url, init] = fetchSpy.mock.calls[0] ?? [];
    expect(String(url)).toBe("https://anthropic.test/v1/messages");
    const headers = new Headers(init?.headers);
    expect(headers.get("x-api-key")).toBe("sk-ant");
    expect(headers.get("anthropic-version")).toBeTruthy();
    const sent = JSON.parse(String(init?.body));
    expect(sent).toMatchObject({ model: "claude-haiku-4-5", system: "be brief", max_tokens: 50, messages: [{ role: "user" }] });
    expect(sent.tools[0]).toMatchObject({ name: "weather", input_schema: { type: "object" } });
    const choice = result.value.choices[0];
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.tool_calls?.[0]?.function).toEqual({ name: "weather", arguments: JSON.stringify({ city: "Paris" }) });
    expect(result.value.usage).toEqual({ prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 });
  });

  it("decodes Anthropic stream events into chunks with usage", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(
      sse([
        { event: "message_start", data: { type: "message_start", message: { id: "m", usage: { input_tokens: 9, output_tokens: 1 } } } },
        { event: "content_block_start", data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } },
        { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Bon" } } },
        { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "jour" } } },
        { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
        { event: "message_delta", data: { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 3 } } },
        { event: "message_stop", data: { type: "message_stop" } },
      ]),
    );
    const result = await streamOnce(instance(), model("anthropic/claude-haiku-4-5"), req, { ids, signal: signal() });
    if (!result.ok) throw new Error(result.error.message);
    const chunks = await collect(result.value.rest, result.value.first);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("Bonjour");
    const last = chunks.at(-1);
    expect(last?.choices[0]?.finish_reason).toBe("stop");
    expect(last?.usage).toEqual({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 });
  });
});

describe("workers-ai adapter (mocked AI binding)", () => {
  it("calls env.AI.run with the upstream model and counts usage when the model reports none", async () => {
    const run = vi.fn(async () => ({ response: "Hello from llama" }));
    const ai = { run } as unknown as Ai;
    const instance = providerInstances({ ...env, AI: ai }).get("workers-ai");
    if (!instance) throw new Error("workers-ai instance missing");
    const result = await chatOnce(instance, model("workers-ai/llama-3.1-8b"), req, { ids, signal: signal() });
    if (!result.ok) throw new Error(result.error.message);
    expect(run).toHaveBeenCalledWith("@cf/meta/llama-3.1-8b-instruct", expect.objectContaining({ max_tokens: 50, stream: false }), expect.anything());
    expect(result.value.choices[0]?.message.content).toBe("Hello from llama");
    expect(result.value.usage.completion_tokens).toBeGreaterThan(0);
  });

  it("embeds through the binding", async () => {
    const ai = { run: vi.fn(async () => ({ shape: [1, 3], data: [[0.1, 0.2, 0.3]] })) } as unknown as Ai;
    const instance = providerInstances({ ...env, AI: ai }).get("workers-ai");
    if (!instance) throw new Error("workers-ai instance missing");
    const result = await embedOnce(instance, "@cf/baai/bge-base-en-v1.5", ["hello"], signal());
    expect(result.ok && result.value.vectors).toEqual([[0.1, 0.2, 0.3]]);
  });
});

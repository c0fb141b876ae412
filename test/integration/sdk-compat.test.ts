import { describe, expect, it } from "vitest";
import { createTenant, ledgerRow } from "../fixtures/gateway";
import { anthropicClient, openaiClient } from "../fixtures/sdk-clients";

describe("official SDKs against Tollgate", () => {
  it("openai: non-streaming chat completion", async () => {
    const { key } = await createTenant();
    const client = openaiClient(key);
    const { data, response } = await client.chat.completions
      .create({ model: "sim/fast", messages: [{ role: "user", content: "Name three colours" }] })
      .withResponse();
    expect(data.object).toBe("chat.completion");
    expect(data.choices[0]?.message.content).toContain("Name three colours");
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-tollgate-model")).toBe("sim/fast");
    expect(response.headers.get("x-tollgate-provider")).toBe("sim-a");
    expect(response.headers.get("x-tollgate-tier")).toBe("fast");
    expect(Number(response.headers.get("x-tollgate-cost-usd"))).toBeGreaterThan(0);
    expect(response.headers.get("server-timing")).toMatch(/auth;dur=.*upstream;dur=/);
  });

  it("openai: streaming with include_usage, ends with [DONE]", async () => {
    const { key } = await createTenant();
    const stream = await openaiClient(key).chat.completions.create({
      model: "sim/balanced",
      messages: [{ role: "user", content: "Tell me a story" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: { completion_tokens: number } | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toContain("Tell me a story");
    expect(usage?.completion_tokens).toBeGreaterThan(10);
  });

  it("openai: embeddings and models", async () => {
    const { key } = await createTenant();
    const client = openaiClient(key);
    const embeddings = await client.embeddings.create({ model: "sim/embed", input: ["hello world", "goodbye"] });
    expect(embeddings.data).toHaveLength(2);
    expect(embeddings.data[0]?.embedding.length).toBe(256);
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toContain("sim/fast");
    expect(ids).toContain("sim/powerful");
  });

  it("anthropic: non-streaming message", async () => {
    const { key } = await createTenant();
    const message = await anthropicClient(key).messages.create({
      model: "sim/fast",
      max_tokens: 200,
      system: "You are terse.",
      messages: [{ role: "user", content: "What is a gateway?" }],
    });
    expect(message.type).toBe("message");
    expect(message.role).toBe("assistant");
    const block = message.content[0];
    expect(block?.type === "text" && block.text).toContain("What is a gateway?");
    expect(message.stop_reason).toBe("end_turn");
    expect(message.usage.input_tokens).toBeGreaterThan(0);
  });

  it("anthropic: streaming message with Anthropic SSE events", async () => {
    const { key } = await createTenant();
    const stream = anthropicClient(key).messages.stream({
      model: "sim/balanced",
      max_tokens: 300,
      messages: [{ role: "user", content: "Explain queues" }],
    });
    const types: string[] = [];
    stream.on("streamEvent", (event) => types.push(event.type));
    const final = await stream.finalMessage();
    const block = final.content[0];
    expect(block?.type === "text" && block.text).toContain("Explain queues");
    expect(types[0]).toBe("message_start");
    expect(types).toContain("content_block_delta");
    expect(types.at(-1)).toBe("message_stop");
    expect(final.usage.output_tokens).toBeGreaterThan(10);
  });

  it("a streamed request lands in the ledger with its real usage", async () => {
    const { key } = await createTenant();
    const { data: stream, response } = await openaiClient(key)
      .chat.completions.create({ model: "sim/fast", stream: true, messages: [{ role: "user", content: "stream me" }] })
      .withResponse();
    let chunks = 0;
    for await (const _ of stream) chunks++;
    expect(chunks).toBeGreaterThan(3);
    const row = await ledgerRow<{ completion_tokens: number; stream: number; status: number }>(response.headers.get("x-request-id") ?? "");
    expect(row.stream).toBe(1);
    expect(row.status).toBe(200);
    expect(row.completion_tokens).toBeGreaterThan(0);
  });
});

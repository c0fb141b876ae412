import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { call, chat, createTenant } from "../fixtures/gateway";
import {
  CreateChatCompletionResponse,
  CreateChatCompletionStreamResponse,
  CreateEmbeddingResponse,
  ErrorResponse,
  ListModelsResponse,
} from "../fixtures/openai-spec-schemas";

/** Fails with the first issue's path, so a missing field is named in the report. */
function expectSpec(schema: z.ZodType, body: unknown): void {
  const result = schema.safeParse(body);
  if (!result.success) throw new Error(`${JSON.stringify(result.error.issues.slice(0, 3))}\nbody: ${JSON.stringify(body).slice(0, 600)}`);
}

async function sseData(response: Response): Promise<unknown[]> {
  const text = await response.text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("data: ") && line !== "data: [DONE]")
    .map((line) => JSON.parse(line.slice(6)));
}

const weather = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } };

describe("bodies match OpenAI's OpenAPI description", () => {
  it("fresh and cached chat completions carry every required field (logprobs, refusal)", async () => {
    const { key } = await createTenant();
    const body = { model: "sim/fast", messages: [{ role: "user", content: "Spec check: name a colour" }] };
    const fresh = await chat(key, body);
    expect(fresh.headers.get("x-tollgate-cache")).toBe("miss");
    const freshBody = await fresh.json<Record<string, unknown>>();
    expectSpec(CreateChatCompletionResponse, freshBody);
    const cached = await chat(key, body);
    expect(cached.headers.get("x-tollgate-cache")).toBe("exact");
    expectSpec(CreateChatCompletionResponse, await cached.json());
  });

  it("tool calls and logprobs are in the spec's shape", async () => {
    const { key } = await createTenant();
    const tool = await chat(key, { model: "sim/fast", messages: [{ role: "user", content: "Weather in Lima?" }], tools: [weather] });
    const toolBody = await tool.json<{ choices: { message: { tool_calls: unknown[] } }[] }>();
    expectSpec(CreateChatCompletionResponse, toolBody);
    expect(toolBody.choices[0]?.message.tool_calls).toHaveLength(1);
    const withLogprobs = await chat(key, { model: "sim/fast", messages: [{ role: "user", content: "Logprobs please" }], logprobs: true });
    const lpBody = await withLogprobs.json<{ choices: { logprobs: { content: unknown[] } }[] }>();
    expectSpec(CreateChatCompletionResponse, lpBody);
    expect(lpBody.choices[0]?.logprobs.content.length).toBeGreaterThan(0);
  });

  it("the sim's tool-call ids are unique per call, not derived from token counts", async () => {
    const { key } = await createTenant();
    const ids = new Set<string>();
    for (const city of ["Lima", "Oslo", "Lima again"]) {
      const response = await chat(key, { model: "sim/fast", messages: [{ role: "user", content: `Weather in ${city}` }], tools: [weather] }, { "x-tollgate-cache": "no-store" });
      const body = await response.json<{ choices: { message: { tool_calls: { id: string }[] } }[] }>();
      for (const call of body.choices[0]?.message.tool_calls ?? []) ids.add(call.id);
    }
    expect(ids.size).toBe(3);
  });

  it("every stream chunk, fresh and cached, with usage and tool calls", async () => {
    const { key } = await createTenant();
    for (const extra of [{}, { tools: [weather] }]) {
      const body = { model: "sim/balanced", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "Stream spec check" }], ...extra };
      for (const expected of ["miss", "exact"]) {
        const response = await chat(key, body);
        expect(response.headers.get("x-tollgate-cache")).toBe(expected);
        const chunks = await sseData(response);
        expect(chunks.length).toBeGreaterThan(1);
        for (const chunk of chunks) expectSpec(CreateChatCompletionStreamResponse, chunk);
      }
    }
  });

  it("embeddings, models and errors", async () => {
    const { key } = await createTenant();
    const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const embeddings = await call("/v1/embeddings", { method: "POST", headers: auth, body: JSON.stringify({ model: "sim/embed", input: ["a", "b"] }) });
    expectSpec(CreateEmbeddingResponse, await embeddings.json());
    const models = await call("/v1/models", { headers: auth });
    expectSpec(ListModelsResponse, await models.json());
    const errors = [
      await chat(key, { model: "sim/fast" }),
      await chat("tg_not_a_key", { model: "sim/fast", messages: [] }),
      await call("/v1/nowhere", { headers: auth }),
      await call("/v1/chat/completions", { method: "POST", headers: auth, body: "{not json" }),
    ];
    expect(errors.map((r) => r.status)).toEqual([400, 401, 404, 400]);
    for (const response of errors) expectSpec(ErrorResponse, await response.json());
  });
});

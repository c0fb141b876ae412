import Anthropic from "@anthropic-ai/sdk";
import { betaTool } from "@anthropic-ai/sdk/helpers/beta/json-schema";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { anthropicSpec } from "../../src/providers/anthropic-spec";
import { openaiSpec } from "../../src/providers/openai-spec";
import { toChatRequest } from "../../src/routes/anthropic-translate";
import { BASE, call, createTenant } from "../fixtures/gateway";

interface Seen {
  status: number;
  body: Record<string, unknown>;
}

/** The SDK as its users build it, plus a record of each request body and the status it got. */
function recordingClient(apiKey: string): { client: Anthropic; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await exports.default.fetch(new Request(input, init));
    seen.push({ status: response.status, body: JSON.parse(String(init?.body ?? "{}")) });
    return response;
  };
  return { client: new Anthropic({ baseURL: BASE, apiKey, fetch, maxRetries: 0 }), seen };
}

const weatherTool = {
  name: "get_weather",
  description: "Current weather for a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] },
};

describe("Anthropic tool loops through Tollgate", () => {
  it("a user turn of only tool_result blocks gets an answer, not the same tool call again", async () => {
    const { key } = await createTenant();
    const { client } = recordingClient(key);
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "What is the weather in Paris?" }];
    const first = await client.messages.create({ model: "sim/fast", max_tokens: 200, tools: [weatherTool], messages });
    expect(first.stop_reason).toBe("tool_use");
    const toolUse = first.content.find((b) => b.type === "tool_use");
    if (toolUse?.type !== "tool_use") throw new Error("expected a tool_use block");
    messages.push({ role: "assistant", content: first.content });
    messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: toolUse.id, content: "18°C and sunny" }] });
    const second = await client.messages.create({ model: "sim/fast", max_tokens: 200, tools: [weatherTool], messages });
    expect(second.stop_reason).toBe("end_turn");
    expect(second.content.map((b) => b.type)).toEqual(["text"]);
  });

  it("tool_result-only turns translate to tool messages with nothing appended; is_error survives", () => {
    const req = toChatRequest({
      model: "sim/fast",
      max_tokens: 50,
      messages: [
        { role: "user", content: "Weather in Paris and Rome?" },
        { role: "assistant", content: [{ type: "tool_use", id: "tu_1", name: "get_weather", input: { city: "Paris" } }, { type: "tool_use", id: "tu_2", name: "get_weather", input: { city: "Rome" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "tu_1", content: "18°C" }, { type: "tool_result", tool_use_id: "tu_2", content: "city service down", is_error: true }] },
      ],
    });
    expect(req.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "tool"]);
    expect(req.messages.at(-1)).toMatchObject({ tool_call_id: "tu_2", is_error: true });

    // Anthropic upstream: the flag round-trips on the tool_result block.
    const anthropicBody = anthropicSpec.toChatBody(req, "claude-x", false) as { messages: { role: string; content: Record<string, unknown>[] }[] };
    const results = anthropicBody.messages.at(-1)?.content ?? [];
    expect(results).toEqual([
      { type: "tool_result", tool_use_id: "tu_1", content: "18°C" },
      { type: "tool_result", tool_use_id: "tu_2", content: "city service down", is_error: true },
    ]);
    // Chat Completions upstream: no unknown field (OpenAI rejects them), the failure is in the content.
    const openaiBody = openaiSpec.toChatBody(req, "gpt-x", false) as { messages: Record<string, unknown>[] };
    expect(openaiBody.messages.at(-1)).toEqual({ role: "tool", tool_call_id: "tu_2", content: "Error: city service down" });
    expect(openaiBody.messages.at(-2)).toEqual({ role: "tool", tool_call_id: "tu_1", content: "18°C" });
  });

  it("a request carrying thread gets thread_unsupported_request, which the SDK maps to its error class", async () => {
    const { key } = await createTenant();
    const { client } = recordingClient(key);
    const request = client.messages.create({
      model: "sim/fast",
      max_tokens: 50,
      messages: [{ role: "user", content: "hi" }],
      // @ts-expect-error thread is set by the SDK's own thread helpers; a raw caller can still send it.
      thread: { type: "continue", previous_message_id: "msg_1" },
    });
    const error = await request.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.ThreadUnsupportedRequestError);
    expect(error).toMatchObject({ status: 400, errorCode: "thread_unsupported_request" });
  });

  it("beta.messages.toolRunner runs the tool and finishes, resending full history after the thread rejection", async () => {
    const { key } = await createTenant();
    const { client, seen } = recordingClient(key);
    const calls: string[] = [];
    const runner = client.beta.messages.toolRunner({
      model: "sim/fast",
      max_tokens: 200,
      messages: [{ role: "user", content: "What is the weather in Oslo?" }],
      tools: [
        betaTool({
          name: "get_weather",
          description: "Current weather for a city",
          inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          run: ({ city }) => {
            calls.push(city);
            return `4°C in ${city}`;
          },
        }),
      ],
      max_iterations: 5,
    });
    const final = await runner.runUntilDone();
    expect(calls).toHaveLength(1);
    expect(final.stop_reason).toBe("end_turn");
    // Every request Tollgate answered 200 carried the whole conversation and the tools, and no thread.
    const served = seen.filter((s) => s.status === 200);
    expect(served).toHaveLength(2);
    for (const s of served) {
      expect(s.body.thread).toBeUndefined();
      expect(s.body.tools).toHaveLength(1);
    }
    expect((served[1]?.body.messages as unknown[]).length).toBe(3);
    // Any request that did carry a thread was refused, never served.
    for (const s of seen.filter((s) => s.body.thread !== undefined)) expect(s.status).toBe(400);
  });

  it("POST /v1/messages/count_tokens counts the prompt as /v1/messages would bill it", async () => {
    const { key } = await createTenant();
    const { client } = recordingClient(key);
    const counted = await client.messages.countTokens({ model: "sim/fast", system: "Be terse.", messages: [{ role: "user", content: "How many tokens is this?" }] });
    expect(counted.input_tokens).toBeGreaterThan(5);
    const message = await client.messages.create({ model: "sim/fast", max_tokens: 20, system: "Be terse.", messages: [{ role: "user", content: "How many tokens is this?" }] });
    expect(counted.input_tokens).toBe(message.usage.input_tokens);
    const bad = await call("/v1/messages/count_tokens", { method: "POST", headers: { "x-api-key": key, "content-type": "application/json" }, body: JSON.stringify({ model: "sim/fast" }) });
    expect(bad.status).toBe(400);
  });
});

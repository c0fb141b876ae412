// Real agent clients, from Node, against `npm start` (`npm run test:clients`): each is built the way its
// users build it, with only the base URL and the key pointing at Tollgate, and its own defaults otherwise.
// The AI SDK's default OpenAI provider, the Agents SDK's default model and LangChain's `useResponsesApi`
// all speak the Responses API, which is what these tests drive.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { HumanMessage, ToolMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { Agent, run, setTracingDisabled, tool as agentTool } from "@openai/agents";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";
import { startGateway } from "../../scripts/local-gateway.mjs";

const ADMIN_TOKEN = "clients-test-admin";
let gateway;
let state;
let key;

async function admin(pathname, body) {
  const res = await fetch(`${gateway.url}${pathname}`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

before(async () => {
  state = mkdtempSync(path.join(tmpdir(), "tollgate-clients-"));
  gateway = await startGateway({ persistTo: path.join(state, "wrangler"), adminToken: ADMIN_TOKEN, vars: { SIM_LATENCY_SCALE: "0" } });
  const tenant = await admin("/admin/tenants", { name: "agent-clients" });
  ({ key } = await admin(`/admin/tenants/${tenant.id}/keys`));
});

after(async () => {
  await gateway?.stop();
  if (state) rmSync(state, { recursive: true, force: true });
});

const weatherSchema = z.object({ city: z.string() });

/**
 * Every client here speaks the Responses API: the gateway's request log (written after each answer, so
 * polled for a bounded time) shows /v1/responses calls and no chat completions.
 */
async function assertServedByResponses() {
  let paths = [];
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    paths = [...gateway.output().matchAll(/"msg":"request".*?"method":"POST","path":"([^"]+)"/g)].map((m) => m[1]).filter((p) => p.startsWith("/v1/"));
    if (paths.includes("/v1/responses")) break;
  }
  assert.ok(paths.includes("/v1/responses"), `no /v1/responses request in the log: ${paths.join(", ")}`);
  assert.ok(!paths.includes("/v1/chat/completions"), `a client fell back to chat completions: ${paths.join(", ")}`);
}

describe("Vercel AI SDK, default OpenAI provider (Responses API)", () => {
  const provider = () => createOpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key });

  it("generateText", async () => {
    const { text, usage } = await generateText({ model: provider()("sim/fast"), prompt: "Say hello to the AI SDK" });
    assert.match(text, /Say hello to the AI SDK/);
    assert.ok(usage.inputTokens > 0);
    await assertServedByResponses();
  });

  it("streamText", async () => {
    const result = streamText({ model: provider()("sim/balanced"), prompt: "Stream through the AI SDK" });
    let text = "";
    for await (const delta of result.textStream) text += delta;
    assert.match(text, /Stream through the AI SDK/);
    assert.equal(text, await result.text);
  });

  it("a tool loop: the tool runs once, then the model answers", async () => {
    const calls = [];
    const result = await generateText({
      model: provider()("sim/fast"),
      prompt: "What is the weather in Lima?",
      tools: {
        weather: tool({
          description: "Current weather for a city",
          inputSchema: weatherSchema,
          execute: async ({ city }) => {
            calls.push(city);
            return { city, celsius: 19 };
          },
        }),
      },
      stopWhen: stepCountIs(4),
    });
    assert.equal(calls.length, 1);
    assert.equal(result.steps.length, 2);
    assert.equal(result.finishReason, "stop");
    assert.ok(result.text.length > 0);
  });

  it("generateObject", async () => {
    const { object } = await generateObject({
      model: provider()("sim/balanced"),
      schema: z.object({ name: z.string(), age: z.number() }),
      prompt: "Invent a person",
    });
    assert.equal(typeof object.name, "string");
    assert.equal(typeof object.age, "number");
  });
});

describe("OpenAI Agents SDK, default model provider", () => {
  it("runs an agent with one function tool to a final answer", async () => {
    process.env.OPENAI_BASE_URL = `${gateway.url}/v1`;
    process.env.OPENAI_API_KEY = key;
    setTracingDisabled(true); // traces would go to OpenAI's own endpoint, which this machine cannot reach
    const calls = [];
    const getWeather = agentTool({
      name: "get_weather",
      description: "Current weather for a city",
      parameters: weatherSchema,
      execute: async ({ city }) => {
        calls.push(city);
        return `It is 12°C in ${city}.`;
      },
    });
    const agent = new Agent({ name: "Forecaster", instructions: "Answer weather questions with the tool.", model: "sim/fast", tools: [getWeather] });
    const result = await run(agent, "What is the weather in Oslo?");
    assert.equal(calls.length, 1);
    assert.equal(typeof result.finalOutput, "string");
    assert.ok(result.finalOutput.length > 0);
    await assertServedByResponses();
  });
});

describe("LangChain ChatOpenAI with useResponsesApi", () => {
  const model = () => new ChatOpenAI({ model: "sim/fast", apiKey: key, useResponsesApi: true, configuration: { baseURL: `${gateway.url}/v1` } });

  it("invoke and stream", async () => {
    const answer = await model().invoke("Hello from LangChain");
    assert.match(answer.text, /Hello from LangChain/);
    let streamed = "";
    for await (const chunk of await model().stream("Stream from LangChain")) streamed += chunk.text;
    assert.match(streamed, /Stream from LangChain/);
    await assertServedByResponses();
  });

  it("a bound tool: tool call, then the answer to its result", async () => {
    const withTools = model().bindTools([{ type: "function", function: { name: "get_weather", description: "Current weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }]);
    const question = new HumanMessage("Weather in Rome?");
    const first = await withTools.invoke([question]);
    assert.equal(first.tool_calls?.length, 1);
    const call = first.tool_calls[0];
    const second = await withTools.invoke([question, first, new ToolMessage({ content: "25°C", tool_call_id: call.id })]);
    assert.equal(second.tool_calls?.length ?? 0, 0);
    assert.ok(second.text.length > 0);
  });
});

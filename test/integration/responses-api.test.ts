import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { admin, call, chat, createTenant, ledgerRow } from "../fixtures/gateway";
import { ErrorResponse, ResponseItemList, ResponseObject, ResponseStreamEvent } from "../fixtures/openai-spec-schemas";
import { openaiClient } from "../fixtures/sdk-clients";

function expectSpec(schema: z.ZodType, body: unknown): void {
  const result = schema.safeParse(body);
  if (!result.success) throw new Error(`${JSON.stringify(result.error.issues.slice(0, 3))}\nbody: ${JSON.stringify(body).slice(0, 600)}`);
}

const weatherTool = {
  type: "function" as const,
  name: "get_weather",
  description: "Current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
  strict: true,
};

describe("the Responses API through the openai SDK", () => {
  it("responses.create: a string input answers on the chat pipeline, headers and ledger included", async () => {
    const { key } = await createTenant();
    const { data, response } = await openaiClient(key).responses.create({ model: "sim/fast", instructions: "Be brief.", input: "What is a toll gate?" }).withResponse();
    expectSpec(ResponseObject, data);
    expect(data.status).toBe("completed");
    expect(data.output_text).toContain("What is a toll gate?");
    expect(data.instructions).toBe("Be brief.");
    expect(data.usage?.input_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-tollgate-model")).toBe("sim/fast");
    expect(response.headers.get("x-tollgate-cache")).toBe("miss");
    const row = await ledgerRow<{ prompt_tokens: number; status: number; cost_usd: number }>(response.headers.get("x-request-id") ?? "");
    expect(row.status).toBe(200);
    expect(row.prompt_tokens).toBe(data.usage?.input_tokens);
    expect(row.cost_usd).toBeGreaterThan(0);
  });

  it("a Responses request and a Chat Completions request for the same question share one exact-cache entry", async () => {
    const { key } = await createTenant();
    const client = openaiClient(key);
    const { data: first, response } = await client.responses.create({ model: "sim/balanced", instructions: "You are terse.", input: "Define a ledger" }).withResponse();
    expect(response.headers.get("x-tollgate-cache")).toBe("miss");
    const second = await chat(key, { model: "sim/balanced", messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Define a ledger" }] });
    expect(second.headers.get("x-tollgate-cache")).toBe("exact");
    expect(Number(second.headers.get("x-tollgate-cost-usd"))).toBe(0);
    const body = await second.json<{ choices: { message: { content: string } }[] }>();
    expect(body.choices[0]?.message.content).toBe(first.output_text);
    // And the other way round: a chat answer serves a later Responses request.
    await chat(key, { model: "sim/balanced", messages: [{ role: "user", content: "Define a budget" }] });
    const { data: cachedBody, response: third } = await client.responses.create({ model: "sim/balanced", input: [{ role: "user", content: [{ type: "input_text", text: "Define a budget" }] }] }).withResponse();
    expect(third.headers.get("x-tollgate-cache")).toBe("exact");
    expectSpec(ResponseObject, cachedBody);
    // A cached answer streams as the same event sequence.
    const stream = client.responses.stream({ model: "sim/balanced", input: "Define a budget" });
    for await (const event of stream) expectSpec(ResponseStreamEvent, event);
    expect((await stream.finalResponse()).output_text).toBe(cachedBody.output_text);
  });

  it("budgets hold: past the hard stop a new question is refused with 402, a cached one is served at $0", async () => {
    const tenant = await createTenant();
    await chat(tenant.key, { model: "sim/fast", messages: [{ role: "user", content: "Asked before the stop" }] });
    expect((await admin(`/admin/tenants/${tenant.id}/budgets`, "PUT", [{ scope: "tenant", period: "day", limit_usd: 0.0000001 }])).status).toBe(200);
    const headers = { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" };
    const refused = await call("/v1/responses", { method: "POST", headers, body: JSON.stringify({ model: "sim/fast", input: "A brand new question" }) });
    expect(refused.status).toBe(402);
    const refusal = await refused.json<{ error: { code: string } }>();
    expectSpec(ErrorResponse, refusal);
    expect(refusal.error.code).toBe("budget_exceeded");
    const { data, response } = await openaiClient(tenant.key).responses.create({ model: "sim/fast", input: "Asked before the stop" }).withResponse();
    expect(response.headers.get("x-tollgate-cache")).toBe("exact");
    expect(Number(response.headers.get("x-tollgate-cost-usd"))).toBe(0);
    expect(data.output_text).toContain("Asked before the stop");
  });

  it("responses.stream emits the Responses event sequence, each event in the spec's shape", async () => {
    const { key } = await createTenant();
    const stream = openaiClient(key).responses.stream({ model: "sim/balanced", input: "Tell me about queues" });
    const types: string[] = [];
    let deltas = "";
    for await (const event of stream) {
      expectSpec(ResponseStreamEvent, event);
      types.push(event.type);
      if (event.type === "response.output_text.delta") deltas += event.delta;
    }
    const final = await stream.finalResponse();
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
    expect(final.output_text).toBe(deltas);
    expect(final.output_text).toContain("Tell me about queues");
    expect(final.usage?.output_tokens).toBeGreaterThan(5);
  });

  it("a function tool loop with previous_response_id: function_call, then function_call_output, then an answer", async () => {
    const { key } = await createTenant();
    const client = openaiClient(key);
    const first = await client.responses.create({ model: "sim/fast", input: "Weather in Quito?", tools: [weatherTool] });
    expectSpec(ResponseObject, first);
    const fnCall = first.output.find((item) => item.type === "function_call");
    if (fnCall?.type !== "function_call") throw new Error("expected a function_call item");
    expect(fnCall.name).toBe("get_weather");
    expect(JSON.parse(fnCall.arguments)).toHaveProperty("city");

    const second = await client.responses.create({
      model: "sim/fast",
      previous_response_id: first.id,
      tools: [weatherTool],
      input: [{ type: "function_call_output", call_id: fnCall.call_id, output: "21°C, clear" }],
    });
    expect(second.output.map((item) => item.type)).toEqual(["message"]);
    expect(second.previous_response_id).toBe(first.id);
    // The chain continues with a new user turn.
    const third = await client.responses.create({ model: "sim/fast", previous_response_id: second.id, input: "And tomorrow?" });
    expect(third.output_text).toContain("And tomorrow?");
    const items = await client.responses.inputItems.list(second.id);
    expect(items.data.map((item) => item.type)).toEqual(["function_call_output"]);
  });

  it("streams a function call as function_call_arguments events", async () => {
    const { key } = await createTenant();
    const stream = openaiClient(key).responses.stream({ model: "sim/fast", input: "Weather in Cusco?", tools: [weatherTool] });
    const types: string[] = [];
    for await (const event of stream) {
      expectSpec(ResponseStreamEvent, event);
      types.push(event.type);
    }
    expect(types).toContain("response.function_call_arguments.delta");
    expect(types).toContain("response.function_call_arguments.done");
    const final = await stream.finalResponse();
    const fnCall = final.output[0];
    expect(fnCall?.type === "function_call" && JSON.parse(fnCall.arguments)).toHaveProperty("city");
  });

  it("text.format json_schema and max_output_tokens", async () => {
    const { key } = await createTenant();
    const client = openaiClient(key);
    const structured = await client.responses.create({
      model: "sim/balanced",
      input: "Give me a city card",
      text: { format: { type: "json_schema", name: "card", strict: true, schema: { type: "object", properties: { city: { type: "string" }, population: { type: "integer" } }, required: ["city", "population"], additionalProperties: false } } },
    });
    expect(Object.keys(JSON.parse(structured.output_text)).sort()).toEqual(["city", "population"]);
    const cut = await client.responses.create({ model: "sim/powerful", input: "Write at length about caching", max_output_tokens: 8 });
    expectSpec(ResponseObject, cut);
    expect(cut.status).toBe("incomplete");
    expect(cut.incomplete_details?.reason).toBe("max_output_tokens");
    expect(cut.usage?.output_tokens).toBeLessThanOrEqual(8);
  });

  it("stored responses: GET, input_items, DELETE; invisible to another tenant; store:false keeps nothing", async () => {
    const owner = await createTenant();
    const other = await createTenant();
    const client = openaiClient(owner.key);
    const created = await client.responses.create({ model: "sim/fast", input: [{ role: "user", content: "Remember me" }] });
    const fetched = await client.responses.retrieve(created.id);
    expect(fetched.output_text).toBe(created.output_text);
    const items = await call(`/v1/responses/${created.id}/input_items`, { headers: { authorization: `Bearer ${owner.key}` } });
    expectSpec(ResponseItemList, await items.json());

    const asOther = { authorization: `Bearer ${other.key}`, "content-type": "application/json" };
    expect((await call(`/v1/responses/${created.id}`, { headers: asOther })).status).toBe(404);
    expect((await call(`/v1/responses/${created.id}/input_items`, { headers: asOther })).status).toBe(404);
    expect((await call(`/v1/responses/${created.id}`, { method: "DELETE", headers: asOther })).status).toBe(404);
    const chained = await call("/v1/responses", { method: "POST", headers: asOther, body: JSON.stringify({ model: "sim/fast", previous_response_id: created.id, input: "and?" }) });
    expect(chained.status).toBe(404);
    expect((await chained.json<{ error: { param: string } }>()).error.param).toBe("previous_response_id");

    await client.responses.delete(created.id);
    expect((await call(`/v1/responses/${created.id}`, { headers: { authorization: `Bearer ${owner.key}` } })).status).toBe(404);

    const unstored = await client.responses.create({ model: "sim/fast", input: "Forget me", store: false });
    expect((await call(`/v1/responses/${unstored.id}`, { headers: { authorization: `Bearer ${owner.key}` } })).status).toBe(404);
  });

  it("rejects what it cannot translate with a 400 naming the field", async () => {
    const { key } = await createTenant();
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const bad = await call("/v1/responses", { method: "POST", headers, body: JSON.stringify({ model: "sim/fast", input: [{ type: "item_reference", id: "x" }] }) });
    expect(bad.status).toBe(400);
    const noModel = await call("/v1/responses", { method: "POST", headers, body: JSON.stringify({ input: "hi" }) });
    expect((await noModel.json<{ error: { param: string } }>()).error.param).toBe("model");
  });
});

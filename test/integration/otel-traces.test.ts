import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { exporterFor } from "../../src/telemetry/span-exporter";
import { spansCreated } from "../../src/telemetry/span";
import { call, chat, createTenant, ledgerRow } from "../fixtures/gateway";

// A local OTLP endpoint: the outbound fetch to it is answered here, as provider HTTP is elsewhere.
const COLLECTOR = "https://otel-collector.test";
const HEADERS = "x-api-key=secret%20one,x-team=gateway";

type AnyValue = { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean; arrayValue?: { values: AnyValue[] } };
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: AnyValue }[];
  status: { code: number; message?: string };
}
interface OtlpBody {
  resourceSpans: { resource: { attributes: { key: string; value: AnyValue }[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[];
}
interface Export {
  url: string;
  headers: Headers;
  body: OtlpBody;
}

// An upstream MCP server (Streamable HTTP, JSON responses) with one read-only tool that fails on request.
const TOOLS = "https://tools.otel.test/mcp";
async function toolServer(request: Request): Promise<Response> {
  if (request.method !== "POST") return new Response(null, { status: 405 });
  const message = await request.json<{ id?: number; method: string; params?: { name?: string; arguments?: { q?: string } } }>();
  if (message.id === undefined) return new Response(null, { status: 202 });
  const reply = (result: unknown) => Response.json({ jsonrpc: "2.0", id: message.id, result });
  if (message.method === "initialize") return reply({ protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "otel-tools", version: "1.0.0" } });
  if (message.method === "tools/list") return reply({ tools: [{ name: "search", inputSchema: { type: "object" }, annotations: { readOnlyHint: true } }] });
  const q = message.params?.arguments?.q ?? "";
  return reply(q === "fail" ? { content: [{ type: "text", text: "no results" }], isError: true } : { content: [{ type: "text", text: `results for ${q}` }] });
}

let exports: Export[] = [];
let collectorStatus = 200;
const mutable = env as { OTEL_EXPORTER_OTLP_ENDPOINT: string; OTEL_EXPORTER_OTLP_HEADERS: string };

beforeEach(() => {
  exports = [];
  collectorStatus = 200;
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (request.url.startsWith(TOOLS)) return toolServer(request);
    if (!request.url.startsWith(COLLECTOR)) return realFetch(input, init);
    exports.push({ url: request.url, headers: request.headers, body: await request.json<OtlpBody>() });
    return new Response(collectorStatus === 200 ? "{}" : "unavailable", { status: collectorStatus });
  });
  Object.assign(mutable, { OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR, OTEL_EXPORTER_OTLP_HEADERS: HEADERS });
});

afterEach(() => {
  Object.assign(mutable, { OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_EXPORTER_OTLP_HEADERS: "" });
  vi.restoreAllMocks();
});

/** An attribute's value as the OTLP JSON carries it, unwrapped. */
function attr(span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  if (value.arrayValue) return value.arrayValue.values.map((v) => v.stringValue);
  return value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue;
}
const keys = (span: OtlpSpan) => span.attributes.map((a) => a.key);
const allSpans = () => exports.flatMap((e) => e.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));

/** Waits (bounded) until the trace's server span has been exported, then returns every span of the trace. */
async function traceOf(traceId: string, timeoutMs = 10_000): Promise<{ server: OtlpSpan; clients: OtlpSpan[]; all: OtlpSpan[] }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const all = allSpans().filter((s) => s.traceId === traceId);
    const server = all.find((s) => s.kind === 2);
    if (server) return { server, clients: all.filter((s) => s.kind === 3), all };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no server span exported for trace ${traceId}`);
}

const traceIdOf = (res: Response) => (res.headers.get("traceparent") ?? "").split("-")[1] ?? "";

describe("OpenTelemetry GenAI traces (OTLP/HTTP JSON)", () => {
  it("a miss with a fallback: a server span continuing the caller's traceparent, and a client span per model, the first failed", async () => {
    const tenant = await createTenant();
    const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    const res = await chat(tenant.key, { model: "sim/balanced", messages: [{ role: "user", content: "Trace this fallback" }], max_tokens: 50, temperature: 0.2 }, {
      "x-tollgate-sim-fault": "500;provider=sim-a",
      "x-tollgate-cache": "no-store",
      traceparent: `00-${callerTrace}-${callerSpan}-01`,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-provider")).toBe("sim-b");
    const body = await res.json<{ usage: { prompt_tokens: number; completion_tokens: number }; choices: { finish_reason: string }[] }>();
    // The response names the same trace and the gateway's own span in it.
    expect(res.headers.get("traceparent")).toMatch(new RegExp(`^00-${callerTrace}-[0-9a-f]{16}-01$`));

    const { server, clients } = await traceOf(callerTrace);
    expect(server.parentSpanId).toBe(callerSpan);
    expect(res.headers.get("traceparent")?.split("-")[2]).toBe(server.spanId);
    expect(server.name).toBe("POST /v1/chat/completions");
    expect(attr(server, "http.request.method")).toBe("POST");
    expect(attr(server, "http.route")).toBe("/v1/chat/completions");
    expect(attr(server, "http.response.status_code")).toBe("200");
    expect(attr(server, "gen_ai.operation.name")).toBe("chat");
    expect(attr(server, "tollgate.tenant")).toBe(tenant.id);
    expect(attr(server, "tollgate.cache")).toBe("bypass");
    expect(attr(server, "tollgate.request_id")).toBe(res.headers.get("x-request-id"));
    expect(attr(server, "tollgate.cost_usd")).toBeCloseTo(Number(res.headers.get("x-tollgate-cost-usd")), 8);

    // Two client spans, in chain order, both children of the server span: sim-a failed (retried once), sim-b answered.
    expect(clients.map((s) => s.name)).toEqual(["chat balanced", "chat balanced"]);
    const [failed, answered] = clients as [OtlpSpan, OtlpSpan];
    for (const span of clients) {
      expect(span.parentSpanId).toBe(server.spanId);
      expect(attr(span, "gen_ai.operation.name")).toBe("chat");
      expect(attr(span, "gen_ai.request.model")).toBe("balanced");
      expect(attr(span, "gen_ai.request.max_tokens")).toBe("50");
      expect(span.attributes.find((a) => a.key === "gen_ai.request.temperature")?.value).toEqual({ doubleValue: 0.2 });
      // Content is opt-in per tenant: this one did not opt in.
      expect(keys(span)).not.toContain("gen_ai.input.messages");
      expect(keys(span)).not.toContain("gen_ai.output.messages");
    }
    expect(attr(failed, "gen_ai.provider.name")).toBe("sim-a");
    expect(attr(failed, "server.address")).toBe("sim-a.sim.invalid");
    expect(attr(failed, "error.type")).toBe("500");
    expect(attr(failed, "tollgate.attempts")).toBe("2");
    expect(failed.status.code).toBe(2);
    expect(keys(failed)).not.toContain("gen_ai.usage.input_tokens");
    expect(attr(answered, "gen_ai.provider.name")).toBe("sim-b");
    expect(attr(answered, "server.address")).toBe("sim-b.sim.invalid");
    expect(attr(answered, "server.port")).toBe("443");
    expect(attr(answered, "gen_ai.response.model")).toBe("balanced");
    expect(attr(answered, "gen_ai.usage.input_tokens")).toBe(String(body.usage.prompt_tokens));
    expect(attr(answered, "gen_ai.usage.output_tokens")).toBe(String(body.usage.completion_tokens));
    // max_tokens 50 cuts the sim's answer: the span says so, as the body does.
    expect(attr(answered, "gen_ai.response.finish_reasons")).toEqual(["length"]);
    expect(body.choices.map((c) => c.finish_reason)).toEqual(["length"]);
    expect(keys(answered)).not.toContain("error.type");
    expect(answered.status.code).toBe(0);
    // The ledger row and the spans tell the same story.
    const row = await ledgerRow<{ prompt_tokens: number; attempts: number }>(res.headers.get("x-request-id") ?? "");
    expect(row).toMatchObject({ prompt_tokens: body.usage.prompt_tokens, attempts: 3 });

    // The envelope: OTLP/HTTP JSON to <endpoint>/v1/traces with the configured headers.
    const sent = exports.find((e) => e.body.resourceSpans[0]?.scopeSpans[0]?.spans.some((s) => s.spanId === server.spanId));
    expect(sent?.url).toBe(`${COLLECTOR}/v1/traces`);
    expect(sent?.headers.get("content-type")).toBe("application/json");
    expect(sent?.headers.get("x-api-key")).toBe("secret one");
    expect(sent?.headers.get("x-team")).toBe("gateway");
    expect(sent?.body.resourceSpans[0]?.resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "tollgate" } });
    for (const span of [server, ...clients]) {
      expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(span.startTimeUnixNano).toMatch(/^\d+$/);
      expect(BigInt(span.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(span.startTimeUnixNano));
    }
  });

  it("a cache hit has a server span and no client span", async () => {
    const tenant = await createTenant();
    const request = { model: "sim/fast", messages: [{ role: "user", content: "Trace this cache hit" }] };
    const miss = await chat(tenant.key, request);
    expect(miss.headers.get("x-tollgate-cache")).toBe("miss");
    const missTrace = await traceOf(traceIdOf(miss));
    expect(missTrace.clients).toHaveLength(1);
    expect(attr(missTrace.server, "tollgate.cache")).toBe("miss");

    const hit = await chat(tenant.key, request);
    expect(hit.headers.get("x-tollgate-cache")).toBe("exact");
    const { server, all } = await traceOf(traceIdOf(hit));
    expect(traceIdOf(hit)).not.toBe(traceIdOf(miss));
    expect(server.parentSpanId).toBeUndefined();
    expect(attr(server, "tollgate.cache")).toBe("exact");
    expect(server.attributes.find((a) => a.key === "tollgate.cost_usd")?.value).toEqual({ doubleValue: 0 });
    expect(attr(server, "tollgate.saved_usd")).toBeGreaterThan(0);
    // Client spans end before their server span and go out with it (or before): none was made for the hit.
    expect(all).toEqual([server]);
  });

  it("a stream's client span ends when the stream ends, with the stream's usage", async () => {
    const tenant = await createTenant();
    const res = await chat(tenant.key, { model: "sim/powerful", messages: [{ role: "user", content: "Stream a traced answer" }], stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const usageLine = text.split("\n").filter((line) => line.startsWith("data: {") && line.includes('"usage":{')).at(-1) ?? "";
    const usage = (JSON.parse(usageLine.slice(6)) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    expect(usage.completion_tokens).toBeGreaterThan(0);

    const { server, clients } = await traceOf(traceIdOf(res));
    expect(clients).toHaveLength(1);
    const [client] = clients as [OtlpSpan];
    expect(client.name).toBe("chat powerful");
    expect(attr(client, "gen_ai.usage.input_tokens")).toBe(String(usage.prompt_tokens));
    expect(attr(client, "gen_ai.usage.output_tokens")).toBe(String(usage.completion_tokens));
    expect(attr(client, "gen_ai.response.finish_reasons")).toEqual(["stop"]);
    expect(BigInt(client.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(server.endTimeUnixNano));
    expect(attr(server, "tollgate.cache")).toBe("miss");
    expect(attr(server, "tollgate.cost_usd")).toBeGreaterThan(0);
  });

  it("an embeddings miss has a client span named by the conventions; a cached one has none", async () => {
    const tenant = await createTenant();
    const embed = () => call("/v1/embeddings", { method: "POST", headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" }, body: JSON.stringify({ model: "sim/embed", input: "trace this vector" }) });
    const miss = await embed();
    expect(miss.status).toBe(200);
    const { data, usage } = await miss.json<{ data: { embedding: number[] }[]; usage: { prompt_tokens: number } }>();
    const { server, clients } = await traceOf(traceIdOf(miss));
    expect(attr(server, "gen_ai.operation.name")).toBe("embeddings");
    expect(attr(server, "http.route")).toBe("/v1/embeddings");
    expect(clients).toHaveLength(1);
    const [client] = clients as [OtlpSpan];
    expect(client.name).toBe("embeddings embed");
    expect(attr(client, "gen_ai.operation.name")).toBe("embeddings");
    expect(attr(client, "gen_ai.provider.name")).toBe("sim-a");
    expect(attr(client, "gen_ai.request.model")).toBe("embed");
    expect(attr(client, "gen_ai.usage.input_tokens")).toBe(String(usage.prompt_tokens));
    expect(attr(client, "gen_ai.embeddings.dimension.count")).toBe(String(data[0]?.embedding.length));

    const cached = await embed();
    expect(cached.headers.get("x-tollgate-cache")).toBe("exact");
    const again = await traceOf(traceIdOf(cached));
    expect(again.all).toEqual([again.server]);
  });

  it("each MCP tools/call has an execute_tool span under the request's server span", async () => {
    const tenant = await createTenant();
    const headers = { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" };
    const registered = await call("/v1/mcp/servers/otel-tools", { method: "PUT", headers, body: JSON.stringify({ url: TOOLS, allowed_tools: ["search"] }) });
    expect(registered.status).toBe(200);
    const rpc = (id: number, q: string) =>
      call("/v1/mcp/otel-tools", {
        method: "POST",
        headers: { ...headers, accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" },
        body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "search", arguments: { q } } }),
      });
    const ok = await rpc(1, "toll roads");
    expect(ok.status).toBe(200);
    const { server, all } = await traceOf(traceIdOf(ok));
    expect(server.name).toBe("POST /v1/mcp/:name");
    const tool = all.find((s) => s.name === "execute_tool search");
    expect(tool?.kind).toBe(1);
    expect(tool?.parentSpanId).toBe(server.spanId);
    expect(tool && attr(tool, "gen_ai.operation.name")).toBe("execute_tool");
    expect(tool && attr(tool, "gen_ai.tool.name")).toBe("search");
    expect(tool && attr(tool, "tollgate.mcp.server")).toBe("otel-tools");
    expect(tool && attr(tool, "tollgate.cache")).toBe("miss");
    expect(tool && keys(tool)).not.toContain("error.type");
    expect(tool && keys(tool)).not.toContain("gen_ai.tool.call.arguments");

    const failed = await rpc(2, "fail");
    const failedTrace = await traceOf(traceIdOf(failed));
    const failedTool = failedTrace.all.find((s) => s.name === "execute_tool search");
    expect(failedTool && attr(failedTool, "error.type")).toBe("tool_error");
    expect(failedTool?.status.code).toBe(2);
  });

  it("a malformed traceparent starts a new trace instead of joining or failing", async () => {
    const tenant = await createTenant();
    for (const bad of ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "garbage"]) {
      const res = await chat(tenant.key, { model: "sim/fast", messages: [{ role: "user", content: `bad parent ${bad}` }] }, { traceparent: bad });
      expect(res.status).toBe(200);
      const { server } = await traceOf(traceIdOf(res));
      expect(server.parentSpanId).toBeUndefined();
      expect(server.traceId.toLowerCase()).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    }
  });

  it("message content goes on the spans only for a tenant whose policy allows it", async () => {
    const tenant = await createTenant({ policy: { telemetry: { content: true } } });
    const res = await chat(tenant.key, { model: "sim/fast", messages: [{ role: "system", content: "Be brief" }, { role: "user", content: "Trace my words" }] });
    const answer = await res.json<{ choices: { message: { content: string } }[] }>();
    const { clients } = await traceOf(traceIdOf(res));
    const [client] = clients as [OtlpSpan];
    expect(JSON.parse(String(attr(client, "gen_ai.input.messages")))).toEqual([
      { role: "system", parts: [{ type: "text", content: "Be brief" }] },
      { role: "user", parts: [{ type: "text", content: "Trace my words" }] },
    ]);
    expect(JSON.parse(String(attr(client, "gen_ai.output.messages")))).toEqual([{ role: "assistant", parts: [{ type: "text", content: answer.choices[0]?.message.content }], finish_reason: "stop" }]);
  });

  it("a failing collector fails no request: its batch is dropped and counted", async () => {
    collectorStatus = 503;
    const exporter = exporterFor(COLLECTOR, HEADERS, { attributes: {} });
    const before = exporter?.stats.dropped ?? 0;
    const tenant = await createTenant();
    const res = await chat(tenant.key, { model: "sim/fast", messages: [{ role: "user", content: "collector is down" }] });
    expect(res.status).toBe(200);
    const deadline = Date.now() + 10_000;
    while ((exporter?.stats.dropped ?? 0) === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    // The server span and the client span were in the refused batch; nothing is queued for a retry.
    expect((exporter?.stats.dropped ?? 0) - before).toBeGreaterThanOrEqual(2);
    expect(exports.length).toBeGreaterThan(0);
  });

  it("with no endpoint configured, no span is built and nothing is sent", async () => {
    const tenant = await createTenant();
    // The counter sees the Worker's spans (same isolate): with an endpoint, a miss builds two.
    const counted = spansCreated();
    const traced = await chat(tenant.key, { model: "sim/fast", messages: [{ role: "user", content: "traced miss" }] });
    await traceOf(traceIdOf(traced));
    expect(spansCreated() - counted).toBe(2);
    Object.assign(mutable, { OTEL_EXPORTER_OTLP_ENDPOINT: "" });
    exports = [];
    const before = spansCreated();
    const miss = await chat(tenant.key, { model: "sim/balanced", messages: [{ role: "user", content: "untraced miss" }] }, { "x-tollgate-sim-fault": "500;provider=sim-a", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    const stream = await chat(tenant.key, { model: "sim/fast", messages: [{ role: "user", content: "untraced stream" }], stream: true });
    await stream.text();
    expect([miss.status, stream.status]).toEqual([200, 200]);
    expect(miss.headers.get("traceparent")).toBeNull();
    await ledgerRow(stream.headers.get("x-request-id") ?? "");
    expect(spansCreated()).toBe(before);
    expect(exports).toEqual([]);
  });
});

// OpenTelemetry traces end to end: `node --test test/clients/otel.test.mjs`. It starts a real OTLP/HTTP
// collector on loopback (node:http, JSON), boots `npm start` pointed at it with
// OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS, and checks the GenAI spans that arrive
// for a miss with a fallback (sim fault on the first provider), a cache hit and a stream.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startGateway } from "../../scripts/local-gateway.mjs";

const ADMIN_TOKEN = "otel-test-admin";
const received = [];

function collector() {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } else res.writeHead(404).end();
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const spans = () => received.flatMap((r) => r.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
const attr = (span, key) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  if (value.arrayValue) return value.arrayValue.values.map((v) => v.stringValue);
  return value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue;
};
const traceIdOf = (res) => (res.headers.get("traceparent") ?? "").split("-")[1];

async function traceOf(traceId, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = spans().filter((s) => s.traceId === traceId);
    const server = all.find((s) => s.kind === 2);
    if (server) return { server, clients: all.filter((s) => s.kind === 3), all };
    if (Date.now() > deadline) throw new Error(`no server span for trace ${traceId}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("OpenTelemetry GenAI traces through npm start", () => {
  let gateway;
  let otlp;
  let key;
  const state = mkdtempSync(path.join(tmpdir(), "tollgate-otel-"));

  before(async () => {
    otlp = await collector();
    const endpoint = `http://127.0.0.1:${otlp.address().port}`;
    gateway = await startGateway({
      persistTo: state,
      adminToken: ADMIN_TOKEN,
      vars: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20collector-token", SIM_LATENCY_SCALE: "0" },
    });
    const admin = (p, body) => fetch(`${gateway.url}${p}`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body ?? {}) }).then((r) => r.json());
    const tenant = await admin("/admin/tenants", { name: "otel-tenant" });
    key = (await admin(`/admin/tenants/${tenant.id}/keys`)).key;
  });

  after(async () => {
    await gateway?.stop();
    otlp?.close();
    rmSync(state, { recursive: true, force: true });
  });

  const chat = (body, headers = {}) =>
    fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  it("a miss with a fallback continues the caller's trace: one server span, two client spans, the first failed", async () => {
    const parent = "0af7651916cd43dd8448eb211c80319c";
    const res = await chat({ model: "sim/balanced", messages: [{ role: "user", content: "otel fallback through npm start" }] }, {
      "x-tollgate-sim-fault": "500;provider=sim-a",
      "x-tollgate-cache": "no-store",
      traceparent: `00-${parent}-b7ad6b7169203331-01`,
    });
    assert.equal(res.status, 200, gateway.output());
    const body = await res.json();
    assert.equal(traceIdOf(res), parent);
    const { server, clients } = await traceOf(parent);
    assert.equal(server.parentSpanId, "b7ad6b7169203331");
    assert.equal(server.name, "POST /v1/chat/completions");
    assert.equal(attr(server, "gen_ai.operation.name"), "chat");
    assert.equal(attr(server, "tollgate.cache"), "bypass");
    assert.equal(attr(server, "tollgate.request_id"), res.headers.get("x-request-id"));
    assert.deepEqual(clients.map((s) => [s.name, attr(s, "gen_ai.provider.name"), attr(s, "error.type") ?? null]), [["chat balanced", "sim-a", "500"], ["chat balanced", "sim-b", null]]);
    const answered = clients[1];
    assert.equal(attr(answered, "gen_ai.usage.input_tokens"), String(body.usage.prompt_tokens));
    assert.equal(attr(answered, "gen_ai.usage.output_tokens"), String(body.usage.completion_tokens));
    assert.deepEqual(attr(answered, "gen_ai.response.finish_reasons"), [body.choices[0].finish_reason]);
    const batch = received.find((r) => r.body.resourceSpans[0].scopeSpans[0].spans.some((s) => s.spanId === server.spanId));
    assert.equal(batch.headers.authorization, "Bearer collector-token");
    assert.equal(batch.headers["content-type"], "application/json");
  });

  it("a cache hit exports a server span and no client span", async () => {
    const request = { model: "sim/fast", messages: [{ role: "user", content: "otel hit through npm start" }] };
    const miss = await chat(request);
    assert.equal(miss.headers.get("x-tollgate-cache"), "miss");
    assert.equal((await traceOf(traceIdOf(miss))).clients.length, 1);
    const hit = await chat(request);
    assert.equal(hit.headers.get("x-tollgate-cache"), "exact");
    const { server, all } = await traceOf(traceIdOf(hit));
    assert.equal(attr(server, "tollgate.cache"), "exact");
    assert.deepEqual(all, [server]);
  });

  it("a stream's client span carries the stream's usage", async () => {
    const res = await chat({ model: "sim/powerful", messages: [{ role: "user", content: "otel stream through npm start" }], stream: true, stream_options: { include_usage: true } });
    const text = await res.text();
    const usage = JSON.parse(text.split("\n").filter((l) => l.startsWith("data: {") && l.includes('"usage":{')).at(-1).slice(6)).usage;
    const { clients } = await traceOf(traceIdOf(res));
    assert.equal(clients.length, 1);
    assert.equal(attr(clients[0], "gen_ai.usage.output_tokens"), String(usage.completion_tokens));
    assert.equal(attr(clients[0], "gen_ai.usage.input_tokens"), String(usage.prompt_tokens));
  });
});

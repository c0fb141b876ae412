// The MCP tool gateway end to end: `npm run test:mcp` (node --test). It boots `npm start` on spare
// ports with its own local state, starts a real MCP server on loopback (the SDK's own McpServer over
// Streamable HTTP), registers it for a tenant, and drives the gateway with the SDK's own Client.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { startGateway } from "../../scripts/local-gateway.mjs";

const ADMIN_TOKEN = "mcp-test-admin";
const HANG_LIMIT = 2;

/** What the upstream saw: calls per tool, and the most `hang` calls it ever held at once. */
const seen = { lookup: 0, secret_admin: 0, echo: 0, write_note: 0, hang: 0, hangInFlight: 0, hangMaxInFlight: 0, flaky_read: 0, slow_write: 0, dead: 0, flaky_session: 0 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hanging = new Set();
const releaseHangs = () => {
  for (const release of hanging) release();
  hanging.clear();
};

function upstreamServer() {
  const server = new McpServer({ name: "test-upstream", version: "1.0.0" });
  server.registerTool("lookup", { description: "Looks a word up", inputSchema: { q: z.string() }, annotations: { readOnlyHint: true } }, async ({ q }) => {
    seen.lookup++;
    return { content: [{ type: "text", text: `definition of ${q} #${seen.lookup}` }] };
  });
  server.registerTool("secret_admin", { description: "Must never be reachable", inputSchema: {} }, async () => {
    seen.secret_admin++;
    return { content: [{ type: "text", text: "owned" }] };
  });
  server.registerTool("echo", { description: "Echoes", inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } }, async ({ text }) => {
    seen.echo++;
    return { content: [{ type: "text", text }] };
  });
  server.registerTool("write_note", { description: "Writes a note (not idempotent)", inputSchema: { note: z.string() } }, async ({ note }) => {
    seen.write_note++;
    return { content: [{ type: "text", text: `stored ${note} as #${seen.write_note}` }] };
  });
  server.registerTool("hang", { description: "Never answers until released", inputSchema: {} }, async () => {
    seen.hang++;
    seen.hangMaxInFlight = Math.max(seen.hangMaxInFlight, ++seen.hangInFlight);
    await new Promise((resolve) => hanging.add(resolve));
    seen.hangInFlight--;
    return { content: [{ type: "text", text: "released" }] };
  });
  // Slow only on its first call: a timeout the gateway may retry, because the tool says it only reads.
  server.registerTool("flaky_read", { description: "Slow once", inputSchema: {}, annotations: { readOnlyHint: true } }, async () => {
    if (++seen.flaky_read === 1) await sleep(6_000);
    return { content: [{ type: "text", text: `answered on call ${seen.flaky_read}` }] };
  });
  server.registerTool("flaky_session", { description: "Slow once", inputSchema: {}, annotations: { readOnlyHint: true } }, async () => {
    if (++seen.flaky_session === 1) await sleep(3_000);
    return { content: [{ type: "text", text: "ok" }] };
  });
  server.registerTool("slow_write", { description: "Slow, and not safe to repeat", inputSchema: {} }, async () => {
    seen.slow_write++;
    await sleep(3_000);
    return { content: [{ type: "text", text: "written" }] };
  });
  server.registerTool("dead", { description: "Never answers in time", inputSchema: {}, annotations: { readOnlyHint: true } }, async () => {
    seen.dead++;
    await sleep(3_000);
    return { content: [{ type: "text", text: "too late" }] };
  });
  return server;
}

/** Stateless Streamable HTTP, as the SDK's examples do it: a fresh server and transport per POST. */
function startUpstream() {
  const http = createServer(async (req, res) => {
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST" }).end();
      return;
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    const server = upstreamServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  return new Promise((resolve) => http.listen(0, "127.0.0.1", () => resolve(http)));
}

let gateway;
let upstream;
let state;
let key;

async function api(pathname, { method = "GET", body, token = ADMIN_TOKEN } = {}) {
  const res = await fetch(`${gateway.url}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

async function connect(headers = {}) {
  const client = new Client({ name: "mcp-gateway-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}/v1/mcp/demo`), {
    requestInit: { headers: { authorization: `Bearer ${key}`, ...headers } },
  });
  await client.connect(transport);
  return client;
}

const text = (result) => result.content.map((c) => c.text).join("");

describe("MCP tool gateway through npm start", () => {
  before(async () => {
    upstream = await startUpstream();
    state = mkdtempSync(path.join(tmpdir(), "tollgate-mcp-"));
    gateway = await startGateway({ persistTo: state, adminToken: ADMIN_TOKEN });
    const tenant = await api("/admin/tenants", { method: "POST", body: { name: "mcp-agent", policy: { sessions: { max_tool_calls: 50, max_steps: 20 } } } });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.json));
    const issued = await api(`/admin/tenants/${tenant.json.id}/keys`, { method: "POST" });
    key = issued.json.key;
    const registered = await api("/v1/mcp/servers/demo", {
      method: "PUT",
      token: key,
      body: {
        url: `http://127.0.0.1:${upstream.address().port}/mcp`,
        headers: { "x-upstream-token": "s3cret" },
        allowed_tools: ["lookup", "echo", "write_note", "hang", "flaky_read", "slow_write", "dead", "flaky_session"],
        tools: {
          hang: { max_concurrency: HANG_LIMIT, timeout_ms: 20_000 },
          lookup: { cache_ttl_s: 300, cost_usd: 0.002 },
          // Room for a loaded machine: the second attempt (connect + call) must fit in the timeout.
          flaky_read: { timeout_ms: 2_000, retries: 2, cache_ttl_s: 0 },
          flaky_session: { timeout_ms: 500, retries: 2, cache_ttl_s: 0 },
          slow_write: { timeout_ms: 500, retries: 2 },
          dead: { timeout_ms: 300, retries: 0, cache_ttl_s: 0 },
        },
      },
    });
    assert.equal(registered.status, 200, JSON.stringify(registered.json));
    assert.equal(registered.json.headers["x-upstream-token"], "<redacted>");
  });

  after(async () => {
    releaseHangs();
    await gateway?.stop();
    upstream?.close();
    if (state) rmSync(state, { recursive: true, force: true });
  });

  it("lists only the allowed tools", async () => {
    const client = await connect();
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ["dead", "echo", "flaky_read", "flaky_session", "hang", "lookup", "slow_write", "write_note"]);
    await client.close();
  });

  it("says so when no tool is allowed, instead of listing none", async () => {
    const none = await api("/v1/mcp/servers/locked", { method: "PUT", token: key, body: { url: `http://127.0.0.1:${upstream.address().port}/mcp`, allowed_tools: [] } });
    assert.equal(none.status, 200);
    const client = new Client({ name: "mcp-gateway-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/v1/mcp/locked`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
    await assert.rejects(client.listTools(), /No tool of MCP server "locked" is available to this tenant: its allowed_tools list is empty/);
    await client.close();
  });

  it("serves a read-only tool's second identical call from the cache; the upstream runs it once", async () => {
    const client = await connect({ "x-tollgate-session": "agent-1" });
    const first = await client.callTool({ name: "lookup", arguments: { q: "tollgate" } });
    const second = await client.callTool({ name: "lookup", arguments: { q: "tollgate" } });
    assert.equal(first._meta["tollgate/cache"], "miss");
    assert.equal(second._meta["tollgate/cache"], "hit");
    assert.equal(second._meta["tollgate/saved_usd"], 0.002);
    assert.equal(text(second), text(first));
    assert.equal(seen.lookup, 1);
    await client.close();
  });

  it("refuses a disallowed tool without the upstream seeing it", async () => {
    const client = await connect({ "x-tollgate-session": "agent-1" });
    await assert.rejects(client.callTool({ name: "secret_admin", arguments: {} }), (error) => {
      assert.match(error.message, /not allowed/);
      assert.equal(error.data.code, "tool_not_allowed");
      return true;
    });
    assert.equal(seen.secret_admin, 0);
    await client.close();
  });

  it("counts tool calls in the agent's session, with the remaining header on the response", async () => {
    const view = await api("/v1/sessions/agent-1", { token: key });
    assert.equal(view.status, 200, JSON.stringify(view.json));
    assert.equal(view.json.counters.tool_calls, 2);
    assert.equal(view.json.counters.steps, 0);
    assert.deepEqual(view.json.timeline.map((s) => [s.kind, s.name, s.cache]), [["tool", "demo/lookup", "miss"], ["tool", "demo/lookup", "exact"]]);
    assert.equal(view.json.counters.cost_usd, 0.002);
    // A raw POST shows the header the SDK client does not surface.
    const res = await fetch(`${gateway.url}/v1/mcp/demo`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "x-tollgate-session": "agent-1", "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-tollgate-session-remaining"), "steps=20,tool_calls=47");
  });

  it("honours Idempotency-Key for a write tool: the upstream writes once", async () => {
    const client = await connect({ "idempotency-key": "note-1" });
    const first = await client.callTool({ name: "write_note", arguments: { note: "hello" } });
    const again = await client.callTool({ name: "write_note", arguments: { note: "hello" } });
    assert.equal(seen.write_note, 1);
    assert.equal(text(again), text(first));
    assert.equal(again._meta["tollgate/idempotent_replay"], true);
    await assert.rejects(client.callTool({ name: "write_note", arguments: { note: "other" } }), /different tool arguments/);
    await client.close();
  });

  it("a hanging tool holds at most its concurrency limit while other tools keep answering", async () => {
    const client = await connect();
    let turnedAway = 0;
    const calls = Array.from({ length: HANG_LIMIT + 3 }, () =>
      client.callTool({ name: "hang", arguments: {} }, undefined, { timeout: 60_000 }).then(
        (r) => ({ ok: true, r }),
        (e) => (turnedAway++, { ok: false, e }),
      ),
    );
    // Wait until the upstream holds the limit and the rest were turned away at the gateway.
    const deadline = Date.now() + 20_000;
    while ((seen.hangInFlight < HANG_LIMIT || turnedAway < 3) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.hangInFlight, HANG_LIMIT);
    assert.equal(turnedAway, 3);
    const started = Date.now();
    const echoed = await client.callTool({ name: "echo", arguments: { text: "still here" } });
    assert.equal(text(echoed), "still here");
    assert.ok(Date.now() - started < 5_000, "another tool answers while hang is stuck");
    releaseHangs();
    const outcomes = await Promise.all(calls);
    const refused = outcomes.filter((o) => !o.ok);
    assert.equal(outcomes.filter((o) => o.ok).length, HANG_LIMIT);
    assert.equal(refused.length, 3);
    for (const { e } of refused) assert.equal(e.data.code, "concurrency_limited");
    assert.equal(seen.hangMaxInFlight, HANG_LIMIT);
    assert.equal(seen.hang, HANG_LIMIT);
    await client.close();
  });

  it("retries a timed-out read-only tool, but never a write tool that does not say it is idempotent", async () => {
    const client = await connect();
    const read = await client.callTool({ name: "flaky_read", arguments: {} });
    assert.equal(text(read), "answered on call 2");
    assert.equal(read._meta["tollgate/attempts"], 2);
    await assert.rejects(client.callTool({ name: "slow_write", arguments: {} }), (error) => {
      assert.equal(error.data.code, "deadline_exceeded");
      return true;
    });
    assert.equal(seen.slow_write, 1);
    await client.close();
  });

  it("counts retries per tool in the session: the gateway's own, and the agent calling a failed tool again", async () => {
    const client = await connect({ "x-tollgate-session": "agent-2", "x-tollgate-session-limits": "max_retries_per_tool=0" });
    // No retry left: the timed-out first attempt is the answer, though the tool is retryable.
    await assert.rejects(client.callTool({ name: "flaky_session", arguments: {} }), (error) => error.data?.code === "deadline_exceeded");
    assert.equal(seen.flaky_session, 1);
    // Calling it again after it failed is a retry too: refused before the upstream sees it.
    await assert.rejects(client.callTool({ name: "flaky_session", arguments: {} }), (error) => {
      assert.equal(error.data.code, "session_limit_exceeded");
      assert.equal(error.data.param, "max_retries_per_tool");
      return true;
    });
    assert.equal(seen.flaky_session, 1);
    await client.close();
  });

  it("opens a tool's breaker after repeated failures: the upstream stops seeing calls", async () => {
    const client = await connect();
    const codes = [];
    for (let i = 0; i < 7; i++) codes.push(await client.callTool({ name: "dead", arguments: {} }).then(() => "ok", (e) => e.data?.code));
    assert.deepEqual(codes, ["deadline_exceeded", "deadline_exceeded", "deadline_exceeded", "deadline_exceeded", "deadline_exceeded", "tool_unavailable", "tool_unavailable"]);
    assert.equal(seen.dead, 5);
    // Another tool of the same server is not affected.
    assert.equal(text(await client.callTool({ name: "echo", arguments: { text: "fine" } })), "fine");
    await client.close();
  });

  it("writes tool calls to the ledger: task profiles show them, per session", async () => {
    // Let through: lookup x2 (one cached), echo x3, write_note x2 (one replayed), hang x2, flaky_read,
    // slow_write, dead x5, flaky_session. Refusals (not allowed, bulkhead, breaker, idempotency conflict,
    // session limits) do not count.
    const deadline = Date.now() + 30_000;
    let profile;
    for (;;) {
      const report = await api("/admin/reports/profiles");
      profile = report.json?.data?.find((p) => p.task === "default");
      if (profile?.tool_calls === 17 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(profile?.tool_calls, 17, JSON.stringify(profile));
    // Two sessions: agent-1 made three of them (lookup x2, echo), agent-2 one (flaky_session).
    assert.equal(profile.tool_calls_per_session, 2);
  });

  it("admits a priced tool against the tenant's budget: the call past it is refused before the upstream", async () => {
    const tenant = await api("/admin/tenants", { method: "POST", body: { name: "mcp-priced", budgets: [{ scope: "tenant", period: "total", limit_usd: 0.005 }] } });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.json));
    const priced = (await api(`/admin/tenants/${tenant.json.id}/keys`, { method: "POST" })).json.key;
    const url = `http://127.0.0.1:${upstream.address().port}/mcp`;
    const registered = await api("/v1/mcp/servers/paid", { method: "PUT", token: priced, body: { url, allowed_tools: ["lookup"], tools: { lookup: { cost_usd: 0.002, cache_ttl_s: 0 } } } });
    assert.equal(registered.status, 200, JSON.stringify(registered.json));
    const client = new Client({ name: "mcp-gateway-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/v1/mcp/paid`), { requestInit: { headers: { authorization: `Bearer ${priced}`, "x-tollgate-task": "priced" } } }));
    const before = seen.lookup;
    const answers = [];
    for (const q of ["one", "two", "three"]) answers.push(await client.callTool({ name: "lookup", arguments: { q } }).then((r) => r._meta["tollgate/cost_usd"], (e) => e.data?.code));
    // $0.005 pays for two calls at $0.002; the third would end at $0.006.
    assert.deepEqual(answers, [0.002, 0.002, "budget_exceeded"]);
    assert.equal(seen.lookup - before, 2);
    await client.close();
    let spent;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
      const view = await api("/v1/budget", { token: priced });
      const budget = view.json.data.find((b) => b.scope === "tenant");
      spent = budget;
      if (budget.reserved_usd < 1e-12) break;
    }
    assert.ok(Math.abs(spent.spent_usd - 0.004) < 1e-9, JSON.stringify(spent));
    assert.ok(spent.reserved_usd < 1e-12, JSON.stringify(spent));
  });
});

import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { type Context, Hono } from "hono";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { gatewayServer } from "../mcp/gateway-server";
import { deleteServer, loadServer, parseServerName, publicView, RegistrationSchema, saveServer } from "../mcp/server-registry";
import type { ToolCallContext } from "../mcp/tool-call";
import { parseSessionHeaders } from "../sessions/session-gate";
import { parseJsonBody } from "../validate/parse-json-body";
import { parseHints } from "../validate/request-hints";

/**
 * PUT|GET|DELETE /v1/mcp/servers/:name registers a tenant's upstream MCP servers; /v1/mcp/:name
 * speaks MCP (Streamable HTTP, stateless: every POST stands alone) and forwards allowed tool calls.
 */
async function serveMcp(c: Context<AppEnv>): Promise<Response> {
  const name = parseServerName(c.req.param("name") ?? "");
  const server = await loadServer(c.env, c.var.tenant.tenantId, name);
  if (!server) throw GatewayError.notFound("MCP server");
  const header = (n: string) => c.req.header(n);
  const ctx: ToolCallContext = {
    env: c.env,
    tenant: c.var.tenant,
    task: parseHints(header).task,
    requestId: c.var.requestId,
    server,
    session: parseSessionHeaders(header),
    idempotencyKey: c.req.header("idempotency-key") || undefined,
    waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    calls: 0,
    trace: c.var.trace,
  };
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  const mcp = gatewayServer(ctx);
  await mcp.connect(transport);
  try {
    const response = await transport.handleRequest(c.req.raw);
    const headers = new Headers(response.headers);
    if (ctx.remaining) headers.set("x-tollgate-session-remaining", ctx.remaining);
    headers.set("x-request-id", c.var.requestId);
    return new Response(response.body, { status: response.status, headers });
  } finally {
    c.executionCtx.waitUntil(mcp.close().catch(() => undefined));
  }
}

export const mcpRoutes = new Hono<AppEnv>()
  .put("/mcp/servers/:name", async (c) => {
    const name = parseServerName(c.req.param("name"));
    const body = await parseJsonBody(c, RegistrationSchema);
    const server = await saveServer(c.env, c.var.tenant.tenantId, name, body);
    return c.json(publicView(server));
  })
  .get("/mcp/servers/:name", async (c) => {
    const server = await loadServer(c.env, c.var.tenant.tenantId, parseServerName(c.req.param("name")));
    if (!server) throw GatewayError.notFound("MCP server");
    return c.json(publicView(server));
  })
  .delete("/mcp/servers/:name", async (c) => {
    if (!(await deleteServer(c.env, c.var.tenant.tenantId, parseServerName(c.req.param("name"))))) throw GatewayError.notFound("MCP server");
    return c.body(null, 204);
  })
  .post("/mcp/:name", serveMcp)
  // Stateless: no server-initiated stream to open (GET) and no MCP session to end (DELETE). A wildcard,
  // not `/mcp/:name`: beside `/mcp/servers/:name` that pattern pushes Hono off its RegExpRouter onto
  // the slower trie router for every route.
  .on(["GET", "DELETE"], "/mcp/*", (c) => {
    if (c.req.path.split("/").length !== 4) return c.notFound();
    return c.json({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed: POST only (stateless)" }, id: null }, 405, { allow: "POST" });
  });

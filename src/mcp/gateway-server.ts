import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, type ListToolsResult, McpError } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { isAllowed } from "./server-registry";
import { callTool, type ToolCallContext } from "./tool-call";
import { upstreamTools } from "./upstream-client";

/** tools/list: the upstream's tools that the tenant allows; none allowed is said, never silently empty. */
async function listAllowedTools(ctx: ToolCallContext): Promise<ListToolsResult> {
  const { server } = ctx;
  const listed = await upstreamTools(ctx.env, ctx.tenant.tenantId, server).catch((error: unknown) => {
    throw new McpError(ErrorCode.InternalError, `MCP server "${server.name}" did not list its tools: ${error instanceof Error ? error.message : String(error)}`, { code: "upstream_error" });
  });
  const tools = listed.tools.filter((tool) => isAllowed(server, tool.name));
  const offered = new Set(listed.tools.map((t) => t.name));
  // An allowed tool the upstream no longer offers (renamed in an upgrade, say) is reported, not dropped quietly.
  const missing = (server.allowedTools ?? []).filter((name) => !offered.has(name));
  if (tools.length === 0) {
    const why = server.allowedTools?.length === 0 ? "its allowed_tools list is empty" : server.allowedTools ? `none of its allowed_tools (${server.allowedTools.join(", ")}) is offered upstream` : "the upstream offers no tools";
    throw new McpError(ErrorCode.InvalidRequest, `No tool of MCP server "${server.name}" is available to this tenant: ${why}`, { code: "no_tools_allowed", upstream_tools: [...offered] });
  }
  return { tools, ...(missing.length ? { _meta: { "tollgate/missing_allowed_tools": missing } } : {}) };
}

/** The gateway's side toward clients: the SDK's own server, one per HTTP request (stateless). */
export function gatewayServer(ctx: ToolCallContext): Server {
  const server = new Server(
    { name: `tollgate/${ctx.server.name}`, version: "1.0.0" },
    { capabilities: { tools: {} }, jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => listAllowedTools(ctx));
  server.setRequestHandler(CallToolRequestSchema, (request) => callTool(ctx, { name: request.params.name, arguments: request.params.arguments }));
  return server;
}

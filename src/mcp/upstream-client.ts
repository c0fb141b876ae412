import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, ErrorCode, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { sha256Hex } from "../auth/key-hash";
import type { McpServer } from "./server-registry";

const TOOL_LIST_TTL_S = 60;
const LIST_TIMEOUT_MS = 15_000;
const MAX_PAGES = 20;

/**
 * One MCP session with the upstream per gateway call: Streamable HTTP over the SDK's own client.
 * Nothing is kept between requests, because a Worker's I/O belongs to the request that opened it.
 */
async function withUpstream<T>(server: McpServer, timeoutMs: number, run: (client: Client, signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(timeoutMs);
  // ajv (the SDK's default validator) compiles code at run time, which Workers forbid.
  const client = new Client({ name: "tollgate-gateway", version: "1.0.0" }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  const transport = new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: server.headers } });
  try {
    await client.connect(transport, { signal, timeout: timeoutMs });
    return await run(client, signal);
  } finally {
    await client.close().catch(() => undefined);
  }
}

export interface UpstreamTools {
  tools: Tool[];
  /** Per tool, a hash of its schema and annotations: part of the result-cache key. */
  schemaHashes: Record<string, string>;
}

/** The upstream's tools, cached for a minute per registration version (a re-registration refreshes it). */
export async function upstreamTools(env: Env, tenantId: string, server: McpServer): Promise<UpstreamTools> {
  const key = `mcp-tools:${tenantId}:${server.name}:${server.updatedAt}`;
  const cached = await env.CACHE_KV.get<UpstreamTools>(key, "json");
  if (cached) return cached;
  const tools = await withUpstream(server, LIST_TIMEOUT_MS, async (client, signal) => {
    const all: Tool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await client.listTools(cursor ? { cursor } : undefined, { signal });
      all.push(...result.tools);
      cursor = result.nextCursor;
      if (!cursor) break;
    }
    return all;
  });
  const schemaHashes: Record<string, string> = {};
  for (const tool of tools) schemaHashes[tool.name] = await sha256Hex(JSON.stringify([tool.inputSchema, tool.outputSchema ?? null, tool.annotations ?? null]));
  const listed: UpstreamTools = { tools, schemaHashes };
  await env.CACHE_KV.put(key, JSON.stringify(listed), { expirationTtl: TOOL_LIST_TTL_S });
  return listed;
}

export async function callUpstreamTool(server: McpServer, name: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<CallToolResult> {
  return withUpstream(server, timeoutMs, async (client, signal) => {
    const result = await client.callTool({ name, arguments: args }, undefined, { signal, timeout: timeoutMs });
    // `toolResult` is the protocol's old shape; current servers answer with `content`.
    if ("content" in result && Array.isArray(result.content)) return result as CallToolResult;
    return { content: [{ type: "text", text: JSON.stringify(result.toolResult ?? null) }] };
  });
}

/** Worth another attempt: the tool timed out, the connection failed, or the server had a 5xx or 429. */
export function isTransient(error: unknown): boolean {
  if (error instanceof StreamableHTTPError) return error.code === undefined || error.code === 429 || error.code >= 500;
  if (error instanceof McpError) return error.code === ErrorCode.RequestTimeout || error.code === ErrorCode.ConnectionClosed || error.code === ErrorCode.InternalError;
  return error instanceof Error && (error.name === "TypeError" || error.name === "TimeoutError" || error.name === "AbortError");
}

export function isTimeout(error: unknown): boolean {
  return (error instanceof McpError && error.code === ErrorCode.RequestTimeout) || (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"));
}

import * as z from "zod";
import type { TenantPolicy } from "../config/tenant-policy";
import { assertCallbackUrl } from "../delivery/callback-url-guard";
import { GatewayError } from "../errors";

/** `servers` is taken by the registration routes; the rest is a path segment anyone can type. */
export const ServerNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be 1-64 of a-z 0-9 _ - (starting with a letter or digit)").refine((n) => n !== "servers", "is reserved");

export const ToolPolicySchema = z
  .object({
    max_concurrency: z.number().int().min(1).max(1_000).optional(),
    timeout_ms: z.number().int().min(100).max(600_000).optional(),
    retries: z.number().int().min(0).max(5).optional(),
    cache_ttl_s: z.number().int().min(0).max(86_400).optional(),
    /** Retry even without an idempotentHint/readOnlyHint annotation: the tenant vouches for it. */
    retryable: z.boolean().optional(),
    /** What one call costs, for the ledger, the session's max_usd and saved dollars on a cache hit. */
    cost_usd: z.number().min(0).max(1_000).optional(),
  })
  .strict();
export type ToolPolicy = z.infer<typeof ToolPolicySchema>;

export const RegistrationSchema = z
  .object({
    url: z.string().min(1).max(2048),
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a header name"), z.string().max(4096))
      .refine((h) => Object.keys(h).length <= 32, "at most 32 headers")
      .optional(),
    /** Absent: every tool the upstream lists; [] allows none (tools/list then says so). */
    allowed_tools: z.array(z.string().min(1).max(128)).max(1_000).optional(),
    tools: z.record(z.string().min(1).max(128), ToolPolicySchema).default({}),
  })
  .strict();

export interface McpServer {
  name: string;
  url: string;
  headers: Record<string, string>;
  allowedTools: string[] | null;
  tools: Record<string, ToolPolicy>;
  updatedAt: number;
}

/** A tool's effective policy: the registration's entry over the tenant's tool defaults. */
export type ResolvedToolPolicy = Required<Omit<ToolPolicy, "retryable" | "cost_usd">> & Pick<ToolPolicy, "retryable" | "cost_usd">;

export function toolPolicy(server: McpServer, tool: string, policy: TenantPolicy): ResolvedToolPolicy {
  return { ...policy.tools, ...server.tools[tool] };
}

export function isAllowed(server: McpServer, tool: string): boolean {
  return server.allowedTools === null || server.allowedTools.includes(tool);
}

type Row = { name: string; url: string; headers_json: string; allowed_tools_json: string | null; tools_json: string; updated_at: number };
const KV_TTL_S = 60;
const kvKey = (tenantId: string, name: string) => `mcp-server:${tenantId}:${name}`;

function fromRow(row: Row): McpServer {
  return {
    name: row.name,
    url: row.url,
    headers: JSON.parse(row.headers_json) as Record<string, string>,
    allowedTools: row.allowed_tools_json === null ? null : (JSON.parse(row.allowed_tools_json) as string[]),
    tools: JSON.parse(row.tools_json) as Record<string, ToolPolicy>,
    updatedAt: row.updated_at,
  };
}

/** D1 is the truth; KV serves the hot path for up to a minute after a change (like API keys). */
export async function loadServer(env: Env, tenantId: string, name: string): Promise<McpServer | null> {
  const cached = await env.AUTH_KV.get<McpServer>(kvKey(tenantId, name), "json");
  if (cached) return cached;
  const row = await env.DB.prepare("SELECT name, url, headers_json, allowed_tools_json, tools_json, updated_at FROM mcp_servers WHERE tenant_id = ? AND name = ?").bind(tenantId, name).first<Row>();
  if (!row) return null;
  const server = fromRow(row);
  await env.AUTH_KV.put(kvKey(tenantId, name), JSON.stringify(server), { expirationTtl: KV_TTL_S });
  return server;
}

export async function saveServer(env: Env, tenantId: string, name: string, body: z.infer<typeof RegistrationSchema>, now = Date.now()): Promise<McpServer> {
  // The same guard as callbacks: public https only, except in local development (loopback allowed).
  const url = assertCallbackUrl(body.url, env.ENVIRONMENT, "url");
  const server: McpServer = { name, url: url.toString(), headers: body.headers ?? {}, allowedTools: body.allowed_tools ?? null, tools: body.tools, updatedAt: now };
  await env.DB.prepare(
    `INSERT INTO mcp_servers (tenant_id, name, url, headers_json, allowed_tools_json, tools_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (tenant_id, name) DO UPDATE SET url = excluded.url, headers_json = excluded.headers_json, allowed_tools_json = excluded.allowed_tools_json,
       tools_json = excluded.tools_json, updated_at = excluded.updated_at`,
  )
    .bind(tenantId, name, server.url, JSON.stringify(server.headers), server.allowedTools === null ? null : JSON.stringify(server.allowedTools), JSON.stringify(server.tools), now, now)
    .run();
  await env.AUTH_KV.delete(kvKey(tenantId, name));
  return server;
}

export async function deleteServer(env: Env, tenantId: string, name: string): Promise<boolean> {
  const result = await env.DB.prepare("DELETE FROM mcp_servers WHERE tenant_id = ? AND name = ?").bind(tenantId, name).run();
  await env.AUTH_KV.delete(kvKey(tenantId, name));
  return result.meta.changes > 0;
}

/** What GET shows: header values are the upstream's credentials, so only their names come back. */
export function publicView(server: McpServer) {
  return {
    name: server.name,
    url: server.url,
    headers: Object.fromEntries(Object.keys(server.headers).map((k) => [k, "<redacted>"])),
    allowed_tools: server.allowedTools,
    tools: server.tools,
    updated_at: new Date(server.updatedAt).toISOString(),
  };
}

export function parseServerName(raw: string): string {
  const parsed = ServerNameSchema.safeParse(raw);
  if (!parsed.success) throw GatewayError.invalid(`server name ${parsed.error.issues[0]?.message ?? "is invalid"}`, "name");
  return parsed.data;
}

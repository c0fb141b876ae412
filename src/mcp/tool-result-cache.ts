import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { sha256Hex } from "../auth/key-hash";
import { canonicalJson } from "../cache/cache-key";

/** KV's shortest TTL; a shorter policy TTL is enforced by the stored expiry instead. */
const KV_MIN_TTL_S = 60;
/** A result bigger than this is served but not cached. */
const MAX_CACHED_BYTES = 512 * 1024;

interface Stored {
  result: CallToolResult;
  expires_at: number;
  stored_at: number;
}

/** The tool's schema hash is in the key: an upstream that changes the tool's contract starts a fresh cache. */
export async function toolCacheKey(tenantId: string, server: string, tool: string, args: unknown, schemaHash: string): Promise<string> {
  return `mcp-result:${await sha256Hex(canonicalJson([tenantId, server, tool, args ?? {}, schemaHash]))}`;
}

export async function readToolResult(kv: KVNamespace, key: string, now = Date.now()): Promise<{ result: CallToolResult; storedAt: number } | null> {
  const stored = await kv.get<Stored>(key, "json");
  if (!stored || stored.expires_at <= now) return null;
  return { result: stored.result, storedAt: stored.stored_at };
}

export async function writeToolResult(kv: KVNamespace, key: string, result: CallToolResult, ttlS: number, now = Date.now()): Promise<void> {
  const body = JSON.stringify({ result, expires_at: now + ttlS * 1000, stored_at: now } satisfies Stored);
  if (body.length > MAX_CACHED_BYTES) return;
  await kv.put(key, body, { expirationTtl: Math.max(KV_MIN_TTL_S, ttlS) });
}

import { sha256Hex } from "../auth/key-hash";
import { canonicalJson } from "../cache/cache-key";
import { GatewayError } from "../errors";

export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

export type IdempotencyClaim = { fresh: true; resourceId: string } | { fresh: false; resourceId: string };

/**
 * Claims `Idempotency-Key` for a new resource. The primary key makes two concurrent first requests
 * agree on one resource id; a key older than 24 h is taken over. The same key with another body
 * is a 409.
 */
export async function claimIdempotencyKey(db: D1Database, tenantId: string, kind: string, key: string, request: unknown, resourceId: string, now = Date.now()): Promise<IdempotencyClaim> {
  const hash = await sha256Hex(canonicalJson(request));
  const inserted = await db
    .prepare("INSERT INTO idempotency_keys (tenant_id, kind, key, request_hash, resource_id, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
    .bind(tenantId, kind, key, hash, resourceId, now)
    .run();
  if (inserted.meta.changes > 0) return { fresh: true, resourceId };
  const expired = await db
    .prepare("UPDATE idempotency_keys SET request_hash = ?, resource_id = ?, created_at = ? WHERE tenant_id = ? AND kind = ? AND key = ? AND created_at < ?")
    .bind(hash, resourceId, now, tenantId, kind, key, now - IDEMPOTENCY_TTL_MS)
    .run();
  if (expired.meta.changes > 0) return { fresh: true, resourceId };
  const existing = await db
    .prepare("SELECT request_hash, resource_id FROM idempotency_keys WHERE tenant_id = ? AND kind = ? AND key = ?")
    .bind(tenantId, kind, key)
    .first<{ request_hash: string; resource_id: string }>();
  if (!existing) return { fresh: true, resourceId };
  if (existing.request_hash !== hash) throw new GatewayError(409, "idempotency_conflict", "This Idempotency-Key was already used with a different request body", "idempotency-key");
  return { fresh: false, resourceId: existing.resource_id };
}

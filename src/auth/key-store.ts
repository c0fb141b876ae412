import * as z from "zod";
import { parseLimits, parsePolicy } from "../config/tenant-policy";
import type { TenantContext } from "../hono-env";

const KeyRecordSchema = z.object({
  keyId: z.string(),
  tenantId: z.string(),
  tenantName: z.string(),
  policyJson: z.string(),
  limitsJson: z.string(),
  revokedAt: z.number().nullable(),
  /** When this copy was read from D1. No copy older than the revocation bound is trusted. */
  readAt: z.number().optional(),
});
type KeyRecord = z.infer<typeof KeyRecordSchema>;

// Revocation bound: 60 s from the D1 write. Every copy carries the time it was read from D1, and no
// layer uses a copy older than that: KV keeps it at most 60 s (KV's minimum TTL) and an isolate at most
// 30 s, but never past readAt + 60 s, so an isolate that picks up a copy from a KV cache that has not
// yet seen the delete cannot stretch the bound to 60 + 30 s. Revoking also deletes the KV copy and this
// isolate's, so in practice the key stops working at once here and within KV's propagation elsewhere.
export const ISOLATE_TTL_MS = 30_000;
const KV_TTL_S = 60;
export const REVOCATION_BOUND_MS = KV_TTL_S * 1000;
const ISOLATE_MAX_ENTRIES = 10_000;

// `tenant` is the record parsed once (zod over policy and limits): a hot key parses nothing per request.
type Cached = { record: KeyRecord | null; expiresAt: number; tenant?: TenantContext };
const isolateCache = new Map<string, Cached>();

const kvKey = (hash: string) => `key:${hash}`;

export function forgetKeyHash(hash: string): void {
  isolateCache.delete(hash);
}

async function readThrough(env: Env, hash: string, now: number): Promise<KeyRecord | null> {
  const cached = await env.AUTH_KV.get(kvKey(hash), "json").catch(() => null);
  const parsed = KeyRecordSchema.nullable().safeParse(cached);
  if (cached !== null && parsed.success && parsed.data && (parsed.data.readAt ?? 0) + REVOCATION_BOUND_MS > now) return parsed.data;
  const row = await env.DB.prepare(
    `SELECT k.id AS keyId, k.tenant_id AS tenantId, t.name AS tenantName, t.policy_json AS policyJson,
            t.limits_json AS limitsJson, k.revoked_at AS revokedAt
       FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = ?`,
  )
    .bind(hash)
    .first<KeyRecord>();
  if (!row) return null;
  const record = { ...row, readAt: now };
  // Unknown keys are not written to KV: random guesses must not fill the namespace.
  await env.AUTH_KV.put(kvKey(hash), JSON.stringify(record), { expirationTtl: KV_TTL_S }).catch(() => undefined);
  return record;
}

/** Resolves a key hash to its tenant, or null for unknown and revoked keys. */
export async function lookupKeyHash(env: Env, hash: string, now = Date.now()): Promise<TenantContext | null> {
  let entry = isolateCache.get(hash);
  if (!entry || entry.expiresAt <= now) {
    const record = await readThrough(env, hash, now);
    entry = { record, expiresAt: Math.min(now + ISOLATE_TTL_MS, (record?.readAt ?? now) + REVOCATION_BOUND_MS) };
    if (isolateCache.size >= ISOLATE_MAX_ENTRIES) {
      const oldest = isolateCache.keys().next().value;
      if (oldest !== undefined) isolateCache.delete(oldest);
    }
    isolateCache.set(hash, entry);
  }
  const record = entry.record;
  if (!record || record.revokedAt !== null) return null;
  entry.tenant ??= {
    tenantId: record.tenantId,
    tenantName: record.tenantName,
    keyId: record.keyId,
    policy: parsePolicy(record.policyJson),
    limits: parseLimits(record.limitsJson),
  };
  // A fresh top-level object per request; the parsed policy and limits are shared and read-only by use.
  return { ...entry.tenant };
}

/** After a revoke or a tenant config change: drop every cached copy this isolate and KV hold. */
export async function invalidateKeyHashes(env: Env, hashes: string[]): Promise<void> {
  for (const hash of hashes) forgetKeyHash(hash);
  await Promise.all(hashes.map((hash) => env.AUTH_KV.delete(kvKey(hash))));
}

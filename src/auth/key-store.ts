import { z } from "zod";
import { parseLimits, parsePolicy } from "../config/tenant-policy";
import type { TenantContext } from "../hono-env";

const KeyRecordSchema = z.object({
  keyId: z.string(),
  tenantId: z.string(),
  tenantName: z.string(),
  policyJson: z.string(),
  limitsJson: z.string(),
  revokedAt: z.number().nullable(),
});
type KeyRecord = z.infer<typeof KeyRecordSchema>;

// Revocation bound: the isolate copy lives at most 30 s and the KV copy at most 60 s (KV's minimum TTL);
// revoking deletes the KV copy, so other locations see it within KV's own propagation time (≤ 60 s).
export const ISOLATE_TTL_MS = 30_000;
const KV_TTL_S = 60;
const ISOLATE_MAX_ENTRIES = 10_000;

type Cached = { record: KeyRecord | null; expiresAt: number };
const isolateCache = new Map<string, Cached>();

const kvKey = (hash: string) => `key:${hash}`;

export function forgetKeyHash(hash: string): void {
  isolateCache.delete(hash);
}

async function readThrough(env: Env, hash: string): Promise<KeyRecord | null> {
  const cached = await env.AUTH_KV.get(kvKey(hash), "json").catch(() => null);
  const parsed = KeyRecordSchema.nullable().safeParse(cached);
  if (cached !== null && parsed.success) return parsed.data;
  const row = await env.DB.prepare(
    `SELECT k.id AS keyId, k.tenant_id AS tenantId, t.name AS tenantName, t.policy_json AS policyJson,
            t.limits_json AS limitsJson, k.revoked_at AS revokedAt
       FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = ?`,
  )
    .bind(hash)
    .first<KeyRecord>();
  // Unknown keys are not written to KV: random guesses must not fill the namespace.
  if (row) await env.AUTH_KV.put(kvKey(hash), JSON.stringify(row), { expirationTtl: KV_TTL_S }).catch(() => undefined);
  return row ?? null;
}

/** Resolves a key hash to its tenant, or null for unknown and revoked keys. */
export async function lookupKeyHash(env: Env, hash: string, now = Date.now()): Promise<TenantContext | null> {
  let entry = isolateCache.get(hash);
  if (!entry || entry.expiresAt <= now) {
    entry = { record: await readThrough(env, hash), expiresAt: now + ISOLATE_TTL_MS };
    if (isolateCache.size >= ISOLATE_MAX_ENTRIES) {
      const oldest = isolateCache.keys().next().value;
      if (oldest !== undefined) isolateCache.delete(oldest);
    }
    isolateCache.set(hash, entry);
  }
  const record = entry.record;
  if (!record || record.revokedAt !== null) return null;
  return {
    tenantId: record.tenantId,
    tenantName: record.tenantName,
    keyId: record.keyId,
    policy: parsePolicy(record.policyJson),
    limits: parseLimits(record.limitsJson),
  };
}

/** After a revoke or a tenant config change: drop every cached copy this isolate and KV hold. */
export async function invalidateKeyHashes(env: Env, hashes: string[]): Promise<void> {
  for (const hash of hashes) forgetKeyHash(hash);
  await Promise.all(hashes.map((hash) => env.AUTH_KV.delete(kvKey(hash))));
}

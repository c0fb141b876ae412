import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/auth/key-hash";
import { ISOLATE_TTL_MS, lookupKeyHash } from "../../src/auth/key-store";
import { createTenant } from "../fixtures/gateway";

describe("key read-through cache", () => {
  it("sees a revocation made behind its back within the isolate TTL (revocation bound)", async () => {
    const tenant = await createTenant();
    const hash = await sha256Hex(tenant.key);
    const t0 = Date.now();
    expect(await lookupKeyHash(env, hash, t0)).not.toBeNull();
    // Revoke directly in D1 and KV, as another location's admin call would, without touching this isolate.
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(t0, tenant.keyId).run();
    await env.AUTH_KV.delete(`key:${hash}`);
    expect(await lookupKeyHash(env, hash, t0 + 1_000)).not.toBeNull();
    expect(await lookupKeyHash(env, hash, t0 + ISOLATE_TTL_MS + 1)).toBeNull();
    expect(ISOLATE_TTL_MS).toBeLessThanOrEqual(30_000);
  });
});

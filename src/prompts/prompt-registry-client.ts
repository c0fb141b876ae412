import { tenantObject } from "../config/tenant-objects";
import type { TenantContext } from "../hono-env";

/** The tenant's PromptRegistry object (in its residency jurisdiction, when it has one). */
export function promptRegistry(env: Env, tenant: Pick<TenantContext, "tenantId" | "policy">) {
  return tenantObject(env.PROMPT_REGISTRY, tenant.tenantId, tenant.policy.residency);
}

/**
 * 0-9999 from a SHA-256 of the prompt name and the share key: the same session (or request) always
 * lands in the same bucket of a prompt, and different prompts split traffic independently.
 */
export async function rolloutBucket(name: string, shareKey: string): Promise<number> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${name}\u0000${shareKey}`)));
  const word = ((digest[0] ?? 0) << 24) | ((digest[1] ?? 0) << 16) | ((digest[2] ?? 0) << 8) | (digest[3] ?? 0);
  return (word >>> 0) % 10_000;
}

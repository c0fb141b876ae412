import { parseLimits, parsePolicy } from "../config/tenant-policy";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import type { RequestLedger } from "../ledger/request-ledger";
import type { ChatContext } from "../pipeline/chat-pipeline";
import { isolateBreakerGate } from "../routing/breaker-gate";
import type { RequestHints } from "../validate/request-hints";

type TenantRow = { id: string; name: string; policy_json: string; limits_json: string };

/**
 * Queue work has no API key to authenticate: the tenant id comes from the message, and the policy and
 * limits are read from D1 (the source of truth) at the time the work runs, so a policy change applies
 * to work already queued.
 */
export async function loadTenant(env: Env, tenantId: string, keyId: string | null): Promise<TenantContext | null> {
  const row = await env.DB.prepare("SELECT id, name, policy_json, limits_json FROM tenants WHERE id = ?").bind(tenantId).first<TenantRow>();
  if (!row) return null;
  return { tenantId: row.id, tenantName: row.name, keyId: keyId ?? "", policy: parsePolicy(row.policy_json), limits: parseLimits(row.limits_json) };
}

/**
 * The tenant, checked before each provider call of queued work: work submitted with a key that has
 * since been revoked stops here, unbilled, with `key_revoked`. D1 is read directly (not the 60-second
 * key cache), so revocation takes effect at the next attempt.
 */
export async function loadWorkTenant(env: Env, tenantId: string, keyId: string | null): Promise<{ tenant: TenantContext } | { error: GatewayError }> {
  const readKey = async () => (keyId ? env.DB.prepare("SELECT revoked_at FROM api_keys WHERE id = ? AND tenant_id = ?").bind(keyId, tenantId).first<{ revoked_at: number | null }>() : null);
  const [tenant, key] = await Promise.all([loadTenant(env, tenantId, keyId), readKey()]);
  if (!tenant) return { error: GatewayError.notFound("tenant") };
  if (key?.revoked_at != null) return { error: new GatewayError(403, "key_revoked", `The API key that submitted this work (${keyId}) was revoked; it will not run`) };
  return { tenant };
}

/** The same context an HTTP request builds in routes/chat-context.ts, minus Server-Timing. */
export function queueChatContext(
  env: Env,
  waitUntil: (promise: Promise<unknown>) => void,
  tenant: TenantContext,
  hints: RequestHints,
  ledger: RequestLedger,
  simFaultHeader: string | undefined,
): ChatContext {
  return {
    env,
    waitUntil,
    tenant,
    hints,
    ledger,
    simFaultHeader,
    breaker: isolateBreakerGate(env, waitUntil),
    stage: async (_name, run) => run(),
  };
}

import { parseLimits, parsePolicy } from "../config/tenant-policy";
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

import * as z from "zod";
import { SIGNATURE_HEADER, signWebhook } from "../auth/webhook-signature";
import { parsePolicy } from "../config/tenant-policy";
import { checkCallbackUrl } from "../delivery/callback-url-guard";
import { recordDeadLetter } from "../delivery/dead-letter-store";
import type { AlertEvent } from "./budget-types";

const AlertEventSchema = z.object({
  type: z.literal("budget_alert"),
  id: z.string(),
  tenant_id: z.string(),
  kind: z.enum(["threshold", "velocity"]),
  scope: z.string(),
  period: z.enum(["day", "month", "total"]),
  period_key: z.string(),
  threshold: z.number(),
  spent_usd: z.number(),
  limit_usd: z.number(),
  projected_usd: z.number().nullable(),
  at: z.number(),
});

const WEBHOOK_TIMEOUT_MS = 10_000;

/** Exponential backoff in seconds for the queue's own retry: 5, 10, 20, 40, ... capped at 10 minutes. */
export const alertRetryDelay = (attempts: number): number => Math.min(600, 5 * 2 ** Math.max(0, attempts - 1));

async function record(env: Env, alert: AlertEvent): Promise<void> {
  await env.DB.prepare(
    `INSERT OR IGNORE INTO alerts (id, tenant_id, kind, scope, period, period_key, threshold, spent_usd, limit_usd, projected_usd, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(alert.id, alert.tenant_id, alert.kind, alert.scope, alert.period, alert.period_key, alert.threshold, alert.spent_usd, alert.limit_usd, alert.projected_usd, alert.at)
    .run();
}

async function deliver(env: Env, alert: AlertEvent, url: string, fetcher: typeof fetch): Promise<void> {
  const body = JSON.stringify(alert);
  const response = await fetcher(url, {
    method: "POST",
    headers: { "content-type": "application/json", [SIGNATURE_HEADER]: await signWebhook(env.WEBHOOK_SIGNING_SECRET, body), "x-tollgate-event": "budget_alert" },
    body,
    signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`webhook answered ${response.status}`);
}

/**
 * Each alert is recorded in D1 first (so it is visible even if the webhook is down), then POSTed,
 * signed, to the tenant's webhook. A failed delivery is retried by the queue with backoff; after
 * max_retries it lands in the dead-letter queue.
 */
export async function consumeAlertBatch(batch: MessageBatch<unknown>, env: Env, fetcher: typeof fetch = fetch): Promise<void> {
  for (const message of batch.messages) {
    const parsed = AlertEventSchema.safeParse(message.body);
    if (!parsed.success) {
      // It can never be delivered: keep it for an operator rather than drop it or burn retries.
      await recordDeadLetter(env.DB, { id: `dl_${message.id}`, queue: "alerts", tenantId: null, body: message.body, reason: `invalid alert event: ${parsed.error.issues[0]?.message ?? "unknown shape"}`, attempts: message.attempts, now: Date.now() });
      message.ack();
      continue;
    }
    const alert = parsed.data;
    try {
      await record(env, alert);
      const tenant = await env.DB.prepare("SELECT policy_json FROM tenants WHERE id = ?").bind(alert.tenant_id).first<{ policy_json: string }>();
      const url = parsePolicy(tenant?.policy_json).alert_webhook;
      const verdict = url ? checkCallbackUrl(url, env.ENVIRONMENT) : undefined;
      if (url && verdict && !verdict.ok) {
        // Checked again here, not only when the policy is saved: the rules can tighten after a URL was stored.
        await env.DB.prepare("UPDATE alerts SET last_error = ? WHERE id = ?").bind(`webhook refused: ${verdict.reason}`, alert.id).run();
      } else if (url) {
        await deliver(env, alert, url, fetcher);
        await env.DB.prepare("UPDATE alerts SET delivered_at = ?, delivery_attempts = ? WHERE id = ?").bind(Date.now(), message.attempts, alert.id).run();
      }
      message.ack();
    } catch (error) {
      await env.DB.prepare("UPDATE alerts SET delivery_attempts = ?, last_error = ? WHERE id = ?")
        .bind(message.attempts, String(error).slice(0, 500), alert.id)
        .run()
        .catch(() => undefined);
      message.retry({ delaySeconds: alertRetryDelay(message.attempts) });
    }
  }
}

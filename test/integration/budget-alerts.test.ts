import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { verifyWebhook } from "../../src/auth/webhook-signature";
import { alertRetryDelay, consumeAlertBatch } from "../../src/budget/alert-consumer";
import type { AdmitInput } from "../../src/budget/budget-types";
import { createTenant } from "../fixtures/gateway";

const HOOK = "https://hooks.receiver.test/tollgate";
let r = 0;
const admitInput = (over: Partial<AdmitInput> = {}): AdmitInput => ({ requestId: `alert_req_${++r}`, task: "default", keyId: "k", estimateUsd: 0.3, degradedEstimateUsd: 0.3, estimateTokens: 10, holdMs: 60_000, ...over });

/** A local receiver at the fetch boundary: records every delivery, answers like a real endpoint would. */
function receiver(status = 200) {
  const deliveries: { body: string; signature: string; event: string }[] = [];
  const real = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(HOOK)) return real(input, init);
    deliveries.push({ body: await request.text(), signature: request.headers.get("x-tollgate-signature") ?? "", event: request.headers.get("x-tollgate-event") ?? "" });
    return new Response(status === 200 ? "ok" : "nope", { status });
  });
  return deliveries;
}

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("condition not met in time");
}

afterEach(() => vi.restoreAllMocks());

describe("budget alerts", () => {
  it("crossing 0.8 sends exactly one signed webhook, and records it in D1", async () => {
    const deliveries = receiver();
    const tenant = await createTenant({ policy: { alert_webhook: HOOK }, budgets: [{ scope: "tenant", period: "day", limit_usd: 1 }] });
    const stub = env.TENANT_BUDGET.get(env.TENANT_BUDGET.idFromName(tenant.id));
    // 0.45 then 0.4: the second settlement crosses 0.8 once; the third stays between 0.8 and 0.9.
    for (const actual of [0.45, 0.4, 0.02]) {
      const input = admitInput({ estimateUsd: 0.1 });
      await stub.admit(tenant.id, input);
      await stub.settle(tenant.id, { requestId: input.requestId, actualUsd: actual, actualTokens: 5 });
    }
    // settle() enqueues its alerts before it returns, so the object's record of what it raised is already
    // final: exactly one alert (0.8), nothing for the third settlement. No waiting for an absence.
    const raised = await runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<{ kind: string; threshold: number }>("SELECT kind, threshold FROM alerts_sent").toArray());
    expect(raised).toEqual([{ kind: "threshold", threshold: 0.8 }]);
    await until(async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM alerts WHERE tenant_id = ? AND delivered_at IS NOT NULL").bind(tenant.id).first<{ n: number }>())?.n === 1);
    expect(deliveries).toHaveLength(1);
    const [delivery] = deliveries;
    expect(delivery?.event).toBe("budget_alert");
    expect(await verifyWebhook("test-webhook-secret", delivery?.body ?? "", delivery?.signature ?? "")).toBe(true);
    expect(await verifyWebhook("wrong-secret", delivery?.body ?? "", delivery?.signature ?? "")).toBe(false);
    expect(JSON.parse(delivery?.body ?? "{}")).toMatchObject({ tenant_id: tenant.id, kind: "threshold", threshold: 0.8, limit_usd: 1, scope: "tenant", period: "day" });
  });

  it("retries a failing webhook with backoff and keeps the alert in D1", async () => {
    receiver(500);
    const tenant = await createTenant({ policy: { alert_webhook: HOOK } });
    const alert = { type: "budget_alert", id: `${tenant.id}:x`, tenant_id: tenant.id, kind: "threshold", scope: "tenant", period: "day", period_key: "2026-11-21", threshold: 0.8, spent_usd: 0.8, limit_usd: 1, projected_usd: null, at: Date.now() };
    const batch = createMessageBatch("tollgate-alerts", [{ id: "m1", timestamp: new Date(), attempts: 2, body: alert }]);
    const ctx = createExecutionContext();
    await consumeAlertBatch(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toEqual([{ msgId: "m1" }]);
    expect(alertRetryDelay(2)).toBe(10);
    const row = await env.DB.prepare("SELECT delivered_at, delivery_attempts, last_error FROM alerts WHERE id = ?").bind(alert.id).first();
    expect(row).toMatchObject({ delivered_at: null, delivery_attempts: 2 });
    expect(String(row?.last_error)).toContain("500");
    expect(alertRetryDelay(1)).toBe(5);
    expect(alertRetryDelay(20)).toBe(600);
  });
});

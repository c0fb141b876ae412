import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";

type Row = { cost_usd: number; attempts: number };
const NO_CACHE = { "x-tollgate-cache": "no-store" };

describe("Idempotency-Key", () => {
  it("returns the same response for the same key and body, billed once", async () => {
    const { key } = await createTenant();
    const first = await chat(key, hello("Charge my card once"), { ...NO_CACHE, "idempotency-key": "order-1" });
    const second = await chat(key, hello("Charge my card once"), { ...NO_CACHE, "idempotency-key": "order-1" });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.headers.get("x-tollgate-idempotent-replay")).toBe("true");
    expect(second.headers.get("x-tollgate-model")).toBe("sim/fast");
    expect(await second.text()).toBe(await first.text());
    const a = await ledgerRow<Row>(first.headers.get("x-request-id") ?? "");
    const b = await ledgerRow<Row>(second.headers.get("x-request-id") ?? "");
    expect(a.cost_usd).toBeGreaterThan(0);
    expect(b).toMatchObject({ cost_usd: 0, attempts: 0 });
  });

  it("makes one upstream call for concurrent duplicates", async () => {
    const { key, id } = await createTenant();
    const responses = await Promise.all(Array.from({ length: 5 }, () => chat(key, hello("Only once, please"), { ...NO_CACHE, "idempotency-key": "burst-1" })));
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(new Set(bodies).size).toBe(1);
    expect(responses.every((r) => r.status === 200)).toBe(true);
    await Promise.all(responses.map((r) => ledgerRow(r.headers.get("x-request-id") ?? "")));
    const billed = await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger WHERE tenant_id = ? AND attempts > 0").bind(id).first<{ n: number }>();
    expect(billed?.n).toBe(1);
  });

  it("answers 409 for the same key with a different body, and is scoped per tenant", async () => {
    const a = await createTenant();
    const b = await createTenant();
    expect((await chat(a.key, hello("one"), { ...NO_CACHE, "idempotency-key": "k-1" })).status).toBe(200);
    const conflict = await chat(a.key, hello("two"), { ...NO_CACHE, "idempotency-key": "k-1" });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: { code: "idempotency_conflict", param: "idempotency-key" } });
    const otherTenant = await chat(b.key, hello("two"), { ...NO_CACHE, "idempotency-key": "k-1" });
    expect(otherTenant.status).toBe(200);
    expect(otherTenant.headers.get("x-tollgate-idempotent-replay")).toBeNull();
  });

  it("does not remember failures, so the client can retry with the same key", async () => {
    const { key } = await createTenant();
    const failed = await chat(key, hello(), { ...NO_CACHE, "idempotency-key": "retry-me", "x-tollgate-sim-fault": "500" });
    expect(failed.status).toBe(502);
    const retried = await chat(key, hello(), { ...NO_CACHE, "idempotency-key": "retry-me" });
    expect(retried.status).toBe(200);
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, call, chat, createTenant, hello } from "../fixtures/gateway";

describe("tenants and keys", () => {
  it("issues a tg_ key once and stores only its SHA-256 hash", async () => {
    const tenant = await createTenant();
    expect(tenant.key).toMatch(/^tg_[0-9A-Za-z]{43}$/);
    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(tenant.keyId).first<Record<string, unknown>>();
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(tenant.key));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(row?.key_hash).toBe(hex);
    expect(Object.values(row ?? {})).not.toContain(tenant.key);
    const details = await (await admin(`/admin/tenants/${tenant.id}`, "GET")).json<{ keys: Record<string, unknown>[] }>();
    expect(JSON.stringify(details)).not.toContain(tenant.key);
  });

  it("accepts the key as Bearer or x-api-key, and rejects a revoked key at once", async () => {
    const tenant = await createTenant();
    expect((await chat(tenant.key, hello())).status).toBe(200);
    const viaApiKey = await call("/v1/models", { headers: { "x-api-key": tenant.key } });
    expect(viaApiKey.status).toBe(200);

    const revoked = await admin(`/admin/keys/${tenant.keyId}`, "DELETE");
    expect(revoked.status).toBe(200);
    const after = await chat(tenant.key, hello());
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ error: { code: "invalid_api_key", type: "authentication_error" } });
  });

  it("rejects missing and unknown keys, and admin calls without the admin token", async () => {
    expect((await chat("", hello())).status).toBe(401);
    expect((await chat(`tg_${"a".repeat(43)}`, hello())).status).toBe(401);
    const tenant = await createTenant();
    const asTenant = await call("/admin/tenants", { method: "POST", headers: { authorization: `Bearer ${tenant.key}` }, body: "{}" });
    expect(asTenant.status).toBe(401);
    const wrongHeader = await call("/admin/tenants", { method: "POST", headers: { "x-api-key": "test-admin-token", "content-type": "application/json" }, body: '{"name":"x"}' });
    expect(wrongHeader.status).toBe(401);
  });

  it("keeps a second key working when the first is revoked, and 404s unknown ids", async () => {
    const tenant = await createTenant();
    const second = await (await admin(`/admin/tenants/${tenant.id}/keys`, "POST")).json<{ key: string }>();
    await admin(`/admin/keys/${tenant.keyId}`, "DELETE");
    expect((await chat(second.key, hello())).status).toBe(200);
    expect((await admin("/admin/keys/key_nope", "DELETE")).status).toBe(404);
    expect((await admin("/admin/tenants/ten_nope/keys", "POST")).status).toBe(404);
  });
});

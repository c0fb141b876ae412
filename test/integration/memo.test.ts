import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MEMO_MAX_BYTES, readMemo, writeMemo } from "../../src/cache/tool-memo";
import { call, createTenant } from "../fixtures/gateway";

const memo = (key: string, path: string, init: RequestInit = {}) =>
  call(`/v1/memo/${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) } });

const put = (key: string, path: string, body: BodyInit, headers: Record<string, string> = { "content-type": "application/json" }) => memo(key, path, { method: "PUT", body, headers });

describe("tool-result memo", () => {
  it("stores, returns and deletes a value with its content type", async () => {
    const { key } = await createTenant();
    const value = JSON.stringify({ sku: "A-1", stock: 12 });
    const created = await put(key, "inventory/sku%2FA-1?ttl_s=600", value);
    expect(created.status).toBe(201);
    const receipt = await created.json<{ bytes: number; ttl_s: number; expires_at: string; key: string }>();
    expect(receipt).toMatchObject({ bytes: value.length, ttl_s: 600, key: "sku/A-1" });
    expect(Date.parse(receipt.expires_at) - Date.now()).toBeGreaterThan(590_000);

    const read = await memo(key, "inventory/sku%2FA-1");
    expect(read.status).toBe(200);
    expect(read.headers.get("content-type")).toBe("application/json");
    expect(await read.text()).toBe(value);

    expect((await memo(key, "inventory/sku%2FA-1", { method: "DELETE" })).status).toBe(204);
    expect((await memo(key, "inventory/sku%2FA-1")).status).toBe(404);
  });

  it("is tenant-scoped: another tenant can neither read, overwrite nor delete it", async () => {
    const a = await createTenant();
    const b = await createTenant();
    await put(a.key, "tools/lookup", "a's result", { "content-type": "text/plain" });
    const peek = await memo(b.key, "tools/lookup");
    expect(peek.status).toBe(404);
    expect(await peek.json()).toMatchObject({ error: { code: "not_found" } });
    await put(b.key, "tools/lookup", "b's result", { "content-type": "text/plain" });
    expect((await memo(b.key, "tools/delete-me", { method: "DELETE" })).status).toBe(204);
    await memo(b.key, "tools/lookup", { method: "DELETE" });
    expect(await (await memo(a.key, "tools/lookup")).text()).toBe("a's result");
    expect((await memo(b.key, "tools/lookup")).status).toBe(404);
  });

  it("requires a key", async () => {
    expect((await call("/v1/memo/tools/x")).status).toBe(401);
  });

  it("enforces the size limit and validates the TTL and the namespace", async () => {
    const { key } = await createTenant();
    const big = put(key, "tools/big", "x".repeat(MEMO_MAX_BYTES + 1), { "content-type": "text/plain" });
    expect((await big).status).toBe(413);
    expect((await put(key, "tools/exact", "x".repeat(MEMO_MAX_BYTES), { "content-type": "text/plain" })).status).toBe(201);
    const shortTtl = await put(key, "tools/ttl?ttl_s=5", "v");
    expect(shortTtl.status).toBe(400);
    expect(await shortTtl.json()).toMatchObject({ error: { param: "ttl_s" } });
    expect((await put(key, "tools/ttl", "v", { "content-type": "text/plain", "x-tollgate-cache-ttl": "120" })).status).toBe(201);
    expect((await put(key, "bad%20namespace/k", "v")).status).toBe(400);
    expect((await put(key, "tools/empty", "")).status).toBe(400);
  });

  it("stops serving a value once its TTL has passed", async () => {
    const tenant = `ten_${crypto.randomUUID()}`;
    const address = { namespace: "tools", key: "clock" };
    await writeMemo(env.CACHE_KV, tenant, address, new Uint8Array([116, 105, 99, 107]).buffer as ArrayBuffer, "text/plain", 60);
    expect(await readMemo(env.CACHE_KV, tenant, address)).toBeDefined();
    const realNow = Date.now;
    Date.now = () => realNow() + 61_000;
    try {
      expect(await readMemo(env.CACHE_KV, tenant, address)).toBeUndefined();
    } finally {
      Date.now = realNow;
    }
  });
});

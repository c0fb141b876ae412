import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/auth/key-hash";
import { forgetKeyHash, lookupKeyHash, REVOCATION_BOUND_MS } from "../../src/auth/key-store";
import { ADMIN_TOKEN, admin, call, createTenant } from "../fixtures/gateway";

/**
 * Authentication at both doors: tenant keys on /v1, the admin token on /admin. Every tenant route is
 * tried without a key, with malformed keys (refused before any lookup), and with a revoked key; the
 * admin token is tried in every place it does not belong.
 */
const TENANT_ROUTES: [string, string][] = [
  ["POST", "/v1/chat/completions"], ["POST", "/v1/messages"], ["POST", "/v1/embeddings"], ["GET", "/v1/models"],
  ["GET", "/v1/usage"], ["GET", "/v1/budget"], ["POST", "/v1/feedback"], ["POST", "/v1/jobs"], ["GET", "/v1/jobs"],
  ["GET", "/v1/jobs/job_1"], ["DELETE", "/v1/jobs/job_1"], ["POST", "/v1/batches"], ["GET", "/v1/batches/batch_1"],
  ["GET", "/v1/batches/batch_1/results"], ["POST", "/v1/batches/batch_1/cancel"], ["PUT", "/v1/workflows/w"],
  ["GET", "/v1/workflows/w"], ["POST", "/v1/workflows/w/runs"], ["GET", "/v1/workflow-runs/wfr_1"],
  ["GET", "/v1/memo/ns/k"], ["PUT", "/v1/memo/ns/k"], ["DELETE", "/v1/memo/ns/k"], ["GET", "/v1/nope"],
];
const ADMIN_ROUTES: [string, string][] = [
  ["POST", "/admin/tenants"], ["GET", "/admin/tenants/ten_1"], ["POST", "/admin/tenants/ten_1/keys"], ["DELETE", "/admin/keys/key_1"],
  ["PUT", "/admin/tenants/ten_1/policy"], ["PUT", "/admin/tenants/ten_1/limits"], ["PUT", "/admin/tenants/ten_1/budgets"],
  ["GET", "/admin/reports/cost"], ["GET", "/admin/reports/profiles"], ["GET", "/admin/reports/forecast"], ["GET", "/admin/reports/budgets"],
  ["POST", "/admin/reports/rollups"], ["GET", "/admin/breakers"], ["DELETE", "/admin/breakers"], ["GET", "/admin/dead-letters"],
  ["GET", "/admin/dead-letters/dl_1"], ["POST", "/admin/dead-letters/dl_1/replay"], ["GET", "/admin/nope"],
];

const send = (method: string, path: string, headers: Record<string, string>) =>
  call(path, { method, headers: { "content-type": "application/json", ...headers }, body: method === "GET" || method === "DELETE" ? undefined : "{}" });

async function expect401(res: Response, what: string) {
  expect(res.status, what).toBe(401);
  expect(await res.json(), what).toMatchObject({ error: { code: "invalid_api_key", type: "authentication_error" } });
}

afterEach(() => vi.restoreAllMocks());

describe("auth: tenant keys", () => {
  it("a missing key is a 401 on every tenant route, before anything else runs", async () => {
    for (const [method, path] of TENANT_ROUTES) await expect401(await send(method, path, {}), `${method} ${path}`);
  });

  it("malformed keys are 401 and cost neither a D1 nor a KV read", async () => {
    const d1 = vi.spyOn(env.DB, "prepare");
    const kv = vi.spyOn(env.AUTH_KV, "get");
    const malformed = ["Bearer", "Bearer ", "Basic dGc6eA==", "Bearer tg_short", "Bearer sk-abcdefghijklmnopqrstuvwxyz", `Bearer tg_${"x".repeat(200)}`, "Bearer tg_abc def ghi jkl mno pqr", "Bearer tg_abc!def@ghi#jkl$mno%pqr^stu", "tg_missingbearerprefixxxxxxxxx", `Bearer ${"tg_".repeat(20)}`];
    for (const authorization of malformed) await expect401(await send("GET", "/v1/models", { authorization }), authorization);
    for (const apiKey of ["", " ", "garbage", "tg_", "TG_abcdefghijklmnopqrstuvwxyz"]) await expect401(await send("GET", "/v1/models", { "x-api-key": apiKey }), `x-api-key ${apiKey}`);
    expect(d1).not.toHaveBeenCalled();
    expect(kv).not.toHaveBeenCalled();
    // The spies do see the worker's bindings: a well-formed unknown key is looked up.
    await expect401(await send("GET", "/v1/models", { authorization: `Bearer tg_${"W".repeat(43)}` }), "well-formed unknown key");
    expect(kv).toHaveBeenCalled();
    expect(d1).toHaveBeenCalled();
  });

  it("a well-formed unknown key is a 401 and is not remembered in KV (guesses cannot fill the namespace)", async () => {
    const guess = `tg_${"Q".repeat(43)}`;
    await expect401(await send("GET", "/v1/models", { authorization: `Bearer ${guess}` }), "unknown key");
    expect(await env.AUTH_KV.get(`key:${await sha256Hex(guess)}`)).toBeNull();
  });

  it("a revoked key is a 401 on every tenant route at once, in this isolate and in KV", async () => {
    const tenant = await createTenant();
    const hash = await sha256Hex(tenant.key);
    expect((await send("GET", "/v1/models", { authorization: `Bearer ${tenant.key}` })).status).toBe(200);
    expect(await env.AUTH_KV.get(`key:${hash}`)).not.toBeNull();
    expect((await admin(`/admin/keys/${tenant.keyId}`, "DELETE")).status).toBe(200);
    expect(await env.AUTH_KV.get(`key:${hash}`)).toBeNull();
    for (const [method, path] of TENANT_ROUTES) await expect401(await send(method, path, { authorization: `Bearer ${tenant.key}` }), `${method} ${path}`);
    await expect401(await send("GET", "/v1/models", { "x-api-key": tenant.key }), "x-api-key after revoke");
    // Revoking twice keeps the first revocation time.
    const first = await (await admin(`/admin/keys/${tenant.keyId}`, "DELETE")).json<{ revoked_at: number }>();
    const row = await env.DB.prepare("SELECT revoked_at FROM api_keys WHERE id = ?").bind(tenant.keyId).first<{ revoked_at: number }>();
    expect(first.revoked_at).toBe(row?.revoked_at);
  });
});

describe("auth: the revocation bound", () => {
  it("a key revoked in D1 while a KV cache still holds its copy is refused within 60 s, even by an isolate that reads that copy late", async () => {
    const tenant = await createTenant();
    const hash = await sha256Hex(tenant.key);
    const t0 = Date.now();
    expect(await lookupKeyHash(env, hash, t0)).not.toBeNull();
    // Revoked at another location: D1 changes, this location's KV copy has not caught up (not deleted).
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(t0, tenant.keyId).run();
    expect(await env.AUTH_KV.get(`key:${hash}`)).not.toBeNull();
    // A fresh isolate reading the lingering copy late in its life may keep it only until the copy is 60 s old...
    forgetKeyHash(hash);
    expect(await lookupKeyHash(env, hash, t0 + 50_000)).not.toBeNull();
    expect(await lookupKeyHash(env, hash, t0 + REVOCATION_BOUND_MS - 1)).not.toBeNull();
    // ...not for another isolate TTL on top: from 60 s on, the copy is not trusted and D1 decides.
    expect(await lookupKeyHash(env, hash, t0 + REVOCATION_BOUND_MS)).toBeNull();
    forgetKeyHash(hash);
    expect(await lookupKeyHash(env, hash, t0 + REVOCATION_BOUND_MS + 1)).toBeNull();
    expect(REVOCATION_BOUND_MS).toBe(60_000);
  });
});

describe("auth: the admin token", () => {
  it("is refused in every place but Authorization: Bearer, on every admin route", async () => {
    const tenant = await createTenant();
    const wrong: Record<string, string>[] = [
      {},
      { "x-api-key": ADMIN_TOKEN },
      { authorization: ADMIN_TOKEN },
      { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` },
      { authorization: `Token ${ADMIN_TOKEN}` },
      { authorization: `Bearer ${ADMIN_TOKEN}x` },
      { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` },
      { authorization: `Bearer ${tenant.key}` },
      { "x-admin-token": ADMIN_TOKEN },
      { cookie: `tg_admin=${ADMIN_TOKEN}` },
      { cookie: "tg_admin=admin" },
    ];
    for (const [method, path] of ADMIN_ROUTES) {
      for (const headers of wrong) await expect401(await send(method, path, headers), `${method} ${path} ${JSON.stringify(headers)}`);
    }
    await expect401(await send("GET", `/admin/breakers?token=${ADMIN_TOKEN}`, {}), "token in the query string");
    expect((await send("GET", "/admin/breakers", { authorization: `Bearer ${ADMIN_TOKEN}` })).status).toBe(200);
  });

  it("is not a tenant key, and a tenant key is not an admin token", async () => {
    await expect401(await send("GET", "/v1/models", { authorization: `Bearer ${ADMIN_TOKEN}` }), "admin token on /v1");
    await expect401(await send("GET", "/v1/models", { "x-api-key": ADMIN_TOKEN }), "admin token as x-api-key");
    const tenant = await createTenant();
    await expect401(await send("GET", "/admin/reports/cost", { authorization: `Bearer ${tenant.key}` }), "tenant key on /admin");
  });

  it("with no ADMIN_TOKEN configured, nothing opens the admin API (fails closed)", async () => {
    const unset = env as { ADMIN_TOKEN: string };
    const token = unset.ADMIN_TOKEN;
    unset.ADMIN_TOKEN = "";
    try {
      for (const headers of [{}, { authorization: "Bearer " }, { authorization: "Bearer undefined" }, { cookie: "tg_admin=admin" }] as Record<string, string>[]) await expect401(await send("GET", "/admin/breakers", headers), JSON.stringify(headers));
      const signIn = await call("/dashboard/sign-in", { method: "POST", body: new URLSearchParams({ token: "" }), redirect: "manual" });
      expect(signIn.headers.get("set-cookie")).toBeNull();
    } finally {
      unset.ADMIN_TOKEN = token;
    }
  });
});

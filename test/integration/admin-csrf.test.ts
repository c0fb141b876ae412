import { serializeSigned } from "hono/utils/cookie";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, admin, BASE, call, createTenant } from "../fixtures/gateway";

// Finding 6 of issue 11: a page on another port of the same host (same site, so SameSite=Strict
// still sends the cookie) posts to the admin API with the dashboard's session cookie.
const CROSS_PORT = "http://tollgate.test:8788";

async function signIn(): Promise<string> {
  const res = await call("/dashboard/sign-in", {
    method: "POST",
    headers: { origin: BASE, "sec-fetch-site": "same-origin" },
    body: new URLSearchParams({ token: ADMIN_TOKEN }),
    redirect: "manual",
  });
  expect(res.status).toBe(303);
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  expect(cookie).toMatch(/^tg_admin=/);
  return cookie;
}

/** The token as a signed-in page carries it: the sign-out form's hidden field. */
async function pageToken(cookie: string): Promise<string> {
  const html = await (await call("/dashboard", { headers: { cookie } })).text();
  const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error("no CSRF token on the dashboard page");
  return token;
}

async function keyCount(tenantId: string): Promise<number> {
  const res = await admin(`/admin/tenants/${tenantId}`, "GET");
  expect(res.status).toBe(200);
  return (await res.json<{ keys: unknown[] }>()).keys.length;
}

async function expectRefused(res: Response): Promise<void> {
  expect(res.status).toBe(403);
  const body = await res.json<{ error: { code: string; type: string } }>();
  expect(body.error.code).toBe("csrf_rejected");
}

const mintKey = (tenantId: string, init: RequestInit) => call(`/admin/tenants/${tenantId}/keys`, { method: "POST", ...init });

describe("cookie-authenticated admin writes (CSRF)", () => {
  let tenant: string;
  let cookie: string;

  beforeAll(async () => {
    tenant = (await createTenant()).id;
    cookie = await signIn();
  });

  it("refuses the cross-port auto-submitted text/plain form post, and mints no key", async () => {
    const before = await keyCount(tenant);
    // What Chromium sends for <form enctype="text/plain" method="post"> on 127.0.0.1:Q targeting :P.
    const res = await mintKey(tenant, {
      headers: { cookie, origin: CROSS_PORT, "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate", "content-type": "text/plain" },
      body: '{"x":"=y"}',
    });
    await expectRefused(res);
    expect(await keyCount(tenant)).toBe(before);
  });

  it("refuses the cross-port no-cors fetch, and an old browser that sends only Origin", async () => {
    const before = await keyCount(tenant);
    await expectRefused(await mintKey(tenant, { headers: { cookie, origin: CROSS_PORT, "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "content-type": "text/plain" } }));
    await expectRefused(await mintKey(tenant, { headers: { cookie, origin: CROSS_PORT } }));
    await expectRefused(await mintKey(tenant, { headers: { cookie, origin: "null" } }));
    expect(await keyCount(tenant)).toBe(before);
  });

  it("refuses a post with no Origin when Sec-Fetch-Site says cross-site or same-site, or when neither header is sent", async () => {
    const before = await keyCount(tenant);
    const token = await pageToken(cookie);
    // Even with the right token: the browser says the request did not come from our origin.
    await expectRefused(await mintKey(tenant, { headers: { cookie, "sec-fetch-site": "cross-site", "x-csrf-token": token } }));
    await expectRefused(await mintKey(tenant, { headers: { cookie, "sec-fetch-site": "same-site", "x-csrf-token": token } }));
    await expectRefused(await mintKey(tenant, { headers: { cookie, "x-csrf-token": token } }));
    // Sec-Fetch-Site wins over an Origin that happens to match (a page cannot set it).
    await expectRefused(await mintKey(tenant, { headers: { cookie, origin: BASE, "sec-fetch-site": "same-site", "x-csrf-token": token } }));
    expect(await keyCount(tenant)).toBe(before);
  });

  it("refuses a same-origin post without the session's token, with a wrong one, or with another session's", async () => {
    const before = await keyCount(tenant);
    const sameOrigin = { cookie, origin: BASE, "sec-fetch-site": "same-origin" };
    await expectRefused(await mintKey(tenant, { headers: sameOrigin }));
    await expectRefused(await mintKey(tenant, { headers: { ...sameOrigin, "x-csrf-token": "not-the-token" } }));
    const otherSession = await signIn();
    expect(otherSession).not.toBe(cookie);
    await expectRefused(await mintKey(tenant, { headers: { ...sameOrigin, "x-csrf-token": await pageToken(otherSession) } }));
    expect(await keyCount(tenant)).toBe(before);
  });

  it("lets the signed-in page write same-origin with its token (Origin or Sec-Fetch-Site alone)", async () => {
    const before = await keyCount(tenant);
    const token = await pageToken(cookie);
    const byOrigin = await mintKey(tenant, { headers: { cookie, origin: BASE, "x-csrf-token": token } });
    expect(byOrigin.status).toBe(201);
    expect((await byOrigin.json<{ key: string }>()).key).toMatch(/^tg_/);
    const bySite = await mintKey(tenant, { headers: { cookie, "sec-fetch-site": "same-origin", "x-csrf-token": token } });
    expect(bySite.status).toBe(201);
    expect(await keyCount(tenant)).toBe(before + 2);
  });

  it("leaves cookie reads and bearer-token writes as they were", async () => {
    const read = await call(`/admin/tenants/${tenant}`, { headers: { cookie, origin: CROSS_PORT, "sec-fetch-site": "same-site" } });
    expect(read.status).toBe(200);
    const bearer = await mintKey(tenant, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, origin: CROSS_PORT, "sec-fetch-site": "cross-site", "content-type": "text/plain" } });
    expect(bearer.status).toBe(201);
  });

  it("refuses an expired session and the old constant cookie, however well signed", async () => {
    const issued = Math.floor(Date.now() / 1000) - 9 * 3600;
    for (const value of [`s1_${issued}_${"ab".repeat(16)}`, "admin"]) {
      const forged = (await serializeSigned("tg_admin", value, ADMIN_TOKEN)).split(";")[0] ?? "";
      expect((await call("/admin/reports/cost", { headers: { cookie: forged } })).status).toBe(401);
    }
  });
});

describe("dashboard sign-in and sign-out (login CSRF)", () => {
  it("refuses a sign-in posted from another origin, and sets no cookie", async () => {
    const attempts: Record<string, string>[] = [{ origin: CROSS_PORT }, { origin: CROSS_PORT, "sec-fetch-site": "same-site" }, { "sec-fetch-site": "cross-site" }];
    for (const headers of attempts) {
      const res = await call("/dashboard/sign-in", { method: "POST", headers, body: new URLSearchParams({ token: ADMIN_TOKEN }), redirect: "manual" });
      await expectRefused(res);
      expect(res.headers.get("set-cookie")).toBeNull();
    }
  });

  it("signs a live session out only from its own page, with its token", async () => {
    const cookie = await signIn();
    const signOut = (headers: Record<string, string>, body: Record<string, string> = {}) =>
      call("/dashboard/sign-out", { method: "POST", headers: { cookie, ...headers }, body: new URLSearchParams(body), redirect: "manual" });
    await expectRefused(await signOut({ origin: CROSS_PORT, "sec-fetch-site": "same-site" }, { csrf: await pageToken(cookie) }));
    await expectRefused(await signOut({ origin: BASE, "sec-fetch-site": "same-origin" }));
    const ok = await signOut({ origin: BASE, "sec-fetch-site": "same-origin" }, { csrf: await pageToken(cookie) });
    expect(ok.status).toBe(303);
    expect(ok.headers.get("set-cookie")).toMatch(/tg_admin=;.*Max-Age=0/i);
  });
});

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isAdminToken } from "../../src/auth/admin-auth";
import { constantTimeEqual, sha256Hex } from "../../src/auth/key-hash";
import { ADMIN_TOKEN, call, chat, createTenant, hello } from "../fixtures/gateway";
import { tenantLedger } from "../fixtures/fault-fixtures";
import { postJob, tenantCall, waitForJob } from "../fixtures/jobs-fixtures";

/**
 * Secrets: which comparison the admin token goes through, and where keys must never appear: logs, the
 * ledger, job rows, dead letters, caches, error messages. Whether the comparison is constant time is not
 * measured here: a nanosecond difference cannot be seen through millisecond HTTP calls, so a timing test
 * could neither catch a leak nor stay green on a busy machine. What can be checked is that every
 * candidate, whatever its length or likeness, takes the same path into the runtime's timingSafeEqual.
 */
afterEach(() => vi.restoreAllMocks());

describe("auth: token comparison goes through the constant-time primitive", () => {
  it("constantTimeEqual: equal, unequal, same-length and different-length inputs all hash to 32 bytes and meet one timingSafeEqual", async () => {
    const digest = vi.spyOn(crypto.subtle, "digest");
    const safeEqual = vi.spyOn(crypto.subtle, "timingSafeEqual");
    const secret = "s3cret-admin-token-0123456789abcdef";
    for (const candidate of [secret, `${secret.slice(0, -1)}X`, "X".repeat(secret.length), "short", "x".repeat(5_000), ""]) {
      digest.mockClear();
      safeEqual.mockClear();
      expect(await constantTimeEqual(candidate, secret)).toBe(candidate === secret);
      // The same work for every candidate: two digests, one fixed-size comparison, no early exit.
      expect(digest).toHaveBeenCalledTimes(2);
      expect(safeEqual).toHaveBeenCalledTimes(1);
      const [left, right] = safeEqual.mock.calls[0] ?? [];
      expect([(left as ArrayBuffer).byteLength, (right as ArrayBuffer).byteLength]).toEqual([32, 32]);
    }
  });

  it("the admin check goes through it, and an empty or missing token is refused before any comparison", async () => {
    const safeEqual = vi.spyOn(crypto.subtle, "timingSafeEqual");
    expect(await isAdminToken(env, `${ADMIN_TOKEN.slice(0, -1)}x`)).toBe(false);
    expect(safeEqual).toHaveBeenCalledTimes(1);
    expect(await isAdminToken(env, undefined)).toBe(false);
    expect(await isAdminToken(env, "")).toBe(false);
    expect(safeEqual).toHaveBeenCalledTimes(1);
  });
});

describe("auth: keys never leave as text", () => {
  it("no tenant key, key hash, admin token or provider key appears in logs, the ledger, job rows, KV or error messages", async () => {
    const providerKey = "sk-provider-SENTINEL-0123456789";
    const lines: string[] = [];
    const capture = (line: unknown) => void lines.push(String(line));
    for (const level of ["log", "info", "warn", "error", "debug"] as const) vi.spyOn(console, level).mockImplementation(capture);
    // An upstream that echoes the Authorization header it was sent, as some self-hosted servers do.
    const mutable = env as { OPENAI_API_KEY: string; OPENAI_BASE_URL: string };
    Object.assign(mutable, { OPENAI_API_KEY: providerKey, OPENAI_BASE_URL: "https://upstream.test/v1" });
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (!request.url.startsWith("https://upstream.test/")) return realFetch(input, init);
      return Response.json({ error: { message: `Incorrect API key provided: ${request.headers.get("authorization")}` } }, { status: 401 });
    });
    try {
      const tenant = await createTenant({ policy: { log_content: true } });
      // Only the echoing provider may serve this tenant, so its error is the one the client is told about.
      const onlyOpenai = await createTenant({ policy: { log_content: true, allowed_models: ["openai/gpt-4o-mini"] } });
      const hash = await sha256Hex(tenant.key);
      const answers: string[] = [];
      const keep = async (res: Response) => {
        answers.push(await res.text());
        return res;
      };
      const ok = await keep(await chat(tenant.key, hello("a normal request")));
      await keep(await chat(tenant.key, { ...hello("stream me"), stream: true }));
      await keep(await chat(tenant.key, hello("x", "no-such/model")));
      const upstream = await keep(await chat(onlyOpenai.key, hello("through the echoing upstream", "openai/gpt-4o-mini"), { "x-tollgate-cache": "no-store" }));
      expect(upstream.status).toBe(502);
      // The upstream did echo the key; the client sees where it was cut out.
      expect(answers.at(-1)).toContain("Incorrect API key provided: Bearer [redacted]");
      await keep(await call("/v1/messages", { method: "POST", headers: { "x-api-key": tenant.key, "content-type": "application/json" }, body: JSON.stringify({ model: "sim/fast", max_tokens: 20, messages: [{ role: "user", content: "hi" }] }) }));
      await keep(await call("/v1/models", { headers: { authorization: `Bearer ${tenant.key}x` } }));
      await keep(await call("/admin/breakers", { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } }));
      await keep(await call("/admin/breakers", { headers: { authorization: `Bearer ${tenant.key}` } }));
      const job = await postJob(tenant.key, { request: hello("a job"), priority: "interactive" });
      await waitForJob(tenant.key, job.id);
      await keep(await tenantCall(tenant.key, `/v1/jobs/${job.id}`));
      // Every request that makes a ledger row has made it (five for the tenant, one through the echoing
      // upstream): the books are complete before they are searched, so an absence below means something.
      const ledger = [...(await tenantLedger(tenant.id, 5)), ...(await tenantLedger(onlyOpenai.id, 1))];
      expect(ledger.map((row) => row.request_id)).toEqual(expect.arrayContaining([ok.headers.get("x-request-id"), upstream.headers.get("x-request-id")]));
      const { results: jobs } = await env.DB.prepare("SELECT * FROM jobs WHERE tenant_id = ?").bind(tenant.id).all();
      const { results: keys } = await env.DB.prepare("SELECT * FROM api_keys WHERE tenant_id = ?").bind(tenant.id).all();
      const kv = await env.AUTH_KV.get(`key:${hash}`);
      expect(lines.length).toBeGreaterThan(5);
      const haystacks: [string, string][] = [["logs", lines.join("\n")], ["responses", answers.join("\n")], ["ledger", JSON.stringify(ledger)], ["jobs", JSON.stringify(jobs)], ["kv", kv ?? ""]];
      for (const [where, text] of haystacks) {
        for (const [what, secret] of [["tenant key", tenant.key], ["admin token", ADMIN_TOKEN], ["provider key", providerKey], ["key hash", hash]]) {
          expect(text.includes(secret ?? "\u0000"), `${what} in ${where}`).toBe(false);
        }
      }
      // The key's row holds its hash and an 8-character prefix, never the key.
      expect(JSON.stringify(keys)).not.toContain(tenant.key);
      expect(JSON.stringify(keys)).toContain(tenant.key.slice(0, 8));
    } finally {
      Object.assign(mutable, { OPENAI_API_KEY: "", OPENAI_BASE_URL: "" });
    }
  }, 30_000);
});

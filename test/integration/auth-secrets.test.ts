import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isAdminToken } from "../../src/auth/admin-auth";
import { constantTimeEqual, sha256Hex } from "../../src/auth/key-hash";
import { ADMIN_TOKEN, admin, call, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";
import { postJob, tenantCall, waitForJob } from "../fixtures/jobs-fixtures";

/**
 * Secrets: how the admin token is compared (constant time, structurally and measured), and where keys
 * must never appear: logs, the ledger, job rows, dead letters, caches, error messages.
 */
afterEach(() => vi.restoreAllMocks());

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

describe("auth: constant-time token comparison", () => {
  it("structurally: both sides are hashed to 32 bytes and compared with timingSafeEqual, whatever their length or likeness", async () => {
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

  it("measured: a near-miss token takes as long to refuse as a far-miss or a short one (generous tolerance)", async () => {
    // Interleaved blocks, so drift on a busy 2-core machine hits every candidate alike; medians, so
    // one stall does not decide. A real leak (an early exit, a lookup only for near misses) shows up as
    // a consistent gap; noise does not reach a factor of 3.
    const candidates = { near: `${ADMIN_TOKEN.slice(0, -1)}x`, far: "z".repeat(ADMIN_TOKEN.length), short: "z" };
    const samples: Record<keyof typeof candidates, number[]> = { near: [], far: [], short: [] };
    for (let block = 0; block < 12; block++) {
      for (const name of Object.keys(candidates) as (keyof typeof candidates)[]) {
        const t0 = performance.now();
        for (let i = 0; i < 40; i++) await call("/admin/breakers", { headers: { authorization: `Bearer ${candidates[name]}` } }).then((r) => r.body?.cancel());
        samples[name].push(performance.now() - t0);
      }
    }
    const [near, far, short] = [median(samples.near), median(samples.far), median(samples.short)];
    for (const other of [far, short]) {
      expect(near / other).toBeLessThan(3);
      expect(near / other).toBeGreaterThan(1 / 3);
    }
  }, 60_000);
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
      await ledgerRow(ok.headers.get("x-request-id") ?? "");
      await ledgerRow(upstream.headers.get("x-request-id") ?? "");
      await new Promise((resolve) => setTimeout(resolve, 1_500));

      const { results: ledger } = await env.DB.prepare("SELECT * FROM ledger WHERE tenant_id = ?").bind(tenant.id).all();
      const { results: jobs } = await env.DB.prepare("SELECT * FROM jobs WHERE tenant_id = ?").bind(tenant.id).all();
      const { results: keys } = await env.DB.prepare("SELECT * FROM api_keys WHERE tenant_id = ?").bind(tenant.id).all();
      const kv = await env.AUTH_KV.get(`key:${hash}`);
      expect(ledger.length).toBeGreaterThanOrEqual(5);
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

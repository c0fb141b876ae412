import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { admin, call, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";
import { tenantCall } from "../fixtures/jobs-fixtures";

/**
 * Injection and limits. Every name a client chooses goes into SQL through bound parameters only:
 * hostile names are stored and read back byte for byte, or refused by the field's own rule, and the
 * schema is the same afterwards. Header values cannot carry CR/LF; bodies, arrays and nesting have
 * ceilings that answer 4xx.
 */
const HOSTILE = [
  "Robert'); DROP TABLE tenants;--",
  "' OR '1'='1",
  '" OR ""="',
  "x'; DELETE FROM ledger WHERE '1'='1",
  "1; UPDATE api_keys SET revoked_at = NULL; --",
  "%' UNION SELECT key_hash, id FROM api_keys --",
  "\\'; -- \\x00 \u0000 end",
  "名前'--💥",
];

async function schemaSnapshot(): Promise<string> {
  const { results } = await env.DB.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name").all();
  return JSON.stringify(results);
}

afterEach(() => vi.restoreAllMocks());

describe("injection: SQL metacharacters in every name field", () => {
  it("tenant names are stored and read back verbatim; reports group by them safely; tables intact", async () => {
    const before = await schemaSnapshot();
    const tenantCount = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM tenants").first<{ n: number }>())?.n ?? 0;
    const countBefore = await tenantCount();
    for (const name of HOSTILE) {
      const created = await admin("/admin/tenants", "POST", { name });
      expect(created.status, name).toBe(201);
      const { id } = await created.json<{ id: string }>();
      expect((await (await admin(`/admin/tenants/${id}`, "GET")).json<{ name: string }>()).name).toBe(name.trim());
    }
    // Report filters are parameters too: a hostile filter matches nothing instead of everything.
    for (const filter of HOSTILE) {
      const report = await (await admin(`/admin/reports/cost?group_by=tenant&tenant=${encodeURIComponent(filter)}`, "GET")).json<{ data: unknown[] }>();
      expect(report.data, filter).toEqual([]);
      const letters = await (await admin(`/admin/dead-letters?queue=${encodeURIComponent(filter)}&tenant_id=${encodeURIComponent(filter)}`, "GET")).json<{ data: unknown[] }>();
      expect(letters.data, filter).toEqual([]);
    }
    expect(await tenantCount()).toBe(countBefore + HOSTILE.length);
    expect(await schemaSnapshot()).toBe(before);
  });

  it("batch custom_id, memo key, batch metadata and workflow input come back byte for byte", async () => {
    const tenant = await createTenant();
    const requests = HOSTILE.map((custom_id) => ({ custom_id, body: hello(`item ${custom_id}`) }));
    const metadata = { note: HOSTILE[0] ?? "", "key'--": HOSTILE[1] ?? "" };
    const batch = await (await tenantCall(tenant.key, "/v1/batches", "POST", { requests, metadata, off_peak: true })).json<{ id: string; metadata: unknown }>();
    expect(batch.metadata).toEqual(metadata);
    const lines = (await (await tenantCall(tenant.key, `/v1/batches/${batch.id}/results`)).text()).trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(HOSTILE);

    for (const key of HOSTILE) {
      const path = `/v1/memo/tools/${encodeURIComponent(key)}`;
      expect((await tenantCall(tenant.key, path, "PUT", { key })).status, key).toBe(201);
      expect(await (await tenantCall(tenant.key, path)).json(), key).toEqual({ key });
    }

    const steps = [{ name: "echo", prompt: "Repeat {{input.text}}" }];
    expect((await tenantCall(tenant.key, "/v1/workflows/echo", "PUT", { steps })).status).toBe(200);
    const run = await (await tenantCall(tenant.key, "/v1/workflows/echo/runs", "POST", { input: { text: HOSTILE.join(" | ") } })).json<{ id: string }>();
    const stored = await env.DB.prepare("SELECT input_json FROM workflow_runs WHERE id = ?").bind(run.id).first<{ input_json: string }>();
    expect(JSON.parse(stored?.input_json ?? "{}")).toEqual({ text: HOSTILE.join(" | ") });
  });

  it("names with their own rules (workflow, memo namespace, task, budget scope) refuse metacharacters with a 400", async () => {
    const tenant = await createTenant();
    const before = await schemaSnapshot();
    for (const name of HOSTILE) {
      const encoded = encodeURIComponent(name);
      expect((await tenantCall(tenant.key, `/v1/workflows/${encoded}`, "PUT", { steps: [{ name: "a", prompt: "x" }] })).status, name).toBe(400);
      expect((await tenantCall(tenant.key, `/v1/workflows/w/runs`, "POST", { input: {} })).status).toBe(404);
      expect((await tenantCall(tenant.key, `/v1/memo/${encoded}/k`, "PUT", { a: 1 })).status, name).toBe(400);
      expect((await chat(tenant.key, hello(), { "x-tollgate-task": name.replace(/[^\x20-\x7e]/g, "?") })).status, name).toBe(400);
      expect((await admin(`/admin/tenants/${tenant.id}/budgets`, "PUT", [{ scope: `task:${name}`, period: "day", limit_usd: 1 }])).status, name).toBe(400);
    }
    expect(await schemaSnapshot()).toBe(before);
  });

  it("the usage grouping is chosen from a fixed map, never from the query", async () => {
    const tenant = await createTenant();
    const res = await chat(tenant.key, hello("count me"));
    await ledgerRow(res.headers.get("x-request-id") ?? "");
    for (const group of ["task; DROP TABLE ledger", "tenant_id", "(SELECT key_hash FROM api_keys)"]) {
      const refused = await tenantCall(tenant.key, `/v1/usage?group_by=${encodeURIComponent(group)}`);
      expect(refused.status, group).toBe(400);
    }
    expect((await (await tenantCall(tenant.key, "/v1/usage?group_by=model")).json<{ data: unknown[] }>()).data).toHaveLength(1);
  });
});

describe("injection: header values", () => {
  it("CR and LF cannot be put into a header value: the platform refuses to build the request", () => {
    for (const value of ["a\r\nX-Injected: 1", "a\nSet-Cookie: x=1", "a\rb"]) {
      expect(() => new Headers({ "x-tollgate-task": value })).toThrow(TypeError);
      expect(() => new Request("http://tollgate.test/v1/models", { headers: { authorization: `Bearer tg_x${value}` } })).toThrow(TypeError);
    }
  });

  it("a stored memo content type with CR/LF (a poisoned KV entry) is never written into a response header", async () => {
    const tenant = await createTenant();
    expect((await tenantCall(tenant.key, "/v1/memo/tools/poisoned", "PUT", { a: 1 })).status).toBe(201);
    // Rewrite the entry's metadata as someone with KV access could.
    const { keys } = await env.CACHE_KV.list({ prefix: `memo:${tenant.id}:tools:` });
    const name = keys[0]?.name ?? "";
    const { value, metadata } = await env.CACHE_KV.getWithMetadata<Record<string, unknown>>(name, "arrayBuffer");
    await env.CACHE_KV.put(name, value ?? "", { metadata: { ...metadata, content_type: "text/html\r\nSet-Cookie: stolen=1" } });
    const res = await tenantCall(tenant.key, "/v1/memo/tools/poisoned");
    // Treated as absent: a 404, never a 500 and never a smuggled header.
    expect(res.status).toBe(404);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(res.headers.get("content-type") ?? "").not.toMatch(/[\r\n]/);
  });

  it("tabs, quotes and semicolons in hint headers are refused by the hint's own rule", async () => {
    const tenant = await createTenant();
    const cases: [string, string][] = [["x-tollgate-task", "a\tb"], ["x-tollgate-task", 'a"b'], ["x-tollgate-tier", "fast; powerful"], ["x-tollgate-cache", "no-store,default"], ["idempotency-key", "k".repeat(256)]];
    for (const [name, value] of cases) {
      const res = await chat(tenant.key, hello(), { [name]: value });
      expect(res.status, `${name}: ${value}`).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: "invalid_request", param: name } });
    }
  });
});

describe("limits: size and depth", () => {
  const big = "x".repeat(1_100_000);
  const streamOf = (text: string) => new Response(text).body;

  it("bodies over 1 MiB are 413 on every endpoint that takes one, with or without a content-length", async () => {
    const tenant = await createTenant();
    const bearer = { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" };
    const paths = ["/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/jobs", "/v1/batches", "/v1/workflows/w", "/v1/feedback"];
    for (const path of paths) {
      const method = path === "/v1/workflows/w" ? "PUT" : "POST";
      const sized = await call(path, { method, headers: bearer, body: JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: big }] }) });
      expect(sized.status, path).toBe(413);
      expect(await sized.json()).toMatchObject({ error: { code: "payload_too_large" } });
      const chunked = await call(path, { method, headers: bearer, body: streamOf(big), duplex: "half" } as RequestInit);
      expect(chunked.status, `${path} (no content-length)`).toBe(413);
    }
    const adminBig = await admin("/admin/tenants", "POST", { name: big });
    expect(adminBig.status).toBe(413);
    // The memo has its own, smaller ceiling.
    const memo = await call("/v1/memo/tools/big", { method: "PUT", headers: bearer, body: "y".repeat(300 * 1024) });
    expect(memo.status).toBe(413);
  });

  it("oversized arrays are 400 naming the field; the largest allowed messages array is served", async () => {
    const tenant = await createTenant({ limits: { rpm: 1_000, tpm: 100_000_000, max_in_flight: 100 } });
    const tooMany = await chat(tenant.key, { model: "sim/fast", messages: Array.from({ length: 2049 }, () => ({ role: "user", content: "x" })) });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({ error: { param: "messages" } });
    const most = await chat(tenant.key, { model: "sim/fast", max_tokens: 8, messages: Array.from({ length: 2048 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `turn ${i}` })) });
    expect(most.status).toBe(200);
    const batch = await tenantCall(tenant.key, "/v1/batches", "POST", { requests: Array.from({ length: 1001 }, (_, i) => ({ custom_id: `c${i}`, body: hello("x") })) });
    expect(batch.status).toBe(400);
    expect(await batch.json()).toMatchObject({ error: { param: "requests" } });
    const embeddings = await tenantCall(tenant.key, "/v1/embeddings", "POST", { model: "sim/embed", input: Array.from({ length: 2049 }, () => "x") });
    expect(embeddings.status).toBe(400);
    const tools = Array.from({ length: 129 }, (_, i) => ({ type: "function", function: { name: `f${i}` } }));
    expect((await chat(tenant.key, { ...hello(), tools })).status).toBe(400);
  });

  it("deeply nested JSON is refused with a 400 everywhere a JSON body is read, however deep", async () => {
    const tenant = await createTenant();
    const nest = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    const bodies = [nest(65), nest(5_000), `${"[".repeat(100_000)}${"]".repeat(100_000)}`];
    const targets: [string, string, Record<string, string>][] = [
      ["/v1/chat/completions", "POST", { authorization: `Bearer ${tenant.key}` }],
      ["/v1/jobs", "POST", { authorization: `Bearer ${tenant.key}` }],
      ["/v1/workflows/w/runs", "POST", { authorization: `Bearer ${tenant.key}` }],
      ["/admin/tenants", "POST", { authorization: "Bearer test-admin-token" }],
    ];
    for (const [path, method, auth] of targets) {
      for (const body of bodies) {
        const res = await call(path, { method, headers: { ...auth, "content-type": "application/json" }, body });
        expect(res.status, `${path} depth ${body.length}`).toBe(400);
      }
    }
    // Nesting inside a valid chat body (a tool's parameters) is bounded the same way.
    const deepParams = JSON.parse(nest(70)) as Record<string, unknown>;
    const res = await chat(tenant.key, { ...hello(), tools: [{ type: "function", function: { name: "f", parameters: deepParams } }] });
    expect(res.status).toBe(400);
  });
});

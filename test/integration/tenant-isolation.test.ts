import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { chat, createTenant, hello, ledgerRow, type TestTenant } from "../fixtures/gateway";
import { noEmbedder, useFakeEmbedder } from "../fixtures/cache-fake-embedder";
import { deliver, getJobView, insertQueuedJob, postJob, QUEUE, tenantCall, waitFor } from "../fixtures/jobs-fixtures";

/**
 * Tenant isolation, one resource type at a time. Tenant A creates something; tenant B, with its own
 * valid key, tries to read, change or reuse it. B must get a 404 that looks exactly like "no such
 * thing" (so ids cannot even be probed), or its own empty view; and no cache lookup of B's may return
 * an entry that A paid for.
 */
let a: TestTenant;
let b: TestTenant;
const notFound = { error: { code: "not_found", type: "not_found_error" } };

async function expect404(key: string, path: string, method = "GET", body?: unknown) {
  const res = await tenantCall(key, path, method, body);
  expect(res.status, `${method} ${path}`).toBe(404);
  expect(await res.json()).toMatchObject(notFound);
}

beforeAll(async () => {
  a = await createTenant();
  b = await createTenant();
});
// The fake embedder is switched off after each test, so no later request tries to reach it for real.
afterEach(() => {
  vi.restoreAllMocks();
  noEmbedder();
});

describe("tenant isolation", () => {
  it("jobs: B gets 404 on A's job (read, cancel), never sees it in its list, and a forged queue message for it does nothing", async () => {
    // A queued job with no queue message yet, so the test decides what gets delivered.
    const queued = await insertQueuedJob(a.id, "A's private job");
    const job = { id: queued.job_id };
    await expect404(b.key, `/v1/jobs/${job.id}`);
    await expect404(b.key, `/v1/jobs/${job.id}`, "DELETE");
    // The 404 is the same as for an id that never existed.
    const unknown = await tenantCall(b.key, "/v1/jobs/job_01JNOSUCHJOB0000000000000");
    expect(await unknown.json()).toEqual(await (await tenantCall(b.key, `/v1/jobs/${job.id}`)).json());
    const list = await (await tenantCall(b.key, "/v1/jobs")).json<{ data: { id: string }[] }>();
    expect(list.data.map((j) => j.id)).not.toContain(job.id);
    // A message naming B as the owner of A's job is acked and changes nothing.
    await deliver(QUEUE.interactive, [{ ...queued, tenant_id: b.id }]);
    expect((await getJobView(a.key, job.id)).attempts).toBe(0);
    await deliver(QUEUE.interactive, [queued]);
    expect(await getJobView(a.key, job.id)).toMatchObject({ status: "succeeded", attempts: 1 });
  });

  it("batches: B gets 404 on A's batch, its results and its cancellation", async () => {
    const res = await tenantCall(a.key, "/v1/batches", "POST", { requests: [{ custom_id: "q1", body: hello("A's batch item") }], off_peak: true });
    const batch = await res.json<{ id: string }>();
    for (const [path, method] of [[`/v1/batches/${batch.id}`, "GET"], [`/v1/batches/${batch.id}/results`, "GET"], [`/v1/batches/${batch.id}/cancel`, "POST"], [`/v1/batches/${batch.id}`, "DELETE"]] as const) {
      await expect404(b.key, path, method);
    }
    expect((await (await tenantCall(a.key, `/v1/batches/${batch.id}`)).json<{ status: string }>()).status).toBe("deferred");
  });

  it("workflows and runs: B can neither read A's definition, start it, nor read A's run; the same name is B's own", async () => {
    const steps = [{ name: "only", prompt: "Summarise {{input.topic}}" }];
    expect((await tenantCall(a.key, "/v1/workflows/shared-name", "PUT", { steps })).status).toBe(200);
    const run = await (await tenantCall(a.key, "/v1/workflows/shared-name/runs", "POST", { input: { topic: "A's secret topic" } })).json<{ id: string }>();
    await expect404(b.key, "/v1/workflows/shared-name");
    await expect404(b.key, "/v1/workflows/shared-name/runs", "POST", { input: { topic: "x" } });
    await expect404(b.key, `/v1/workflow-runs/${run.id}`);
    // B defining the same name gets version 1 of its own; A's stays as it was.
    const mine = await (await tenantCall(b.key, "/v1/workflows/shared-name", "PUT", { steps: [{ name: "other", prompt: "B's prompt" }] })).json<{ version: number }>();
    expect(mine.version).toBe(1);
    const theirs = await (await tenantCall(a.key, "/v1/workflows/shared-name")).json<{ definition: { steps: { name: string }[] } }>();
    expect(theirs.definition.steps.map((s) => s.name)).toEqual(["only"]);
  });

  it("memo: B cannot read, overwrite or delete A's entry at the same namespace and key", async () => {
    await tenantCall(a.key, "/v1/memo/tools/weather", "PUT", { city: "Paris", temp: 21 });
    await expect404(b.key, "/v1/memo/tools/weather");
    await tenantCall(b.key, "/v1/memo/tools/weather", "PUT", { city: "B's city" });
    await tenantCall(b.key, "/v1/memo/tools/weather", "DELETE");
    expect(await (await tenantCall(a.key, "/v1/memo/tools/weather")).json()).toEqual({ city: "Paris", temp: 21 });
  });

  it("usage and budget: B sees only its own figures", async () => {
    const spender = await createTenant({ budgets: [{ scope: "tenant", period: "day", limit_usd: 5 }] });
    const onlooker = await createTenant({ budgets: [{ scope: "tenant", period: "day", limit_usd: 7 }] });
    const res = await chat(spender.key, hello("spend some money"), { "x-tollgate-task": "isolation-task", "x-tollgate-cache": "no-store" });
    await ledgerRow(res.headers.get("x-request-id") ?? "");
    const theirs = await (await tenantCall(spender.key, "/v1/usage?group_by=task")).json<{ data: { task: string; requests: number }[] }>();
    expect(theirs.data).toEqual([expect.objectContaining({ task: "isolation-task", requests: 1 })]);
    expect((await (await tenantCall(onlooker.key, "/v1/usage?group_by=task")).json<{ data: unknown[] }>()).data).toEqual([]);
    const budget = await (await tenantCall(onlooker.key, "/v1/budget")).json<{ tenant_id: string; data: { limit_usd: number; spent_usd: number }[] }>();
    expect(budget.tenant_id).toBe(onlooker.id);
    expect(budget.data).toEqual([expect.objectContaining({ limit_usd: 7, spent_usd: 0 })]);
  });

  it("exact cache: the same request from B is a miss, never A's cached answer", async () => {
    const question = hello("What is the exact-cache isolation answer?");
    const first = await chat(a.key, question);
    expect(first.headers.get("x-tollgate-cache")).toBe("miss");
    await ledgerRow(first.headers.get("x-request-id") ?? "");
    expect((await chat(a.key, question)).headers.get("x-tollgate-cache")).toBe("exact");
    // A's entry lives under A's prefix (it has landed: A just hit it); nothing was written under B's for A.
    const aKeys = (await env.CACHE_KV.list({ prefix: `xc:${a.id}:` })).keys.map((k) => k.name);
    expect(aKeys.length).toBeGreaterThan(0);
    expect((await env.CACHE_KV.list({ prefix: `xc:${b.id}:` })).keys).toEqual([]);
    const other = await chat(b.key, question);
    expect(other.headers.get("x-tollgate-cache")).toBe("miss");
    expect(Number(other.headers.get("x-tollgate-saved-usd"))).toBe(0);
    // B's miss stores B's own entry, under B's prefix and a key of its own, not A's.
    const bKeys = await waitFor(async () => {
      const names = (await env.CACHE_KV.list({ prefix: `xc:${b.id}:` })).keys.map((k) => k.name);
      return names.length ? names : null;
    }, "B's own cache entry", 10_000);
    expect(bKeys).toHaveLength(1);
    const suffix = (name: string) => name.split(":").slice(2).join(":");
    expect(aKeys.map(suffix)).not.toContain(suffix(bKeys[0] ?? ""));
  });

  it("semantic cache: B's paraphrase of A's question is a miss", async () => {
    useFakeEmbedder();
    // Vectors live in a namespace per tenant: A's land in A's, and none of them in B's.
    const vectors = (tenantId: string) => env.LOCAL_VECTORS.get(env.LOCAL_VECTORS.idFromName(`tenant:${tenantId}`)).count(tenantId);
    const bBefore = await vectors(b.id);
    const first = await chat(a.key, hello("How do I reset my password?"));
    await ledgerRow(first.headers.get("x-request-id") ?? "");
    expect((await chat(a.key, hello("How can I reset my password?"))).headers.get("x-tollgate-cache")).toBe("semantic");
    expect(await vectors(a.id)).toBeGreaterThan(0);
    expect(await vectors(b.id)).toBe(bBefore);
    const other = await chat(b.key, hello("How can I reset my password?"));
    expect(other.headers.get("x-tollgate-cache")).toBe("miss");
    expect(other.headers.get("x-tollgate-semantic")).toBe("miss");
  });

  it("embedding cache: B's identical input is not served from A's cache", async () => {
    const body = JSON.stringify({ model: "sim/embed", input: "isolation of the embedding cache" });
    const send = (key: string) => tenantCall(key, "/v1/embeddings", "POST", JSON.parse(body));
    expect((await send(a.key)).headers.get("x-tollgate-cache")).toBe("miss");
    expect((await send(a.key)).headers.get("x-tollgate-cache")).toBe("exact");
    expect((await send(b.key)).headers.get("x-tollgate-cache")).toBe("miss");
  });

  it("idempotency records: B reusing A's key and body gets its own fresh answer (chat) and its own new job", async () => {
    const headers = { "idempotency-key": "isolation-key-1", "x-tollgate-cache": "no-store" };
    const mineA = await chat(a.key, hello("idempotent isolation"), headers);
    const mineB = await chat(b.key, hello("idempotent isolation"), headers);
    expect(mineA.status).toBe(200);
    expect(mineB.status).toBe(200);
    expect(mineB.headers.get("x-tollgate-idempotent-replay")).toBeNull();
    const rowB = await ledgerRow<{ tenant_id: string; attempts: number }>(mineB.headers.get("x-request-id") ?? "");
    expect(rowB).toMatchObject({ tenant_id: b.id, attempts: 1 });
    const jobA = await postJob(a.key, { request: hello("idempotent job") }, { "idempotency-key": "isolation-job-1" });
    const jobB = await tenantCall(b.key, "/v1/jobs", "POST", { request: hello("idempotent job") }, { "idempotency-key": "isolation-job-1" });
    expect(jobB.status).toBe(202);
    expect(jobB.headers.get("idempotent-replayed")).toBeNull();
    expect((await jobB.json<{ id: string }>()).id).not.toBe(jobA.id);
  });

  it("feedback: B cannot label A's request (404, as for an unknown id)", async () => {
    const res = await chat(a.key, hello("a request to label"), { "x-tollgate-cache": "no-store" });
    const id = res.headers.get("x-request-id") ?? "";
    await ledgerRow(id);
    await expect404(b.key, "/v1/feedback", "POST", { request_id: id, good: false });
    expect((await tenantCall(a.key, "/v1/feedback", "POST", { request_id: id, good: true })).status).toBe(200);
  });
});

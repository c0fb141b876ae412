import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createTenant, ledgerRow, type TestTenant } from "../fixtures/gateway";

const HIGH_LIMITS = { rpm: 100_000, tpm: 100_000_000, max_in_flight: 1000 };

function api(key: string, path: string, method = "GET", body?: unknown): Promise<Response> {
  return call(path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

interface Hit { id: string; document_id: string; chunk: number; score: number; text: string; metadata: Record<string, unknown> }
interface SearchBody { data: Hit[]; top_k: number; version: number; cache: string }
interface IngestBody { version: number; documents: { id: string; status: string; chunks: number }[]; chunks_written: number; chunks_cached: number; cost_usd: number }

const DOCS = [
  { id: "refunds", text: "Refunds are paid back to the original card within five business days of the return arriving.", metadata: { team: "billing", lang: "en" } },
  { id: "invoices", text: "Invoices are emailed on the first day of every month and list each seat separately.", metadata: { team: "billing", lang: "en" } },
  { id: "shipping", text: "Parcels ship from the Rotterdam warehouse and carriers deliver within three days in the EU.", metadata: { team: "logistics", lang: "en" } },
  { id: "returns", text: "Returns are accepted for thirty days; print the label from your account and drop the parcel at any carrier point.", metadata: { team: "logistics", lang: "en" } },
];

async function collectionWith(tenant: TestTenant, docs = DOCS): Promise<string> {
  const created = await api(tenant.key, "/v1/collections", "POST", { name: `kb-${crypto.randomUUID()}`, embedding_model: "sim/embed" });
  expect(created.status).toBe(201);
  const { id } = await created.json<{ id: string }>();
  const ingested = await api(tenant.key, `/v1/collections/${id}/documents`, "POST", { documents: docs });
  expect(ingested.status).toBe(200);
  return id;
}

async function search(key: string, id: string, body: Record<string, unknown>) {
  const res = await api(key, `/v1/collections/${id}/search`, "POST", body);
  expect(res.status).toBe(200);
  return { res, body: await res.json<SearchBody>(), cache: res.headers.get("x-tollgate-retrieval-cache") };
}

describe("collections: ingest and search", () => {
  it("ingests, metres the embedding on a ledger row, and finds the chunk that answers", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const created = await api(tenant.key, "/v1/collections", "POST", { name: "kb", embedding_model: "sim/embed" });
    const { id } = await created.json<{ id: string }>();
    const ingested = await api(tenant.key, `/v1/collections/${id}/documents`, "POST", { documents: DOCS });
    expect(ingested.status).toBe(200);
    const body = await ingested.json<IngestBody>();
    expect(body.version).toBe(1);
    expect(body.documents.map((d) => d.status)).toEqual(["added", "added", "added", "added"]);
    expect(body.cost_usd).toBeGreaterThan(0);
    const row = await ledgerRow<{ cost_usd: number; model: string; endpoint: string }>(ingested.headers.get("x-request-id") ?? "");
    expect(row).toMatchObject({ model: "sim/embed", endpoint: `/v1/collections/${id}/documents` });
    expect(row.cost_usd).toBeCloseTo(body.cost_usd, 12);

    const found = await search(tenant.key, id, { query: "When are refunds paid back to the card?", top_k: 2 });
    expect(found.body.data).toHaveLength(2);
    expect(found.body.data[0]).toMatchObject({ document_id: "refunds", chunk: 0, metadata: { team: "billing", lang: "en" } });
    expect(found.body.data[0]?.text).toContain("five business days");
    expect(found.body.data[0]?.score).toBeGreaterThan(found.body.data[1]?.score ?? 1);
    const view = await (await api(tenant.key, `/v1/collections/${id}`)).json<{ version: number; document_count: number; chunk_count: number }>();
    expect(view).toMatchObject({ version: 1, document_count: 4, chunk_count: 4 });
  });

  it("applies metadata filters inside the search, before the top-k", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    // Unfiltered, the refund chunk wins; filtered to logistics, it can never appear, and top_k is still filled from logistics.
    const filtered = await search(tenant.key, id, { query: "When are refunds paid back to the card?", top_k: 2, filter: { team: "logistics" } });
    expect(filtered.body.data.map((d) => d.document_id).sort()).toEqual(["returns", "shipping"]);
    const inList = await search(tenant.key, id, { query: "refunds invoices parcels returns", top_k: 4, filter: { team: { $in: ["billing"] } } });
    expect(inList.body.data.map((d) => d.document_id).sort()).toEqual(["invoices", "refunds"]);
    const excluded = await search(tenant.key, id, { query: "refunds invoices parcels returns", top_k: 4, filter: { team: { $ne: "billing" } } });
    expect(excluded.body.data.every((d) => d.metadata.team === "logistics")).toBe(true);
    const bad = await api(tenant.key, `/v1/collections/${id}/search`, "POST", { query: "x", filter: { team: { $regex: "b.*" } } });
    expect(bad.status).toBe(400);
  });

  it("caps top_k at the tenant policy's max_top_k", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS, policy: { retrieval: { max_top_k: 2 } } });
    const id = await collectionWith(tenant);
    const capped = await search(tenant.key, id, { query: "refunds invoices parcels returns", top_k: 10 });
    expect(capped.body.top_k).toBe(2);
    expect(capped.body.data).toHaveLength(2);
  });

  it("re-ingesting a document replaces its chunks and bumps the version; unchanged text costs nothing", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    const replaced = await api(tenant.key, `/v1/collections/${id}/documents`, "POST", {
      documents: [{ id: "refunds", text: "Store credit replaces cash refunds from March; vouchers never expire.", metadata: { team: "billing", lang: "en" } }],
    });
    const body = await replaced.json<IngestBody>();
    expect(body).toMatchObject({ version: 2, documents: [{ id: "refunds", status: "replaced", chunks: 1 }] });
    const old = await search(tenant.key, id, { query: "paid back to the original card within five business days", top_k: 4 });
    expect(old.body.data.filter((d) => d.document_id === "refunds").map((d) => d.text)).toEqual([expect.stringContaining("Store credit")]);
    expect(old.body.data.some((d) => d.text.includes("five business days"))).toBe(false);
    const view = await (await api(tenant.key, `/v1/collections/${id}`)).json<{ version: number; chunk_count: number }>();
    expect(view).toMatchObject({ version: 2, chunk_count: 4 });

    const again = await api(tenant.key, `/v1/collections/${id}/documents`, "POST", { documents: DOCS.slice(1) });
    expect(await again.json<IngestBody>()).toMatchObject({ version: 2, cost_usd: 0, chunks_written: 0, documents: [{ status: "unchanged" }, { status: "unchanged" }, { status: "unchanged" }] });
  });
});

describe("the retrieval cache", () => {
  it("answers a repeat without embedding or searching, and misses after a version bump", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    const first = await search(tenant.key, id, { query: "How long do carriers take to deliver?", top_k: 3, filter: { lang: "en" } });
    expect(first.cache).toBe("miss");
    expect(Number(first.res.headers.get("x-tollgate-cost-usd"))).toBeGreaterThan(0);
    // Case and spacing are normalised; the filter is the same filter.
    const repeat = await search(tenant.key, id, { query: "  how long do CARRIERS take to deliver? ", top_k: 3, filter: { lang: "en" } });
    expect(repeat.cache).toBe("hit");
    expect(repeat.res.headers.get("x-tollgate-cost-usd")).toBe("0.00000000");
    expect(repeat.body.data).toEqual(first.body.data);
    const hitRow = await ledgerRow<{ cache: string; cost_usd: number }>(repeat.res.headers.get("x-request-id") ?? "");
    expect(hitRow).toMatchObject({ cache: "exact", cost_usd: 0 });
    // Another top_k or filter is another question.
    expect((await search(tenant.key, id, { query: "How long do carriers take to deliver?", top_k: 2, filter: { lang: "en" } })).cache).toBe("miss");
    await api(tenant.key, `/v1/collections/${id}/documents`, "POST", { documents: [{ id: "new", text: "Carriers now deliver next day in the Benelux." }] });
    const after = await search(tenant.key, id, { query: "How long do carriers take to deliver?", top_k: 3, filter: { lang: "en" } });
    expect(after.cache).toBe("miss");
    expect(after.body.version).toBe(2);
  });
});

describe("tenant isolation", () => {
  it("another tenant never sees a collection or a chunk", async () => {
    const owner = await createTenant({ limits: HIGH_LIMITS });
    const other = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(owner);
    expect((await api(other.key, `/v1/collections/${id}`)).status).toBe(404);
    expect((await api(other.key, `/v1/collections/${id}/search`, "POST", { query: "refunds" })).status).toBe(404);
    expect((await api(other.key, `/v1/collections/${id}/documents`, "POST", { documents: [{ id: "x", text: "planted" }] })).status).toBe(404);
    expect((await api(other.key, `/v1/collections/${id}`, "DELETE")).status).toBe(404);
    expect((await (await api(other.key, "/v1/collections")).json<{ data: unknown[] }>()).data).toEqual([]);
    const grounded = await api(other.key, "/v1/chat/completions", "POST", { model: "sim/fast", messages: [{ role: "user", content: "refunds?" }], retrieval: { collection: id } });
    expect(grounded.status).toBe(404);
    // Its own collection with the same documents finds only its own chunks.
    const mine = await collectionWith(other, DOCS.slice(0, 1));
    const found = await search(other.key, mine, { query: "refunds invoices parcels returns", top_k: 8 });
    const ownerChunks = (await search(owner.key, id, { query: "refunds invoices parcels returns", top_k: 8 })).body.data.map((d) => d.id);
    expect(found.body.data).toHaveLength(1);
    expect(ownerChunks).not.toContain(found.body.data[0]?.id);
    // Collection chunks share the tenant's vector namespace with the semantic cache, under their own scope.
    const stub = env.LOCAL_VECTORS.get(env.LOCAL_VECTORS.idFromName(`tenant:${other.id}`));
    expect(await stub.count(owner.id)).toBe(0);
  });

  it("deleting a collection removes its chunks from the store", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    const stub = env.LOCAL_VECTORS.get(env.LOCAL_VECTORS.idFromName(`tenant:${tenant.id}`));
    expect(await stub.count(tenant.id)).toBe(4);
    const deleted = await api(tenant.key, `/v1/collections/${id}`, "DELETE");
    expect(await deleted.json()).toMatchObject({ deleted: true, chunks_removed: 4 });
    expect(await stub.count(tenant.id)).toBe(0);
    expect((await api(tenant.key, `/v1/collections/${id}`)).status).toBe(404);
  });

  it("deleting one document removes its chunks and bumps the version; the rest stay searchable", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const other = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    const query = { query: "When is my refund paid back to my card?", top_k: 4 };
    const before = await search(tenant.key, id, query);
    expect(before.body.data.map((h) => h.document_id)).toContain("refunds");
    expect((await api(other.key, `/v1/collections/${id}/documents/refunds`, "DELETE")).status).toBe(404);
    const deleted = await api(tenant.key, `/v1/collections/${id}/documents/refunds`, "DELETE");
    expect(await deleted.json()).toMatchObject({ id: "refunds", deleted: true, chunks_removed: 1 });
    const stub = env.LOCAL_VECTORS.get(env.LOCAL_VECTORS.idFromName(`tenant:${tenant.id}`));
    expect(await stub.count(tenant.id)).toBe(3);
    const after = await search(tenant.key, id, query);
    // A new version: the cached answer from before is not served.
    expect(after.cache).toBe("miss");
    expect(after.body.version).toBe(before.body.version + 1);
    expect(after.body.data.map((h) => h.document_id)).not.toContain("refunds");
    expect(after.body.data).toHaveLength(3);
    expect(await (await api(tenant.key, `/v1/collections/${id}`)).json()).toMatchObject({ document_count: 3, chunk_count: 3 });
    expect((await api(tenant.key, `/v1/collections/${id}/documents/refunds`, "DELETE")).status).toBe(404);
  });
});

describe("ingestion is spend", () => {
  it("is refused with 402 budget_exceeded once the budget is exhausted, and never overspends", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS, budgets: [{ scope: "tenant", period: "total", limit_usd: 0.001 }] });
    const created = await api(tenant.key, "/v1/collections", "POST", { name: "big", embedding_model: "sim/embed" });
    const { id } = await created.json<{ id: string }>();
    // Every chunk distinct, so the embedding cache cannot make any of it free: about $0.0004 a document.
    const text = (i: number) => Array.from({ length: 1500 }, (_, j) => `Toll ${i} road ${j} pays ledger ${i * 1000 + j}.`).join(" ");
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await api(tenant.key, `/v1/collections/${id}/documents`, "POST", { documents: [{ id: `d${i}`, text: text(i) }] })).status);
    expect(statuses[0]).toBe(200);
    expect(statuses.slice(-3)).toEqual([402, 402, 402]);
    const refused = await api(tenant.key, `/v1/collections/${id}/documents`, "POST", { documents: [{ id: "again", text: text(99) }] });
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ error: { code: "budget_exceeded" } });
    const budget = await (await api(tenant.key, "/v1/budget")).json<{ data: { scope: string; spent_usd: number }[] }>();
    const spent = budget.data.find((b) => b.scope === "tenant")?.spent_usd ?? 0;
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(0.001 + 1e-12);
  });

  it("a large ingest goes through the batch lane and reports its progress", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const created = await api(tenant.key, "/v1/collections", "POST", { name: "bulk", embedding_model: "sim/embed" });
    const { id } = await created.json<{ id: string }>();
    const documents = Array.from({ length: 70 }, (_, i) => ({ id: `doc-${i}`, text: `Document number ${i} talks about topic${i} and nothing else.` }));
    const queued = await api(tenant.key, `/v1/collections/${id}/documents`, "POST", { documents });
    expect(queued.status).toBe(202);
    const ingest = await queued.json<{ id: string; status: string; documents_total: number }>();
    expect(ingest).toMatchObject({ status: "queued", documents_total: 70 });
    const deadline = Date.now() + 20_000;
    let view = { version: 0, chunk_count: 0, ingests: [] as { id: string; status: string; documents_done: number }[] };
    while (Date.now() < deadline) {
      view = await (await api(tenant.key, `/v1/collections/${id}`)).json<typeof view>();
      if (view.ingests[0]?.status === "completed") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(view.ingests[0]).toMatchObject({ id: ingest.id, status: "completed", documents_done: 70 });
    expect(view.chunk_count).toBe(70);
    const found = await search(tenant.key, id, { query: "topic42", top_k: 1 });
    expect(found.body.data[0]?.document_id).toBe("doc-42");
  });
});

interface Grounded { choices: { message: { content: string } }[]; retrieval: { collection: string; version: number; cache: string; sources: string[]; dropped: number; cost_usd: number; summary?: string } }

describe("grounded answers", () => {
  const ask = (collection: string, extra: Record<string, unknown> = {}) => ({
    model: "sim/fast",
    messages: [{ role: "user", content: "When are refunds paid back to the card?" }],
    retrieval: { collection, top_k: 3, ...extra },
  });

  it("a chat request is answered from the collection, lists its sources, and its repeat is an exact cache hit", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    const first = await api(tenant.key, "/v1/chat/completions", "POST", ask(id));
    expect(first.status).toBe(200);
    const body = await first.json<Grounded>();
    expect(first.headers.get("x-tollgate-cache")).toBe("miss");
    expect(first.headers.get("x-tollgate-retrieval-cache")).toBe("miss");
    expect(first.headers.get("x-tollgate-retrieval-sources")?.split(",")[0]).toBe("refunds#0");
    expect(body.retrieval).toMatchObject({ collection: id, version: 1, cache: "miss", dropped: 0 });
    expect(body.retrieval.sources).toHaveLength(3);
    expect(body.retrieval.cost_usd).toBeGreaterThan(0);
    const row = await ledgerRow<{ detail_json: string; cost_usd: number }>(first.headers.get("x-request-id") ?? "");
    const detail = JSON.parse(row.detail_json) as { retrieval: { sources: string[]; rows: string[] } };
    expect(detail.retrieval.sources).toEqual(body.retrieval.sources);
    // The query embedding has its own admitted, ledgered row, named on the request's row.
    const retrievalRow = await ledgerRow<{ cost_usd: number; model: string }>(detail.retrieval.rows[0] ?? "");
    expect(retrievalRow.model).toBe("sim/embed");
    expect(retrievalRow.cost_usd).toBeCloseTo(body.retrieval.cost_usd, 12);

    const again = await api(tenant.key, "/v1/chat/completions", "POST", ask(id));
    const repeat = await again.json<Grounded>();
    expect(again.headers.get("x-tollgate-cache")).toBe("exact");
    expect(again.headers.get("x-tollgate-retrieval-cache")).toBe("hit");
    expect(again.headers.get("x-tollgate-cost-usd")).toBe("0.00000000");
    expect(repeat.choices[0]?.message.content).toBe(body.choices[0]?.message.content);
    expect(repeat.retrieval).toMatchObject({ cache: "hit", sources: body.retrieval.sources, cost_usd: 0 });
  });

  it("packs within max_context_tokens by dropping the lowest-scoring chunks first", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS, policy: { retrieval: { max_context_tokens: 80 } } });
    const id = await collectionWith(tenant);
    const res = await api(tenant.key, "/v1/chat/completions", "POST", ask(id, { top_k: 4, max_context_tokens: 5000 }));
    const body = await res.json<Grounded>();
    // The policy's allowance wins over the request's; what is left is the best of the four.
    expect(body.retrieval.sources.length).toBeGreaterThan(0);
    expect(body.retrieval.sources.length + body.retrieval.dropped).toBe(4);
    expect(body.retrieval.dropped).toBeGreaterThan(0);
    expect(body.retrieval.sources[0]).toBe("refunds#0");
  });

  it("summarize condenses the context once with the fast tier and serves the cached summary after", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    const first = await api(tenant.key, "/v1/chat/completions", "POST", ask(id, { summarize: true }));
    const body = await first.json<Grounded>();
    expect(body.retrieval.summary).toBe("miss");
    expect(body.retrieval.cost_usd).toBeGreaterThan(0);
    const row = await ledgerRow<{ detail_json: string }>(first.headers.get("x-request-id") ?? "");
    const rows = (JSON.parse(row.detail_json) as { retrieval: { rows: string[] } }).retrieval.rows;
    const summaryRow = await ledgerRow<{ tier: string; cost_usd: number }>(rows.find((r) => r.endsWith(":summary")) ?? "");
    expect(summaryRow.tier).toBe("fast");
    expect(summaryRow.cost_usd).toBeGreaterThan(0);
    // Another wording of the request (another max_tokens) misses the exact cache but reuses the summary.
    const second = await api(tenant.key, "/v1/chat/completions", "POST", { ...ask(id, { summarize: true }), max_tokens: 64 });
    const again = await second.json<Grounded>();
    expect(second.headers.get("x-tollgate-cache")).toBe("miss");
    expect(again.retrieval).toMatchObject({ summary: "hit", cache: "hit", cost_usd: 0 });
  });

  it("a Responses request carries retrieval through its translation", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    const res = await api(tenant.key, "/v1/responses", "POST", { model: "sim/fast", input: "When are refunds paid back to the card?", retrieval: { collection: id, top_k: 2 } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-retrieval-sources")?.split(",")).toHaveLength(2);
    expect((await res.json<Grounded>()).retrieval.sources[0]).toBe("refunds#0");
  });

  // Each of those steps may hand the rest of the pipeline a derived context (a prompt's tier, say).
  it("a registered prompt with retrieval, under guardrails, still lists its sources", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS, policy: { guardrails: { pii: "redact" } } });
    const id = await collectionWith(tenant);
    expect((await api(tenant.key, "/v1/prompts/support", "PUT", { template: "Answer the customer: {{q}}", tier: "fast" })).status).toBe(201);
    const body = { model: "auto", prompt: { id: "support", variables: { q: "How long do refunds take to reach my card?" } }, retrieval: { collection: id } };
    const res = await call("/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", "x-tollgate-task": "helpdesk" }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    // The retrieval's own row is booked to the request's task.
    expect((await ledgerRow<{ task: string }>(`${res.headers.get("x-request-id")}:retrieval`)).task).toBe("helpdesk");
    expect(res.headers.get("x-tollgate-prompt")).toBe("support@1");
    expect(res.headers.get("x-tollgate-retrieval-sources")?.split(",")[0]).toBe("refunds#0");
    expect((await res.json<Grounded>()).retrieval.sources.length).toBeGreaterThan(0);
  });

  it("screens the query before it reaches the embedder: a blocked one spends nothing, a redacted one is embedded without the value", async () => {
    const blocked = await createTenant({ limits: HIGH_LIMITS, policy: { guardrails: { pii: "block" } } });
    const id = await collectionWith(blocked);
    const embedRows = async (tenantId: string) => (await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger WHERE tenant_id = ? AND endpoint = 'retrieval'").bind(tenantId).first<{ n: number }>())?.n ?? 0;
    const question = (who: string) => ({ model: "sim/fast", messages: [{ role: "user", content: `I am ${who}, how long do refunds take?` }], retrieval: { collection: id } });
    const res = await api(blocked.key, "/v1/chat/completions", "POST", question("bob@example.com"));
    expect(res.status).toBe(400);
    expect((await res.json<{ error: { code: string } }>()).error.code).toBe("guardrail_blocked");
    // The refused request's own row is written after any retrieval row it would have made.
    await ledgerRow(res.headers.get("x-request-id") ?? "");
    expect(await embedRows(blocked.id)).toBe(0);

    const redacting = await createTenant({ limits: HIGH_LIMITS, policy: { guardrails: { pii: "redact" } } });
    const rid = await collectionWith(redacting);
    const ask = (who: string) => api(redacting.key, "/v1/chat/completions", "POST", { ...question(who), retrieval: { collection: rid } });
    expect((await ask("bob@example.com")).headers.get("x-tollgate-retrieval-cache")).toBe("miss");
    // Another address is the same redacted query: the retrieval cache answers it without a new embedding.
    expect((await ask("carol@example.org")).headers.get("x-tollgate-retrieval-cache")).toBe("hit");
  });

  it("a streamed grounded answer names its sources in the header", async () => {
    const tenant = await createTenant({ limits: HIGH_LIMITS });
    const id = await collectionWith(tenant);
    const res = await api(tenant.key, "/v1/chat/completions", "POST", { ...ask(id), stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-retrieval-sources")?.split(",")[0]).toBe("refunds#0");
    expect(await res.text()).toContain("[DONE]");
  });
});

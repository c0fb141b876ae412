import { env } from "cloudflare:workers";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { admin, call, chat, createTenant, ledgerRow } from "../fixtures/gateway";
import { fakeVector, noEmbedder, useFakeEmbedder } from "../fixtures/cache-fake-embedder";
import { verifyPair } from "../../src/cache/semantic-cache";
import type { VerifierWeights } from "../../src/cache/semantic-verifier";
import { VECTOR_VERIFIERS, VERIFIER } from "../../src/cache/verifier-weights";

// The verifier, feedback and accounting through the real request path. The fake embedder puts every
// pair used here at cosine 1 (same concepts), so whatever is refused, the verifier refused.
type Row = { cache: string; cost_usd: number; saved_usd: number; detail_json: string | null };
type Completion = { choices: { message: { content: string } }[] };
type Usage = { cache_precision: { semantic_hits: number; reported_wrong: number; confirmed: number; estimate: number | null; labelled: number | null } };

const ask = (content: string) => ({ model: "sim/fast", temperature: 0, messages: [{ role: "system", content: "You are the support bot." }, { role: "user", content }] });

async function send(key: string, content: string) {
  const res = await chat(key, ask(content));
  expect(res.status).toBe(200);
  const json = await res.json<Completion>();
  const id = res.headers.get("x-request-id") ?? "";
  const row = await ledgerRow<Row>(id);
  return { id, row, content: json.choices[0]?.message.content, cache: res.headers.get("x-tollgate-cache"), semantic: res.headers.get("x-tollgate-semantic") };
}

function feedback(key: string, body: Record<string, unknown>) {
  return call("/v1/feedback", { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
}

async function usage(key: string): Promise<Usage["cache_precision"]> {
  const res = await call("/v1/usage", { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json<Usage>()).cache_precision;
}

afterEach(() => vi.restoreAllMocks());
afterAll(() => noEmbedder());

describe("semantic verifier", () => {
  it("refuses the reversed question that cosine alone would serve", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    const forward = await send(key, "How do I convert Celsius to Fahrenheit?");
    const reverse = await send(key, "How do I convert Fahrenheit to Celsius?");
    expect(reverse.cache).toBe("miss");
    expect(reverse.semantic).toBe("guarded");
    expect(reverse.content).not.toBe(forward.content);
    expect(JSON.parse(reverse.row.detail_json ?? "{}").semantic).toMatchObject({ status: "guarded", reason: "direction" });
  });

  it("judges a question that says 'constructor' like any other (it used to fail the request)", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    await send(key, "What is a constructor in Java?");
    // Same fake vector (no known concept), so the verifier is asked about the pair.
    const second = await send(key, "What does toString do in a Java constructor?");
    expect(["miss", "semantic"]).toContain(second.cache);
    expect(second.semantic === "guarded" || second.semantic === "hit").toBe(true);
  });

  it("serves a rewording and records which entry served it", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    const first = await send(key, "How do I reset my password?");
    const again = await send(key, "How can I reset my password?");
    expect(again.cache).toBe("semantic");
    expect(again.content).toBe(first.content);
    const hit = JSON.parse(again.row.detail_json ?? "{}").semantic_hit;
    expect(hit).toMatchObject({ embedder: "local/use-lite" });
    expect(hit.score).toBeCloseTo(1, 6);
    expect(hit.p).toBeGreaterThanOrEqual(hit.needed);
  });
});

// The fake embedder's concept vectors padded to the dimensions the vector model was trained on, so
// the Worker judges use-lite candidates with it (the model's numbers on these vectors mean nothing;
// the tests check which model decided and with which vectors).
// No vector model ships today (cross-validation on train kept the lexical one), so this test installs
// one of its own for use-lite: the Worker's vector path is exercised either way.
const vectorDims = VECTOR_VERIFIERS["local/use-lite"]?.vector?.abs_diff.length ?? 48;
const installed = VECTOR_VERIFIERS["local/use-lite"] === undefined;
function useWideFakeEmbedder(): string[] {
  const state = useFakeEmbedder();
  const wide = (text: string) => [...fakeVector(text), ...new Array<number>(vectorDims - fakeVector(text).length).fill(0)];
  vi.mocked(globalThis.fetch).mockImplementation(async (_input, init) => {
    const body = JSON.parse(String(init?.body ?? "{}")) as { input: string[] };
    state.inputs.push(...body.input);
    return Response.json({ object: "list", data: body.input.map((text, index) => ({ object: "embedding", index, embedding: wide(text) })), model: "use-lite", usage: { prompt_tokens: body.input.length, total_tokens: body.input.length } });
  });
  return state.inputs;
}

const unitVector = (v: number[]) => {
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
};

describe("semantic verifier on the embeddings themselves", () => {
  beforeAll(() => {
    if (!installed) return;
    const vector = { embedder: "local/use-lite", abs_diff: new Array<number>(vectorDims).fill(-0.5), product: new Array<number>(vectorDims).fill(0.8) };
    Object.assign(VECTOR_VERIFIERS as Record<string, VerifierWeights>, { "local/use-lite": { ...VERIFIER, vector } });
  });
  afterAll(() => {
    if (installed) delete (VECTOR_VERIFIERS as Record<string, VerifierWeights>)["local/use-lite"];
  });
  it("a cached answer carries its question's vector, and the next lookup is judged with both vectors", async () => {
    const inputs = useWideFakeEmbedder();
    const { id, key } = await createTenant();
    const question = "How do I reset my password?";
    await send(key, question);
    const listed = await env.CACHE_KV.list({ prefix: `xc:${id}:` });
    expect(listed.keys).toHaveLength(1);
    const stored = await env.CACHE_KV.get<{ question_vector?: { embedder: string; values: string } }>(listed.keys[0]?.name ?? "", "json");
    expect(stored?.question_vector?.embedder).toBe("local/use-lite");
    const bytes = Uint8Array.from(atob(stored?.question_vector?.values ?? ""), (c) => c.charCodeAt(0));
    const decoded = Array.from(new Float32Array(bytes.buffer));
    expect(decoded).toHaveLength(vectorDims);
    const padded = [...fakeVector(question), ...new Array<number>(vectorDims - fakeVector(question).length).fill(0)];
    // What the embedder returned (not necessarily unit length): the same direction as the question's vector.
    expect(unitVector(decoded).reduce((s, x, i) => s + x * (unitVector(padded)[i] ?? 0), 0)).toBeCloseTo(1, 5);

    const paraphrase = "How can I reset my password?";
    const second = await send(key, paraphrase);
    // Only the new question went to the embedder: the cached one's vector came with its entry.
    expect(inputs.filter((t) => t === question)).toHaveLength(1);
    const detail = JSON.parse(second.row.detail_json ?? "{}");
    const p = detail.semantic_hit?.p ?? detail.semantic?.p;
    const wide = (t: string) => unitVector([...fakeVector(t), ...new Array<number>(vectorDims - fakeVector(t).length).fill(0)]);
    const withVectors = verifyPair(paraphrase, question, 1, 0, "local/use-lite", { query: wide(paraphrase), cached: wide(question) });
    const lexical = verifyPair(paraphrase, question, 1);
    expect(withVectors.p).not.toBeCloseTo(lexical.p, 3);
    expect(p).toBeCloseTo(withVectors.p, 3);
    expect(second.cache).toBe(withVectors.accept ? "semantic" : "miss");
  });
});

describe("cache feedback", () => {
  it("a wrong hit evicts the entry and its alias, and the tenant's precision estimate shows it", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    await send(key, "How do I reset my password?");
    const hit = await send(key, "How can I reset my password?");
    expect(hit.cache).toBe("semantic");
    expect(await usage(key)).toMatchObject({ semantic_hits: 1, reported_wrong: 0, estimate: 1 });

    const res = await feedback(key, { request_id: hit.id, cache: "wrong" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ request_id: hit.id, cache: "wrong", cache_action: "evicted" });
    // Neither the paraphrase (its alias) nor the original question is answered from the evicted entry.
    const paraphrase = await send(key, "How can I reset my password?");
    expect(paraphrase.cache).toBe("miss");
    expect(paraphrase.content).not.toBe(hit.content);
    // The original question now matches the paraphrase's fresh entry: a second hit, not reported wrong.
    const original = await send(key, "How do I reset my password?");
    expect(original.cache).toBe("semantic");
    expect(original.content).toBe(paraphrase.content);
    expect(await usage(key)).toMatchObject({ semantic_hits: 2, reported_wrong: 1, estimate: 0.5, labelled: 0 });
  });

  it("a wrong hit tightens the entries around the one that served it", async () => {
    useFakeEmbedder();
    const control = await createTenant();
    const reported = await createTenant();
    for (const { key } of [control, reported]) {
      await send(key, "How do I reset my password?");
      // Close in vector space (cosine 1) but refused by the verifier, so it is cached on its own.
      expect((await send(key, "How do I reset my passcode?")).semantic).toBe("guarded");
    }
    const wrong = await send(reported.key, "How can I reset my password?");
    expect(wrong.cache).toBe("semantic");
    expect((await feedback(reported.key, { request_id: wrong.id, cache: "wrong" })).status).toBe(200);
    // "How can I reset my passcode?" matches the passcode entry: still for the control tenant, no longer
    // for the tenant whose neighbouring entry misfired.
    expect((await send(control.key, "How can I reset my passcode?")).cache).toBe("semantic");
    const tightened = await send(reported.key, "How can I reset my passcode?");
    expect(tightened.cache).toBe("miss");
    expect(tightened.semantic).toBe("guarded");
  });

  it("a confirmed hit counts towards the labelled precision; feedback on a non-hit or another tenant's request says so", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    const other = await createTenant();
    const miss = await send(key, "How do I get a refund?");
    const hit = await send(key, "How can I get a refund?");
    expect(hit.cache).toBe("semantic");
    expect(await (await feedback(key, { request_id: hit.id, cache: "right" })).json()).toMatchObject({ cache_action: "confirmed" });
    expect(await usage(key)).toMatchObject({ semantic_hits: 1, confirmed: 1, reported_wrong: 0, labelled: 1 });
    expect(await (await feedback(key, { request_id: miss.id, cache: "wrong" })).json()).toMatchObject({ cache_action: "not_a_semantic_hit" });
    expect((await feedback(other.key, { request_id: hit.id, cache: "wrong" })).status).toBe(404);
    expect((await feedback(key, { request_id: hit.id })).status).toBe(400);
  });
});

describe("semantic lookup accounting", () => {
  it("a hit's cost is its query embedding, and saved_usd is net of it", async () => {
    // sim/embed is priced, unlike the local embedder; its vectors ignore case, the exact key does not.
    const { key, id } = await createTenant();
    await admin(`/admin/tenants/${id}/policy`, "PUT", { cache: { embedding_model: "sim/embed" } });
    const first = await send(key, "How do I reset my password?");
    const hit = await send(key, "how do I reset my password?");
    expect(hit.cache).toBe("semantic");
    expect(hit.row.cost_usd).toBeGreaterThan(0);
    // The entry cost what the first request paid minus its own lookup embedding, which costs the same
    // as the hit's (same tokens).
    const entryCost = first.row.cost_usd - hit.row.cost_usd;
    expect(hit.row.saved_usd).toBeCloseTo(entryCost - hit.row.cost_usd, 12);
    expect(hit.row.saved_usd).toBeLessThan(entryCost);
    const stored = await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger WHERE request_id = ?").bind(hit.id).first<{ n: number }>();
    expect(stored?.n).toBe(1);
  });
});

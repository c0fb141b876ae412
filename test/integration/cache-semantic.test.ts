import { env } from "cloudflare:workers";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { admin, call, chat, createTenant, ledgerRow } from "../fixtures/gateway";
import { fakeVector, noEmbedder, useFakeEmbedder } from "../fixtures/cache-fake-embedder";

type Row = { cache: string; cost_usd: number; saved_usd: number; detail_json: string | null };
type Completion = { choices: { message: { content: string } }[] };

const ask = (content: string, system?: string) => ({
  model: "sim/fast",
  messages: [...(system ? [{ role: "system", content: system }] : []), { role: "user", content }],
});

async function send(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await chat(key, body, headers);
  expect(res.status).toBe(200);
  const json = await res.json<Completion>();
  const row = await ledgerRow<Row>(res.headers.get("x-request-id") ?? "");
  return { res, row, content: json.choices[0]?.message.content, cache: res.headers.get("x-tollgate-cache"), semantic: res.headers.get("x-tollgate-semantic") };
}

afterEach(() => vi.restoreAllMocks());
afterAll(() => noEmbedder());

describe("semantic cache", () => {
  it("the fake embedder really places the test pairs where the tests say", () => {
    const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0) / (Math.hypot(...a) * Math.hypot(...b));
    expect(cos(fakeVector("What is the capital of France?"), fakeVector("What's the capital of France?"))).toBeGreaterThan(0.99);
    expect(cos(fakeVector("What is the capital of France?"), fakeVector("What is the capital of Germany?"))).toBeGreaterThan(0.99);
    expect(cos(fakeVector("How do I get a refund?"), fakeVector("What is the capital of France?"))).toBeLessThan(0.5);
  });

  it("a paraphrase hits semantically, costs 0, and is recorded as semantic", async () => {
    const embedder = useFakeEmbedder();
    const { key } = await createTenant();
    const first = await send(key, ask("What is the capital of France?"));
    expect(first.cache).toBe("miss");
    expect(first.semantic).toBe("miss");
    const paraphrase = await send(key, ask("What's the capital of France?"));
    expect(paraphrase.cache).toBe("semantic");
    expect(paraphrase.semantic).toBe("hit");
    expect(paraphrase.content).toBe(first.content);
    expect(paraphrase.res.headers.get("x-tollgate-cost-usd")).toBe("0.00000000");
    expect(paraphrase.row).toMatchObject({ cache: "semantic", cost_usd: 0 });
    expect(paraphrase.row.saved_usd).toBeCloseTo(first.row.cost_usd, 12);
    expect(JSON.parse(paraphrase.row.detail_json ?? "{}").cache.score).toBeGreaterThan(0.99);
    // The paraphrase now has its own exact entry: its repeat needs no embedding and no vector search.
    const repeat = await send(key, ask("What's the capital of France?"));
    expect(repeat.cache).toBe("exact");
    expect(repeat.content).toBe(first.content);
    expect(repeat.row.saved_usd).toBeCloseTo(first.row.cost_usd, 12);
    // Only the last user turn is embedded, once per distinct text.
    expect(embedder.inputs).toEqual(["What is the capital of France?", "What's the capital of France?"]);
  });

  it("a near-miss (France/Germany) is above the threshold but vetoed by the guard", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    const france = await send(key, ask("What is the capital of France?"));
    const germany = await send(key, ask("What is the capital of Germany?"));
    expect(germany.cache).toBe("miss");
    expect(germany.semantic).toBe("guarded");
    expect(germany.content).not.toBe(france.content);
    expect(germany.content).toContain("Germany");
    expect(JSON.parse(germany.row.detail_json ?? "{}").semantic).toMatchObject({ status: "guarded", reason: "entities" });
    // Each is now cached under its own question.
    expect((await send(key, ask("What's the capital of Germany?"))).content).toBe(germany.content);
  });

  it("never matches another tenant's vectors", async () => {
    useFakeEmbedder();
    const a = await createTenant();
    const b = await createTenant();
    await send(a.key, ask("How do I reset my password?"));
    expect((await send(a.key, ask("How can I reset my password?"))).cache).toBe("semantic");
    const other = await send(b.key, ask("How can I reset my password?"));
    expect(other.cache).toBe("miss");
    expect(other.semantic).toBe("miss");
  });

  it("a chat question's embedding is not visible to another tenant through /v1/embeddings", async () => {
    const embedder = useFakeEmbedder();
    const a = await createTenant();
    const b = await createTenant();
    const secret = "Should we refund the Globex contract before the merger?";
    await send(a.key, ask(secret));
    const probe = await call("/v1/embeddings", {
      method: "POST",
      headers: { authorization: `Bearer ${b.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "local/use-lite", input: secret }),
    });
    expect(probe.status).toBe(200);
    expect(probe.headers.get("x-tollgate-cache")).toBe("miss");
    expect(embedder.inputs.filter((t) => t === secret)).toHaveLength(2);
  });

  it("concurrent identical misses still make one upstream call while the semantic lookup runs", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    const responses = await Promise.all(Array.from({ length: 5 }, () => chat(key, ask("How long does delivery take?"))));
    const rows = await Promise.all(responses.map((res) => ledgerRow<Row>(res.headers.get("x-request-id") ?? "")));
    expect(rows.map((r) => r.cache).sort()).toEqual(["exact", "exact", "exact", "exact", "miss"]);
  });

  it("matches only within the same scope: system prompt, earlier turns, model", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    await send(key, ask("How do I get a refund?", "You are the support bot for Acme."));
    expect((await send(key, ask("How can I get a refund?", "You are the support bot for Acme."))).cache).toBe("semantic");
    expect((await send(key, ask("How can I get a refund?", "You are the support bot for Globex."))).semantic).toBe("miss");
    const otherModel = await send(key, { ...ask("How can I get a refund?", "You are the support bot for Acme."), model: "sim/balanced" });
    expect(otherModel.semantic).toBe("miss");
    const laterTurn = ask("How can I get a refund?", "You are the support bot for Acme.");
    laterTurn.messages.splice(1, 0, { role: "user", content: "I bought a lamp." }, { role: "assistant", content: "Thanks for your order." });
    expect((await send(key, laterTurn)).semantic).toBe("miss");
  });

  it("exact-only and a policy with semantic off skip the semantic lookup", async () => {
    const embedder = useFakeEmbedder();
    const { key, id } = await createTenant();
    await send(key, ask("When will my delivery arrive?"));
    const exactOnly = await send(key, ask("When does shipping arrive?"), { "x-tollgate-cache": "exact-only" });
    expect(exactOnly.cache).toBe("miss");
    expect(exactOnly.semantic).toBe("off");
    await admin(`/admin/tenants/${id}/policy`, "PUT", { cache: { semantic: false } });
    const off = await send(key, ask("When will my shipping be delivered?"));
    expect(off.semantic).toBe("off");
    expect(embedder.inputs).not.toContain("When will my shipping be delivered?");
  });

  it("a tenant's own threshold applies", async () => {
    useFakeEmbedder();
    const { key, id } = await createTenant();
    await admin(`/admin/tenants/${id}/policy`, "PUT", { cache: { semantic_threshold: 0.99 } });
    await send(key, ask("How do I reset my password?"));
    // Shares two of three concepts: cosine 0.816, under this tenant's bar.
    const loose = await send(key, ask("How do I reset my password for shipping?"));
    expect(loose.semantic).toBe("miss");
    await admin(`/admin/tenants/${id}/policy`, "PUT", { cache: { semantic_threshold: 0.8 } });
    // Now the match reaches the verifier, which refuses it: the threshold is only the candidate cut.
    const reached = await send(key, ask("How do I reset my passcode for delivery?"));
    expect(reached.semantic).toBe("guarded");
    expect(JSON.parse(reached.row.detail_json ?? "{}").semantic).toMatchObject({ status: "guarded", reason: "verifier" });
  });

  it("with no embedder configured the request is served normally and says so", async () => {
    noEmbedder();
    const { key } = await createTenant();
    const res = await send(key, ask("What is the capital of France?"));
    expect(res.cache).toBe("miss");
    expect(res.semantic).toBe("unavailable");
    expect((await send(key, ask("What is the capital of France?"))).cache).toBe("exact");
  });

  it("with the embedder unreachable the request is served normally and says so", async () => {
    useFakeEmbedder({ down: true });
    const { key } = await createTenant();
    const res = await send(key, ask("What is the capital of Spain?"));
    expect(res.cache).toBe("miss");
    expect(res.semantic).toBe("unavailable");
    expect(res.row.cost_usd).toBeGreaterThan(0);
    expect(JSON.parse(res.row.detail_json ?? "{}").semantic.error).toMatch(/ECONNREFUSED/);
  });

  it("sensitive requests never go to a non-private embedder", async () => {
    const embedder = useFakeEmbedder();
    (env as { OPENAI_BASE_URL: string }).OPENAI_BASE_URL = "http://embedder.test/v1";
    try {
      const { key, id } = await createTenant();
      await admin(`/admin/tenants/${id}/policy`, "PUT", { cache: { embedding_model: "openai/text-embedding-3-small" } });
      const res = await send(key, { ...ask("What is the capital of France?"), model: "sim-private/fast" }, { "x-tollgate-data": "sensitive" });
      expect(res.semantic).toBe("unavailable");
      expect(embedder.inputs).toEqual([]);
    } finally {
      (env as { OPENAI_BASE_URL: string }).OPENAI_BASE_URL = "";
    }
  });
});

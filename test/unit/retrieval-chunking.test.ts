import { describe, expect, it } from "vitest";
import { CHUNK_MAX_TOKENS, chunkText } from "../../src/retrieval/chunking";
import { packContext, type RetrievedChunk } from "../../src/retrieval/context-packing";
import { normaliseQuery } from "../../src/retrieval/retrieval-cache";
import { matchesFilter } from "../../src/vectors/metadata-filter";
import { countText } from "../../src/tokens/count-tokens";

const chunk = (id: string, score: number, words = 20): RetrievedChunk => ({ id, document_id: id, chunk: 0, score, text: `${id} `.repeat(words).trim(), metadata: {} });

describe("chunking", () => {
  it("never crosses a heading, and prefixes each chunk with its heading path", () => {
    const doc = "# Guide\n\nIntro paragraph.\n\n## Caching\n\nExact cache first.\n\n### Semantic\n\nThen the semantic cache.\n\n## Budgets\n\nLeases and limits.";
    const chunks = chunkText(doc);
    expect(chunks.map((c) => c.section)).toEqual(["Guide", "Guide > Caching", "Guide > Caching > Semantic", "Guide > Budgets"]);
    expect(chunks[2]?.text).toBe("Guide > Caching > Semantic\n\nThen the semantic cache.");
    expect(chunks.map((c) => c.index)).toEqual([0, 1, 2, 3]);
  });

  it("keeps fenced code whole and does not read # inside it as a heading", () => {
    const chunks = chunkText("# A\n\n```sh\n# not a heading\n\nnpm start\n```\n\nAfter.");
    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.text).toContain("# not a heading\n\nnpm start");
  });

  it("cuts a long paragraph at sentence ends under the cap, with overlap, and loses no sentence", () => {
    const sentences = Array.from({ length: 200 }, (_, i) => `Sentence number ${i} says something about topic ${i}.`);
    const chunks = chunkText(sentences.join(" "));
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) expect(countText(c.text)).toBeLessThanOrEqual(CHUNK_MAX_TOKENS + 60);
    const joined = chunks.map((c) => c.text).join(" ");
    for (const s of sentences) expect(joined).toContain(s);
    // Consecutive chunks share a sentence, so an answer that straddles the cut is found whole.
    const lastOfFirst = chunks[0]?.text.match(/Sentence number (\d+)/g)?.at(-1);
    expect(chunks[1]?.text).toContain(lastOfFirst);
  });

  it("cuts a sentence with no ends at words", () => {
    const chunks = chunkText(Array.from({ length: 3000 }, (_, i) => `w${i}`).join(" "));
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(countText(c.text)).toBeLessThanOrEqual(CHUNK_MAX_TOKENS + 60);
  });
});

describe("context packing", () => {
  it("keeps everything that fits, best first", () => {
    const packed = packContext([chunk("b", 0.5), chunk("a", 0.9)], 10_000);
    expect(packed.kept.map((c) => c.id)).toEqual(["a", "b"]);
    expect(packed.text.indexOf("[a#0]")).toBeLessThan(packed.text.indexOf("[b#0]"));
    expect(packed.tokens).toBeLessThanOrEqual(10_000);
  });

  it("drops the lowest-scoring chunk first until the rest fits", () => {
    const chunks = [chunk("high", 0.9), chunk("mid", 0.7), chunk("low", 0.2)];
    const all = packContext(chunks, 10_000).tokens;
    const packed = packContext(chunks, all - 5);
    expect(packed.kept.map((c) => c.id)).toEqual(["high", "mid"]);
    expect(packed.dropped.map((c) => c.id)).toEqual(["low"]);
    expect(countText(packed.text)).toBeLessThanOrEqual(all - 5);
    expect(packContext(chunks, 5)).toMatchObject({ text: "", kept: [], tokens: 0 });
  });

  it("packs the same chunks into the same bytes whatever order they came in", () => {
    const a = packContext([chunk("x", 0.5), chunk("y", 0.5), chunk("z", 0.8)], 10_000).text;
    const b = packContext([chunk("z", 0.8), chunk("y", 0.5), chunk("x", 0.5)], 10_000).text;
    expect(a).toBe(b);
  });
});

describe("retrieval cache keys and filters", () => {
  it("normalises case, width and spacing only", () => {
    expect(normaliseQuery("  What IS\tthe  cap? ")).toBe("what is the cap?");
    expect(normaliseQuery("cap of France")).not.toBe(normaliseQuery("cap of Germany"));
  });

  it("matches the Vectorize filter subset", () => {
    const meta = { team: "billing", year: 2024, public: true };
    expect(matchesFilter(meta, { team: "billing" })).toBe(true);
    expect(matchesFilter(meta, { team: { $ne: "billing" } })).toBe(false);
    expect(matchesFilter(meta, { year: { $in: [2023, 2024] }, public: true })).toBe(true);
    expect(matchesFilter(meta, { team: { $nin: ["billing"] } })).toBe(false);
    expect(matchesFilter(meta, { missing: { $in: ["x"] } })).toBe(false);
    expect(matchesFilter(meta, { missing: { $nin: ["x"] } })).toBe(true);
  });
});

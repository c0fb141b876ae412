import { describe, expect, it } from "vitest";
import type { Tier } from "../../src/routing/complexity-score";
import {
  cosineSimilarity,
  decideTier,
  estimateTier,
  topK,
  type LabelledNeighbour,
} from "../../src/routing/knn-router";

const QUERY = [1, 0, 0];

function neighbour(tier: Tier, good: boolean, similarity = 0.9): LabelledNeighbour {
  return { vector: [similarity, Math.sqrt(1 - similarity * similarity), 0], tier, good, similarity };
}

function many(count: number, tier: Tier, good: boolean, similarity = 0.9): LabelledNeighbour[] {
  return Array.from({ length: count }, () => neighbour(tier, good, similarity));
}

describe("cosineSimilarity and topK", () => {
  it("computes cosine and survives zero vectors", () => {
    expect(cosineSimilarity([1, 0], [1, 0])).toBeCloseTo(1);
    expect(cosineSimilarity([1, 0], [0, 1])).toBeCloseTo(0);
    expect(cosineSimilarity([1, 0], [-2, 0])).toBeCloseTo(-1);
    expect(cosineSimilarity([0, 0], [1, 0])).toBe(0);
  });

  it("returns the k most similar items, best first, with their similarity", () => {
    const items = [
      { id: "far", vector: [0, 1, 0] },
      { id: "near", vector: [1, 0.1, 0] },
      { id: "opposite", vector: [-1, 0, 0] },
      { id: "mid", vector: [1, 1, 0] },
    ];
    const result = topK(QUERY, items, 2);
    expect(result.map((r) => r.id)).toEqual(["near", "mid"]);
    expect(result[0]?.similarity).toBeGreaterThan(result[1]?.similarity ?? 1);
    expect(topK(QUERY, items, 10)).toHaveLength(4);
    expect(topK(QUERY, items, 0)).toEqual([]);
  });

  it("agrees with the normalized fast path on unit vectors", () => {
    const items = [[0.6, 0.8, 0], [0, 0, 1], [1, 0, 0]].map((vector, id) => ({ id, vector }));
    const slow = topK(QUERY, items, 3).map((r) => r.id);
    const fast = topK(QUERY, items, 3, { normalized: true }).map((r) => r.id);
    expect(fast).toEqual(slow);
  });
});

describe("estimateTier", () => {
  it("is high when similar prompts were handled well and low when they were not", () => {
    expect(estimateTier(QUERY, many(10, "fast", true), "fast").pGood).toBeGreaterThan(0.8);
    expect(estimateTier(QUERY, many(10, "fast", false), "fast").pGood).toBeLessThan(0.2);
  });

  it("falls back to the prior with no evidence", () => {
    const estimate = estimateTier(QUERY, [], "fast", { prior: { fast: 0.7 } });
    expect(estimate.evidence).toBe(0);
    expect(estimate.pGood).toBeCloseTo(0.7);
  });

  it("gives more similar neighbours more say", () => {
    const nearGood = [...many(3, "fast", true, 0.95), ...many(3, "fast", false, 0.2)];
    const nearBad = [...many(3, "fast", true, 0.2), ...many(3, "fast", false, 0.95)];
    expect(estimateTier(QUERY, nearGood, "fast").pGood).toBeGreaterThan(estimateTier(QUERY, nearBad, "fast").pGood);
  });

  it("uses only the k nearest and ignores neighbours under minSimilarity", () => {
    const neighbours = [...many(5, "fast", true, 0.9), ...many(20, "fast", false, 0.3)];
    expect(estimateTier(QUERY, neighbours, "fast", { k: 5 }).pGood).toBeGreaterThan(0.7);
    expect(estimateTier(QUERY, neighbours, "fast", { minSimilarity: 0.5 }).evidence).toBe(5);
  });

  it("computes similarity from vectors when the store did not return it", () => {
    const withoutSimilarity = many(6, "fast", true).map(({ vector, tier, good }) => ({ vector, tier, good }));
    expect(estimateTier(QUERY, withoutSimilarity, "fast").evidence).toBe(6);
  });

  it("carries evidence across tiers only when assumeMonotone is on", () => {
    const fastGood = many(6, "fast", true);
    expect(estimateTier(QUERY, fastGood, "powerful").evidence).toBe(6);
    expect(estimateTier(QUERY, fastGood, "powerful", { assumeMonotone: false }).evidence).toBe(0);
    expect(estimateTier(QUERY, many(6, "powerful", false), "fast").pGood).toBeLessThan(0.3);
  });
});

describe("decideTier", () => {
  it("picks fast when neighbours say fast was good", () => {
    const decision = decideTier(QUERY, many(8, "fast", true), { threshold: 0.7 });
    expect(decision?.tier).toBe("fast");
    expect(decision?.confidence).toBeGreaterThan(0.7);
  });

  it("skips fast when it failed on similar prompts but balanced succeeded", () => {
    const neighbours = [...many(6, "fast", false), ...many(6, "balanced", true)];
    expect(decideTier(QUERY, neighbours, { threshold: 0.7 })?.tier).toBe("balanced");
  });

  it("escalates to powerful when no cheaper tier reaches the bar", () => {
    const decision = decideTier(QUERY, [...many(6, "fast", false), ...many(6, "balanced", false)], { threshold: 0.7 });
    expect(decision?.tier).toBe("powerful");
    expect(decision?.confidence).toBeGreaterThan(0.7);
  });

  it("returns null with no evidence or too little of it", () => {
    expect(decideTier(QUERY, [], { threshold: 0.5 })).toBeNull();
    expect(decideTier(QUERY, many(2, "fast", true), { threshold: 0.5, minEvidence: 3 })).toBeNull();
    expect(decideTier(QUERY, many(8, "fast", true, 0.1), { threshold: 0.5, minSimilarity: 0.5 })).toBeNull();
  });

  it("spends more on stronger tiers as the threshold knob rises", () => {
    // 70% of similar prompts were fine on fast: a lenient bar accepts fast, a strict one does not.
    const neighbours = [...many(7, "fast", true), ...many(3, "fast", false)];
    const rank: Record<Tier, number> = { fast: 0, balanced: 1, powerful: 2 };
    const tiers = [0.3, 0.5, 0.7, 0.9].map((threshold) => decideTier(QUERY, neighbours, { threshold })?.tier ?? "powerful");
    expect(tiers[0]).toBe("fast");
    expect(tiers.at(-1)).toBe("powerful");
    for (let i = 1; i < tiers.length; i++) {
      expect(rank[tiers[i] as Tier]).toBeGreaterThanOrEqual(rank[tiers[i - 1] as Tier]);
    }
  });
});

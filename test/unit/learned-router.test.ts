import { describe, expect, it } from "vitest";
import type { LabelledNeighbour } from "../../src/routing/knn-router";
import { chooseTier, QUALITY_TARGET, tierQualities } from "../../src/routing/learned-router";

const near = (tier: LabelledNeighbour["tier"], good: boolean, n: number): LabelledNeighbour[] =>
  Array.from({ length: n }, () => ({ vector: [], tier, good, similarity: 0.9 }));

describe("learned router: tier by expected quality per dollar", () => {
  it("takes the cheapest tier that reaches the target, not the best one", () => {
    const choice = chooseTier(
      [
        { tier: "fast", quality: 0.75, evidence: 5 },
        { tier: "balanced", quality: 0.85, evidence: 5 },
        { tier: "powerful", quality: 0.95, evidence: 5 },
      ],
      0.7,
    );
    expect(choice.tier).toBe("fast");
  });

  it("when no tier reaches the target, takes the best expected quality", () => {
    const choice = chooseTier(
      [
        { tier: "fast", quality: 0.3, evidence: 5 },
        { tier: "balanced", quality: 0.5, evidence: 5 },
        { tier: "powerful", quality: 0.6, evidence: 5 },
      ],
      0.7,
    );
    expect(choice.tier).toBe("powerful");
  });

  it("neighbours where the fast tier failed lower its quality; where it succeeded, raise it", () => {
    const failed = tierQualities(0.2, near("fast", false, 20)).find((q) => q.tier === "fast");
    const succeeded = tierQualities(0.2, near("fast", true, 20)).find((q) => q.tier === "fast");
    expect(failed?.quality).toBeLessThan(succeeded?.quality ?? 0);
    expect(failed?.quality).toBeLessThan(QUALITY_TARGET);
  });

  it("a more complex prompt lowers every tier's expected quality at equal votes", () => {
    const simple = tierQualities(0.1, near("fast", true, 10));
    const complex = tierQualities(0.9, near("fast", true, 10));
    simple.forEach((q, i) => expect(q.quality).toBeGreaterThan(complex[i]?.quality ?? 1));
  });

  it("neighbours too dissimilar to say anything give no evidence", () => {
    const far = near("fast", false, 20).map((n) => ({ ...n, similarity: 0.2 }));
    expect(tierQualities(0.2, far).every((q) => q.evidence === 0)).toBe(true);
  });
});

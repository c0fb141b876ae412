import { describe, expect, it } from "vitest";
import { FEATURE_NAMES, pairFeatures } from "../../src/cache/pair-features";
import { checkWeights, verdictFor, type VerifierWeights } from "../../src/cache/semantic-verifier";
import { MAX_LOOSEN } from "../../src/cache/entry-feedback";
import { nearMissFlags } from "../../src/cache/near-miss-guard";
import { verifyPair } from "../../src/cache/semantic-cache";
import { VERIFIER } from "../../src/cache/verifier-weights";

const noFlags = { numbers: false, entities: false, negation: false };
const IDF = { words: { password: 3, reset: 4, convert: 3 }, unknown: 8 };
const feature = (a: string, b: string, name: (typeof FEATURE_NAMES)[number], cosine = 0.95) =>
  pairFeatures(a, b, cosine, noFlags, IDF)[FEATURE_NAMES.indexOf(name)];

describe("pairFeatures: order-sensitive patterns", () => {
  it("sees 'A to B' against 'B to A', including across to/into", () => {
    expect(feature("How do I convert Celsius to Fahrenheit?", "How do I convert Fahrenheit to Celsius?", "direction_swap")).toBe(1);
    expect(feature("How do I translate English to Spanish?", "How do I translate Spanish into English?", "direction_swap")).toBe(1);
    expect(feature("How do I fly from Paris to Rome?", "How do I fly from Rome to Paris?", "direction_swap")).toBe(1);
  });

  it("sees 'X or Y' against 'Y or X' and 'X than Y' against 'Y than X'", () => {
    expect(feature("Should I choose driver or operator?", "Should I choose operator or driver?", "direction_swap")).toBe(1);
    expect(feature("Is Python faster than Java?", "Is Java faster than Python?", "direction_swap")).toBe(1);
  });

  it("leaves a paraphrase that keeps the direction alone", () => {
    expect(feature("How do I convert Celsius to Fahrenheit?", "What's the way to convert Celsius to Fahrenheit?", "direction_swap")).toBe(0);
    expect(feature("What is the difference between a virus and bacteria?", "What's the difference between bacteria and a virus?", "direction_swap")).toBe(0);
  });

  it("sees antonym swaps such as before/after and larger/smaller", () => {
    expect(feature("Should I take this before meals?", "Should I take this after meals?", "antonym_swap")).toBe(1);
    expect(feature("How do I make text larger?", "How do I make text smaller?", "antonym_swap")).toBe(1);
    expect(feature("How do I make text larger?", "How can I make the text larger?", "antonym_swap")).toBe(0);
  });

  it("weights unshared rare words above unshared common ones", () => {
    const rare = feature("How do I reset my password?", "How do I reset my zyxwv?", "idf_unshared_top");
    const common = feature("How do I reset my password?", "How do I reset password?", "idf_unshared_top");
    expect(rare).toBeGreaterThan(common ?? 0);
  });
});

describe("pairFeatures: words in any script", () => {
  // QQP's most confident "duplicates" were questions about different Korean or Japanese words:
  // with ASCII-only words both read "what does mean", and USE-lite gives them cosine 1.
  it("sees the unshared word in a non-Latin script", () => {
    expect(feature("What does 심하잖아 mean?", "What does 任せてほしい mean?", "content_jaccard", 1)).toBeLessThan(1);
    expect(feature("What does 심하잖아 mean?", "What does 任せてほしい mean?", "idf_unshared_top", 1)).toBe(1);
    expect(feature("Qu'est-ce que le café?", "Qu'est-ce que le thé?", "content_jaccard", 1)).toBeLessThan(1);
  });
});

describe("words that name Object.prototype members", () => {
  // "constructor" used to read a function out of the word tables: nearMissFlags threw, the IDF
  // weight was NaN and the word counted as a connector.
  it("are plain words to the guard and the features", () => {
    const a = "What is a constructor in Java?";
    const b = "What does toString do in a Java constructor?";
    const flags = nearMissFlags(a, b);
    const x = pairFeatures(a, b, 0.9, flags, { words: { java: 2 }, unknown: 8 });
    expect(x.every(Number.isFinite)).toBe(true);
    expect(x[FEATURE_NAMES.indexOf("direction_swap")]).toBe(0);
    expect(nearMissFlags("What is valueOf hasOwnProperty constructor?", "Is constructor toString?")).toBeTypeOf("object");
  });
});

describe("verdictFor: the decision from features and weights", () => {
  const names = ["cosine", "direction_swap"];
  const model: VerifierWeights = { features: names, weights: [10, 0], bias: -9, threshold: 0.5, vetoes: ["direction"], candidate_cosine: {}, idf: IDF };

  it("accepts above the threshold, rejects below, and a positive shift makes it stricter", () => {
    expect(verdictFor([0.95, 0], model).accept).toBe(true); // p = sigmoid(0.5) = 0.62
    expect(verdictFor([0.85, 0], model).accept).toBe(false); // p = sigmoid(-0.5)
    expect(verdictFor([0.95, 0], model, 0.2).accept).toBe(false); // needs 0.7
    expect(verdictFor([0.95, 0], model, -0.1).needed).toBeCloseTo(0.4);
  });

  it("a kept veto rejects whatever the probability", () => {
    const verdict = verdictFor([1, 1], model);
    expect(verdict.p).toBeGreaterThan(0.7);
    expect(verdict).toMatchObject({ veto: "direction", accept: false });
  });

  it("a model with vector weights adds |u-v| and u*v, and rejects without both vectors of its size", () => {
    const withVectors: VerifierWeights = { ...model, vetoes: [], vector: { embedder: "e", abs_diff: [-4, -4], product: [2, 0] } };
    const same = verdictFor([0.95, 0], withVectors, 0, { query: [1, 0], cached: [1, 0] }); // z = 0.5 + 2
    const apart = verdictFor([0.95, 0], withVectors, 0, { query: [1, 0], cached: [0, 1] }); // z = 0.5 - 8
    expect(same.p).toBeCloseTo(1 / (1 + Math.exp(-2.5)), 10);
    expect(same.accept).toBe(true);
    expect(apart.accept).toBe(false);
    expect(verdictFor([0.95, 0], withVectors).accept).toBe(false);
    expect(verdictFor([0.95, 0], withVectors, 0, { query: [1, 0, 0], cached: [1, 0, 0] }).accept).toBe(false);
  });

  it("refuses weights trained on other features", () => {
    expect(() => checkWeights(model, FEATURE_NAMES)).toThrow(/train:verifier/);
    expect(() => checkWeights(VERIFIER, FEATURE_NAMES)).not.toThrow();
  });
});

describe("verifyPair: the shipped weights", () => {
  it("refuses the reversed question even at a cosine of 0.99", () => {
    expect(verifyPair("How do I convert Fahrenheit to Celsius?", "How do I convert Celsius to Fahrenheit?", 0.99).accept).toBe(false);
    expect(verifyPair("Should I take this medicine after meals?", "Should I take this medicine before meals?", 0.99).accept).toBe(false);
  });

  it("accepts a close paraphrase at its USE-lite cosine", () => {
    // 0.9881 is what local/use-lite gives this pair (scripts/embed-server.mjs).
    expect(verifyPair("How can I reset my password?", "How do I reset my password?", 0.9881).accept).toBe(true);
  });

  it("an entry loosened by confirmations reaches further than a fresh one", () => {
    const fresh = verifyPair("I forgot my password, how do I change it?", "How do I reset my password?", 0.9268);
    const loosened = verifyPair("I forgot my password, how do I change it?", "How do I reset my password?", 0.9268, -MAX_LOOSEN);
    expect(loosened.p).toBe(fresh.p);
    expect(loosened.needed).toBeCloseTo(fresh.needed - MAX_LOOSEN, 10);
  });
});

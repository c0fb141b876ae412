import { describe, it, expect } from "vitest";
import { nearMissReason } from "../../src/cache/near-miss-guard";

describe("nearMissReason: near misses are rejected", () => {
  it("rejects a swapped country", () => {
    expect(nearMissReason("What is the capital of France?", "What is the capital of Germany?")).toBe(
      "entities",
    );
  });

  it("rejects a swapped name even when the other side is lower case", () => {
    expect(nearMissReason("how do i learn python", "How do I learn Java?")).toBe("entities");
  });

  it("rejects a swapped product, company or weekday", () => {
    expect(nearMissReason("Who is the CEO of Apple?", "Who is the CEO of Google?")).toBe("entities");
    expect(nearMissReason("Best book for a C# programmer?", "Best book for a C++ programmer?")).toBe(
      "entities",
    );
    expect(nearMissReason("What happened on Monday?", "What happened on Tuesday?")).toBe("entities");
  });

  it("rejects a different modifier on a shared name", () => {
    expect(nearMissReason("Why do North Koreans hate us?", "Why do South Koreans hate us?")).toBe(
      "entities",
    );
    expect(nearMissReason("How hot is the Thar Desert?", "How hot is the Syrian Desert?")).toBe(
      "entities",
    );
  });

  it("rejects names that only share a prefix", () => {
    expect(nearMissReason("Is Austria safe for tourists?", "Is Australia safe for tourists?")).toBe(
      "entities",
    );
  });

  it("rejects different numbers", () => {
    expect(nearMissReason("How do I get 3 apples?", "How do I get 4 apples?")).toBe("numbers");
    expect(nearMissReason("Best phone in 2016?", "Best phone in 2017?")).toBe("numbers");
    expect(nearMissReason("Is Windows 10 faster?", "Is Windows 8.1 faster?")).toBe("numbers");
  });

  it("rejects a number present on one side only", () => {
    expect(nearMissReason("How do you convert centimeters to inches?", "How do you convert 60 centimeters to inches?")).toBe(
      "numbers",
    );
  });

  it("rejects different spelled-out numbers and ordinals", () => {
    expect(nearMissReason("Give me three ideas", "Give me five ideas")).toBe("numbers");
    expect(nearMissReason("What is the 2nd law of motion?", "What is the third law of motion?")).toBe(
      "numbers",
    );
  });

  it("rejects a flipped polarity", () => {
    expect(nearMissReason("Is coffee good for you?", "Is coffee not good for you?")).toBe("negation");
    expect(nearMissReason("Why do cats purr?", "Why don't cats purr?")).toBe("negation");
    expect(nearMissReason("How do I lose weight?", "How do I lose weight without exercise?")).toBe(
      "negation",
    );
    expect(nearMissReason("Have you ever lied?", "Have you never lied?")).toBe("negation");
  });
});

describe("nearMissReason: paraphrases pass", () => {
  it("passes a lower-case paraphrase of a named question", () => {
    expect(nearMissReason("whats the capital city of france", "What is the capital of France?")).toBeNull();
  });

  it("passes identical text", () => {
    expect(nearMissReason("What is 2 + 2?", "What is 2 + 2?")).toBeNull();
  });

  it("passes plain rewordings without names, numbers or negation", () => {
    expect(nearMissReason("What makes a person shy?", "What makes someone shy?")).toBeNull();
    expect(nearMissReason("How can I improve my writing?", "What are ways to write better?")).toBeNull();
  });

  it("passes when a name moves to the start of the sentence", () => {
    expect(nearMissReason("Python or Java: which first?", "Which first, Java or Python?")).toBeNull();
  });

  it("passes inflections and spellings of the same name", () => {
    expect(nearMissReason("Why are Indians so good at chess?", "Why is India so good at chess?")).toBeNull();
    expect(nearMissReason("What's the difference between IITs and NITs?", "What is the difference between IIT and NIT?")).toBeNull();
    expect(nearMissReason("Is Pokémon GO fun?", "Is Pokemon GO fun?")).toBeNull();
    expect(nearMissReason("What is life like in the U.S.?", "What is life like in America?")).toBeNull();
  });

  it("passes a full name against the surname alone", () => {
    expect(nearMissReason("Why did you vote for Trump?", "Why did you vote for Donald Trump?")).toBeNull();
  });

  it("passes the same number written differently", () => {
    expect(nearMissReason("Best laptop under 60k?", "Best laptop under 60,000?")).toBeNull();
    expect(nearMissReason("Give me twenty five ideas", "Give me 25 ideas")).toBeNull();
    expect(nearMissReason("Can I ovulate twice in 1 month?", "Can I ovulate twice in a month?")).toBeNull();
    expect(nearMissReason("What is the 1st law of thermodynamics?", "What is the first law of thermodynamics?")).toBeNull();
  });

  it("passes negation on both sides, and idioms that do not negate", () => {
    expect(nearMissReason("Why can't I sleep?", "Why am I not able to sleep?")).toBeNull();
    expect(nearMissReason("Is sleeping on the floor good or not?", "Is sleeping on the floor good?")).toBeNull();
    expect(nearMissReason("Who is the world's no. 1 player?", "Who is the world's number 1 player?")).toBeNull();
  });

  it("ignores capitals in Title Case questions", () => {
    expect(nearMissReason("How Do I Become A Better Writer", "how do i become a better writer?")).toBeNull();
  });
});

describe("nearMissReason: cost", () => {
  // The design budget is 0.1 ms per pair, and bench/eval-semantic.mjs measures ~20 us of CPU. The
  // bound asserted here is 0.5 ms per pair (5x the budget, 25x the measurement) and 50 ms for the long
  // input: loose on purpose (since 34c01b2), to catch a quadratic or backtracking regression, not noise
  // on a shared machine. It does not prove the 0.1 ms budget; the benchmark reports that figure.
  it("checks a typical pair cheaply once warm", () => {
    const a = "What are the safety precautions on handling shotguns proposed by the NRA in Washington?";
    const b = "What are the safety precautions on handling shotguns proposed by the NRA in Kansas?";
    for (let i = 0; i < 200; i++) nearMissReason(a, b);
    const runs = 2000;
    const start = performance.now();
    for (let i = 0; i < runs; i++) nearMissReason(a, b + (i % 2 === 0 ? "" : " "));
    expect((performance.now() - start) / runs).toBeLessThan(0.5);
  });

  it("stays linear on long, adversarial input", () => {
    const long = "Is the 1st Big Red Apple's no. 12,000 not-so-Tiny iPhone C++ thing ok? ".repeat(150);
    nearMissReason(long, long.toLowerCase());
    const start = performance.now();
    expect(nearMissReason(long, `${long} Is it in Germany?`)).toBe("entities");
    expect(performance.now() - start).toBeLessThan(50);
  });
});

describe("nearMissFlags: every check at once, for the verifier", () => {
  it("reports each difference, not only the first", async () => {
    const { nearMissFlags } = await import("../../src/cache/near-miss-guard");
    expect(nearMissFlags("Why can't I visit France in 2024?", "Why can I visit Germany in 2025?")).toEqual({ numbers: true, entities: true, negation: true });
    expect(nearMissFlags("What is the capital of France?", "What's the capital of France?")).toEqual({ numbers: false, entities: false, negation: false });
    expect(nearMissFlags("How many legs does a spider have?", "How many legs does a spider have?")).toEqual({ numbers: false, entities: false, negation: false });
  });
});

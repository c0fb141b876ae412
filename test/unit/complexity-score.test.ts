import { describe, expect, it } from "vitest";
import {
  complexityScore,
  DEFAULT_TIER_THRESHOLDS,
  tierForScore,
  type ComplexityInput,
} from "../../src/routing/complexity-score";

function userPrompt(content: string, extra: Partial<ComplexityInput> = {}): ComplexityInput {
  return { messages: [{ role: "user", content }], hasTools: false, hasJsonSchema: false, ...extra };
}

function scoreOf(content: string, extra: Partial<ComplexityInput> = {}): number {
  return complexityScore(userPrompt(content, extra)).score;
}

const PROOF_WITH_CODE = [
  "Prove step by step that the sum of the first n odd numbers is n^2. Then:",
  "1. Write a TypeScript function that verifies it for every n up to 1000.",
  "2. Explain why induction works here and compare it with a direct algebraic proof.",
  "3. Analyse the time complexity of your verifier.",
  "```ts",
  "function check(n: number): boolean {",
  "  let s = 0;",
  "  for (let i = 0; i < n; i++) { s += 2 * i + 1; }",
  "  return s === n * n;",
  "}",
  "```",
  "What is the integral of x^2 from 0 to n? How does it relate to the sum?",
].join("\n");

describe("complexityScore", () => {
  it("routes greetings and short lookups to fast", () => {
    expect(tierForScore(scoreOf("hi"))).toBe("fast");
    expect(tierForScore(scoreOf("What is the capital of France?"))).toBe("fast");
    expect(scoreOf("hi")).toBeLessThan(0.05);
  });

  it("routes a long multi-step proof with code to powerful", () => {
    const { score, signals } = complexityScore(userPrompt(PROOF_WITH_CODE));
    expect(tierForScore(score)).toBe("powerful");
    expect(signals.code).toBeGreaterThan(0.5);
    expect(signals.maths).toBeGreaterThan(0.5);
    expect(signals.multiStep).toBeGreaterThan(0.3);
    expect(signals.reasoning).toBeGreaterThan(0.3);
  });

  it("lifts a single strong signal (code, maths) above fast", () => {
    const code = "Fix this:\n```python\ndef f(xs):\n    return [x for x in xs if x > 0]\n```";
    expect(tierForScore(scoreOf(code))).not.toBe("fast");
    expect(tierForScore(scoreOf("Solve for x: 3x^2 + 2x - 5 = 0"))).not.toBe("fast");
  });

  it("keeps the score within 0..1 and reports every signal within 0..1", () => {
    const huge = `${PROOF_WITH_CODE}\n`.repeat(40);
    const { score, signals } = complexityScore({
      messages: Array.from({ length: 30 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: huge })),
      hasTools: true,
      hasJsonSchema: true,
    });
    expect(score).toBeGreaterThan(0.9);
    expect(score).toBeLessThanOrEqual(1);
    for (const value of Object.values(signals)) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
  });

  it("grows with length for the same kind of text", () => {
    const sentence = "The committee reviewed the proposal and noted several concerns about the budget. ";
    const scores = [1, 5, 25, 100].map((n) => scoreOf(sentence.repeat(n)));
    for (let i = 1; i < scores.length; i++) {
      expect(scores[i]).toBeGreaterThanOrEqual(scores[i - 1] as number);
    }
    expect(scores[3]).toBeGreaterThan(scores[0] as number);
  });

  it("never decreases when tools, a JSON schema or more turns are added", () => {
    const base = userPrompt("Look up the weather in Paris.");
    const withTools = { ...base, hasTools: true };
    const withBoth = { ...withTools, hasJsonSchema: true };
    const deeper: ComplexityInput = {
      ...withBoth,
      messages: [
        { role: "user", content: "Plan my trip." },
        { role: "assistant", content: "Sure, where to?" },
        { role: "user", content: "Paris, in May." },
        { role: "assistant", content: "Noted." },
        { role: "user", content: "Look up the weather in Paris." },
      ],
    };
    const chain = [base, withTools, withBoth, deeper].map((input) => complexityScore(input).score);
    for (let i = 1; i < chain.length; i++) {
      expect(chain[i]).toBeGreaterThan(chain[i - 1] as number);
    }
  });

  it("reads the system prompt and the latest user turn for content signals", () => {
    const withSystem = complexityScore({
      messages: [
        { role: "system", content: "Answer with a step by step proof, then explain why it holds." },
        { role: "user", content: "n^2 - n is always even" },
      ],
      hasTools: false,
      hasJsonSchema: false,
    });
    expect(withSystem.score).toBeGreaterThan(scoreOf("n^2 - n is always even"));
  });

  it("scores a 4k-char prompt in well under a millisecond", () => {
    const input = userPrompt(PROOF_WITH_CODE.repeat(8).slice(0, 4000));
    for (let i = 0; i < 50; i++) complexityScore(input);
    const runs = 200;
    const started = performance.now();
    for (let i = 0; i < runs; i++) complexityScore(input);
    // Generous bound: workerd freezes timers between I/O, so this also passes when time reads coarse.
    expect((performance.now() - started) / runs).toBeLessThan(1);
  });
});

describe("tierForScore", () => {
  it("maps scores onto tiers at the default thresholds", () => {
    expect(tierForScore(0)).toBe("fast");
    expect(tierForScore(DEFAULT_TIER_THRESHOLDS.balanced)).toBe("balanced");
    expect(tierForScore(DEFAULT_TIER_THRESHOLDS.powerful)).toBe("powerful");
    expect(tierForScore(1)).toBe("powerful");
  });

  it("honours custom thresholds", () => {
    const thresholds = { balanced: 0.1, powerful: 0.2 };
    expect(tierForScore(0.05, thresholds)).toBe("fast");
    expect(tierForScore(0.15, thresholds)).toBe("balanced");
    expect(tierForScore(0.25, thresholds)).toBe("powerful");
  });
});

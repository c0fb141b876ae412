import { describe, expect, it } from "vitest";
import { defineVersion, placeholders, type PromptVersion, renderVersion } from "../../src/prompts/prompt-definition";
import { rolloutBucket } from "../../src/prompts/prompt-registry-client";

const version = (body: Parameters<typeof defineVersion>[0]): PromptVersion => ({ ...defineVersion(body), version: 1, created_at: 0 });

describe("prompt templates", () => {
  it("finds placeholders with or without inner spaces, once per name", () => {
    expect(placeholders("{{a}} and {{ b }} and {{a}}")).toEqual(["a", "b", "a"]);
    expect(defineVersion({ template: "{{a}} and {{ b }} and {{a}}" }).variables).toEqual(["a", "b"]);
  });

  it("fills each placeholder in one pass: a value containing {{x}} is not expanded again", () => {
    const v = version({ template: "Hello {{name}}, re: {{topic}}" });
    expect(renderVersion(v, "p", { name: "{{topic}}", topic: "refunds" })).toEqual([{ role: "user", content: "Hello {{topic}}, re: refunds" }]);
  });

  it("refuses placeholders that are not variable names", () => {
    expect(() => defineVersion({ template: "Hi {{first-name}}" })).toThrow(/not a valid variable name/);
  });

  it("keeps the template's role and the other messages' roles", () => {
    const v = version({ messages: [{ role: "system", content: "Be {{tone}}" }, { role: "user", content: "Go" }] });
    expect(renderVersion(v, "p", { tone: "brief" })).toEqual([{ role: "system", content: "Be brief" }, { role: "user", content: "Go" }]);
    expect(version({ template: "x", role: "developer" }).messages[0]?.role).toBe("developer");
  });
});

describe("rollout buckets", () => {
  it("are stable per key and spread evenly", async () => {
    expect(await rolloutBucket("p", "session-1")).toBe(await rolloutBucket("p", "session-1"));
    const buckets = await Promise.all(Array.from({ length: 2000 }, (_, i) => rolloutBucket("p", `k${i}`)));
    const share = buckets.filter((b) => b < 2000).length / buckets.length;
    expect(share).toBeGreaterThan(0.17);
    expect(share).toBeLessThan(0.23);
    expect(Math.min(...buckets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...buckets)).toBeLessThan(10_000);
  });
});

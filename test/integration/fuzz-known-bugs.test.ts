import { describe, expect, it, vi } from "vitest";
import { chat, createTenant } from "../fixtures/gateway";

/**
 * Inputs the fuzzers found that used to answer 5xx (schemas the escalation check could not evaluate,
 * in src/routing/answer-check.ts). Kept as regression tests.
 */
const withSchema = (schema: Record<string, unknown>) => ({
  model: "auto",
  messages: [{ role: "user", content: "Give me a JSON object" }],
  response_format: { type: "json_schema", json_schema: { name: "s", schema } },
});

describe("fuzz findings (fixed)", () => {
  it("a self-referencing response_format schema ({$ref: '#'}) is refused or ignored, not a 500 (stack overflow in answer-check)", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const tenant = await createTenant();
    const res = await chat(tenant.key, withSchema({ $ref: "#" }));
    expect(res.status).toBeLessThan(500);
  });

  it("a response_format schema with an unresolvable $ref is refused or ignored, not a 500 (Validator throws in answer-check)", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const tenant = await createTenant();
    const res = await chat(tenant.key, { ...withSchema({ type: "array", items: { $ref: "#/nope" } }), messages: [{ role: "system", content: [] }] });
    expect(res.status).toBeLessThan(500);
  });

  it("a response_format schema with an invalid pattern is refused or ignored, not a 500 (RegExp SyntaxError in answer-check)", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const tenant = await createTenant();
    const res = await chat(tenant.key, withSchema({ type: "object", properties: { answer: { type: "string", pattern: "(" } }, patternProperties: { "(": {} } }));
    expect(res.status).toBeLessThan(500);
  });
});

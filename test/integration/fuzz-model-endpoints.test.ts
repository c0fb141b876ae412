import fc from "fast-check";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { chat, createTenant, hello, ledgerRow, type TestTenant } from "../fixtures/gateway";
import { bodyOf, chatBody, contentType, expectHandled, hintHeaders, RUNS, someHints, statusCounts, text, validOrMutated, watchUnhandled } from "../fixtures/fuzz-arbitraries";

/**
 * Property-based fuzzing of the model endpoints: chat completions, Anthropic messages, embeddings and
 * feedback. Bodies are mostly structured (so many reach the pipeline, provider call and cache), with
 * every field sometimes of the wrong type; headers cover every x-tollgate-* hint. Nothing may answer
 * 5xx (but a 504 when a deadline was asked for), and nothing may reach the "unhandled error" path.
 */
let tenant: TestTenant;
let unhandled: string[];

beforeAll(async () => {
  tenant = await createTenant({ limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 1_000 } });
  const res = await chat(tenant.key, hello("fuzz: a request to give feedback on"));
  ownRequestId = res.headers.get("x-request-id") ?? "unset";
  await ledgerRow(ownRequestId);
});
afterEach(() => {
  expect(unhandled).toEqual([]);
  vi.restoreAllMocks();
});

const auth = () => ({ authorization: `Bearer ${tenant.key}` });

const block = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant("text"), text }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("tool_use"), id: fc.string({ maxLength: 10 }), name: fc.string({ minLength: 1, maxLength: 10 }), input: fc.object({ maxDepth: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("tool_result"), tool_use_id: fc.string({ maxLength: 10 }), content: fc.oneof(text, fc.array(fc.record({ type: fc.constant("text"), text }), { maxLength: 2 })) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("image"), source: fc.record({ type: fc.constant("base64"), media_type: fc.constant("image/png"), data: fc.base64String({ maxLength: 20 }) }) }) },
);
const anthropicMessage = validOrMutated(fc.record({ role: fc.constantFrom("user", "user", "assistant"), content: fc.oneof(text, fc.array(block, { minLength: 1, maxLength: 3 })) }), ["role", "content"], 16);
const messagesBody = validOrMutated(
  fc.record(
    {
      model: fc.constantFrom("sim/fast", "sim/balanced", "auto", "nope/nope"),
      max_tokens: fc.integer({ min: 1, max: 64 }),
      system: fc.oneof(text, fc.array(fc.record({ type: fc.constant("text"), text }), { maxLength: 2 })),
      messages: fc.array(anthropicMessage, { minLength: 1, maxLength: 3 }),
      stop_sequences: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
      temperature: fc.double({ min: 0, max: 1, noNaN: true }),
      stream: fc.boolean(),
      tools: fc.array(fc.record({ name: fc.string({ minLength: 1, maxLength: 20 }), description: text, input_schema: fc.object({ maxDepth: 2 }) }), { maxLength: 2 }),
      tool_choice: fc.record({ type: fc.constantFrom("auto", "any", "tool", "none"), name: fc.string({ maxLength: 10 }) }, { requiredKeys: ["type"] }),
      metadata: fc.record({ user_id: fc.string({ maxLength: 20 }) }),
    },
    { requiredKeys: ["model", "max_tokens", "messages"] },
  ),
  ["model", "max_tokens", "system", "messages", "stop_sequences", "temperature", "stream", "tools", "tool_choice", "metadata"],
);

const embeddingsBody = validOrMutated(
  fc.record(
    {
      model: fc.constantFrom("sim/embed", "sim/embed", "sim/fast", "nope"),
      input: fc.oneof(text, fc.array(text, { minLength: 1, maxLength: 4 })),
      encoding_format: fc.constantFrom("float", "base64"),
      dimensions: fc.integer({ min: 1, max: 1024 }),
      user: fc.string({ maxLength: 20 }),
    },
    { requiredKeys: ["model", "input"] },
  ),
  ["model", "input", "encoding_format", "dimensions"],
);

// A request id of this tenant's (read when the property runs), so feedback also gets past the lookup.
let ownRequestId = "unset";
const feedbackBody = validOrMutated(fc.record({ request_id: fc.oneof(fc.constant(0).map(() => ownRequestId), text, fc.constantFrom("01J0000000000000000000000", "job_x.1")), good: fc.boolean() }), ["request_id", "good"]);

const ENDPOINTS: [string, string, fc.Arbitrary<unknown>][] = [
  ["chat completions", "/v1/chat/completions", chatBody],
  ["messages", "/v1/messages", messagesBody],
  ["embeddings", "/v1/embeddings", embeddingsBody],
  ["feedback", "/v1/feedback", feedbackBody],
];

describe("fuzz: model endpoints", () => {
  it.each(ENDPOINTS)("%s: any body, any content type, any hint headers → never a 5xx", async (_name, path, structured) => {
    unhandled = watchUnhandled();
    statusCounts.clear();
    await fc.assert(
      fc.asyncProperty(bodyOf(structured), contentType, someHints, async (body, type, hints) => {
        await expectHandled({ path, headers: { ...hints, ...auth(), "content-type": type }, body });
      }),
      { numRuns: RUNS.body },
    );
    // Some inputs must get through validation, or the property only exercised the 400 path.
    expect([...statusCounts.keys()].some((status) => status < 300), JSON.stringify([...statusCounts])).toBe(true);
  }, 120_000);

  it("chat completions: a valid body with every hint header combination → never a 5xx", async () => {
    unhandled = watchUnhandled();
    const valid = fc.record({ model: fc.constantFrom("sim/fast", "auto", "sim/balanced"), messages: fc.constant([{ role: "user", content: "Say hello" }]), stream: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(valid, hintHeaders, async (body, hints) => {
        await expectHandled({ path: "/v1/chat/completions", headers: { ...hints, ...auth(), "content-type": "application/json" }, body: JSON.stringify(body) });
      }),
      { numRuns: RUNS.headers },
    );
  }, 120_000);
});

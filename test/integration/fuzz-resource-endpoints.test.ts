import fc from "fast-check";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createTenant, type TestTenant } from "../fixtures/gateway";
import { postJob, tenantCall } from "../fixtures/jobs-fixtures";
import { anyValue, bodyOf, chatBody, contentType, expectHandled, hintHeaders, queryOf, RUNS, segment, someHints, statusCounts, text, validOrMutated, watchUnhandled } from "../fixtures/fuzz-arbitraries";

/**
 * Property-based fuzzing of the tenant's resource endpoints: jobs, batches, workflows and their runs,
 * the memo, usage, budget and models; bodies, path segments, query strings and headers. The same
 * property as for the model endpoints: never a 5xx, never an unhandled error.
 */
let tenant: TestTenant;
let ids: { job: string; batch: string; run: string };
let unhandled: string[];

beforeAll(async () => {
  tenant = await createTenant({ limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 1_000 } });
  const job = await postJob(tenant.key, { request: { model: "sim/fast", messages: [{ role: "user", content: "fuzz job" }] } });
  const batch = await (await tenantCall(tenant.key, "/v1/batches", "POST", { requests: [{ custom_id: "a", body: { model: "sim/fast", messages: [{ role: "user", content: "x" }] } }] })).json<{ id: string }>();
  const steps = [{ name: "one", prompt: "Say {{input.topic}}" }];
  expect((await tenantCall(tenant.key, "/v1/workflows/fz", "PUT", { steps })).status).toBe(200);
  const run = await (await tenantCall(tenant.key, "/v1/workflows/fz/runs", "POST", { input: { topic: "x" } })).json<{ id: string }>();
  ids = { job: job.id, batch: batch.id, run: run.id };
});
afterEach(() => {
  expect(unhandled).toEqual([]);
  vi.restoreAllMocks();
});

const auth = () => ({ authorization: `Bearer ${tenant.key}` });
// Queued work must not call out: every callback URL here is refused (no network in tests).
const callbackUrl = fc.oneof(fc.constantFrom("gopher://x", "not a url", "https://user:pw@hooks.invalid/cb", "javascript:alert(1)", "file:///etc/passwd"), fc.string({ maxLength: 30 }));
// Queued work does not stream, and a refused callback refuses the whole job: so most queued requests
// are plain chat bodies without either, and the fuzzed chat bodies and callbacks come in now and then.
const plainChat = fc.record({ model: fc.constantFrom("sim/fast", "auto", "sim/balanced"), messages: fc.constant([{ role: "user", content: "queued work" }]), max_tokens: fc.integer({ min: 1, max: 32 }) }, { requiredKeys: ["model", "messages"] });
const queuedChat = fc.oneof({ weight: 3, arbitrary: plainChat }, { weight: 1, arbitrary: chatBody });
const jobFields = fc.record({ request: queuedChat, priority: fc.constantFrom("interactive", "standard", "batch"), deadline_s: fc.integer({ min: 1, max: 3600 }), timeout_s: fc.integer({ min: 1, max: 900 }) }, { requiredKeys: ["request"] });
const jobBody = fc.oneof(
  { weight: 4, arbitrary: validOrMutated(jobFields, ["request", "priority", "deadline_s", "timeout_s"]) },
  { weight: 1, arbitrary: fc.tuple(jobFields, callbackUrl).map(([job, callback_url]) => ({ ...job, callback_url })) },
);
const batchItem = validOrMutated(fc.record({ custom_id: fc.string({ minLength: 1, maxLength: 70 }), body: queuedChat, method: fc.constant("POST"), url: fc.constant("/v1/chat/completions") }, { requiredKeys: ["custom_id", "body"] }), ["custom_id", "body", "method", "url"], 8);
const batchBody = validOrMutated(
  fc.record({
    requests: fc.uniqueArray(batchItem, { selector: (item) => String(item.custom_id), minLength: 1, maxLength: 3 }),
    completion_window: fc.oneof({ weight: 4, arbitrary: fc.constantFrom("24h", "10m", "168h") }, { weight: 1, arbitrary: fc.constantFrom("9m", "1d", "0h", "") }),
    off_peak: fc.constant(true),
    metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
  }, { requiredKeys: ["requests"] }),
  ["requests", "completion_window", "off_peak", "metadata"],
);
// Mostly definitions that can be valid (distinct names, known placeholders, no dependencies), so that
// some get stored; the mutations and the odd names and prompts cover the rest.
const stepName = fc.oneof({ weight: 6, arbitrary: fc.constantFrom("a", "b", "c") }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) });
const step = validOrMutated(
  fc.record(
    {
      name: stepName,
      prompt: fc.oneof({ weight: 4, arbitrary: fc.constantFrom("Summarise {{input.topic}}", "Say hello", "A plain prompt") }, { weight: 1, arbitrary: text }, { weight: 1, arbitrary: fc.constantFrom("From {{steps.a.output}}", "{{steps.nope.output}}", "{{input}}", "{{ bad") }),
      tier: fc.constantFrom("fast", "balanced", "powerful"),
      model: fc.constantFrom("auto", "auto", "sim/fast", "nope"),
      depends_on: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(stepName, { maxLength: 2 }) }),
      optional: fc.boolean(),
      max_attempts: fc.integer({ min: 1, max: 4 }),
      timeout_s: fc.integer({ min: 1, max: 600 }),
    },
    { requiredKeys: ["name", "prompt"] },
  ),
  ["name", "prompt", "depends_on", "max_attempts", "timeout_s"],
  8,
);
const steps = fc.uniqueArray(step, { selector: (s) => String(s.name), minLength: 1, maxLength: 3 });
const workflowBody = validOrMutated(fc.record({ deadline_s: fc.integer({ min: 1, max: 86_400 }), steps }, { requiredKeys: ["steps"] }), ["deadline_s", "steps"]);
const input = fc.oneof({ weight: 3, arbitrary: fc.record({ topic: text }) }, { weight: 1, arbitrary: fc.dictionary(fc.constantFrom("topic", "x", "__proto__", "constructor"), fc.oneof(text, anyValue), { maxKeys: 3 }) });
const runBody = validOrMutated(fc.record({ input, deadline_s: fc.integer({ min: 1, max: 100 }), priority: fc.constantFrom("interactive", "batch"), sim_faults: fc.dictionary(stepName, fc.constantFrom("500", "cut", "nonsense"), { maxKeys: 2 }) }), ["input", "deadline_s", "priority", "sim_faults"]);
const mostly = (fixed: string, other: fc.Arbitrary<string>) => fc.oneof({ weight: 3, arbitrary: fc.constant(fixed) }, { weight: 1, arbitrary: other });

async function bodyProperty(path: fc.Arbitrary<string>, method: string, structured: fc.Arbitrary<unknown>) {
  unhandled = watchUnhandled();
  statusCounts.clear();
  await fc.assert(
    fc.asyncProperty(path, bodyOf(structured), contentType, someHints, async (p, body, type, hints) => {
      await expectHandled({ path: p, method, headers: { ...hints, ...auth(), "content-type": type }, body });
    }),
    { numRuns: RUNS.body },
  );
  // Some inputs must get past validation, or the property only exercised the 400 path.
  expect([...statusCounts.keys()].some((status) => status < 300), JSON.stringify([...statusCounts])).toBe(true);
}

describe("fuzz: tenant resource endpoints", () => {
  it("POST /v1/jobs: any body and headers → never a 5xx", () => bodyProperty(fc.constant("/v1/jobs"), "POST", jobBody), 120_000);
  it("POST /v1/batches: any body and headers → never a 5xx", () => bodyProperty(fc.constant("/v1/batches"), "POST", batchBody), 120_000);
  it("PUT /v1/workflows/:name: any name and definition → never a 5xx", () => bodyProperty(mostly("/v1/workflows/fz2", segment.map((s) => `/v1/workflows/${s}`)), "PUT", workflowBody), 120_000);
  it("POST /v1/workflows/:name/runs: any name and run body → never a 5xx", () => bodyProperty(mostly("/v1/workflows/fz/runs", segment.map((s) => `/v1/workflows/${s}/runs`)), "POST", runBody), 120_000);

  it("PUT /v1/memo/:namespace/:key: any address, value, content type and TTL → never a 5xx", async () => {
    unhandled = watchUnhandled();
    const ttl = fc.oneof(fc.constant(""), fc.constantFrom("?ttl_s=60", "?ttl_s=0", "?ttl_s=-1", "?ttl_s=abc", "?ttl_s=99999999999", "?ttl_s=1e3"));
    const value = fc.oneof(fc.uint8Array({ maxLength: 64 }), text.map((t) => new TextEncoder().encode(t)));
    await fc.assert(
      fc.asyncProperty(segment, segment, ttl, value, contentType, fc.constantFrom("GET", "PUT", "DELETE"), async (ns, key, query, bytes, type, method) => {
        await expectHandled({ path: `/v1/memo/${ns}/${key}${query}`, method, headers: { ...auth(), "content-type": type }, body: method === "PUT" ? bytes : undefined });
      }),
      { numRuns: RUNS.body },
    );
  }, 120_000);

  it("GET endpoints and resource ids: any path segment, query string and headers → never a 5xx", async () => {
    unhandled = watchUnhandled();
    const route = fc.oneof(
      queryOf(["group_by", "from", "to"]).map((q) => ["GET", `/v1/usage${q}`]),
      queryOf(["status", "limit"]).map((q) => ["GET", `/v1/jobs${q}`]),
      queryOf(["x"]).map((q) => ["GET", `/v1/models${q}`]),
      queryOf(["x"]).map((q) => ["GET", `/v1/budget${q}`]),
      fc.tuple(fc.constantFrom("GET", "DELETE"), fc.oneof(segment, fc.constant(0).map(() => ids.job))).map(([m, id]) => [m, `/v1/jobs/${id}`]),
      fc.tuple(fc.constantFrom("", "/results", "/cancel"), fc.oneof(segment, fc.constant(0).map(() => ids.batch))).map(([tail, id]) => [tail === "/cancel" ? "POST" : "GET", `/v1/batches/${id}${tail}`]),
      fc.oneof(segment, fc.constant(0).map(() => ids.run)).map((id) => ["GET", `/v1/workflow-runs/${id}`]),
      segment.map((name) => ["GET", `/v1/workflows/${name}`]),
      segment.map((tail) => ["GET", `/v1/${tail}`]),
    );
    await fc.assert(
      fc.asyncProperty(route, hintHeaders, async ([method, path], hints) => {
        await expectHandled({ path: path ?? "/", method, headers: { ...hints, ...auth() } });
      }),
      { numRuns: RUNS.query * 3 },
    );
  }, 120_000);
});

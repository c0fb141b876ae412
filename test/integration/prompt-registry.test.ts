import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chat, createTenant, ledgerRow, tenantCall } from "../fixtures/gateway";
import { noEmbedder, useFakeEmbedder } from "../fixtures/cache-fake-embedder";
import type { VersionFigures } from "../../src/prompts/prompt-report";

type Completion = { choices: { message: { content: string | null } }[] };
type PromptRow = { prompt_name: string | null; prompt_version: number | null; cache: string };
type Report = { name: string; rollout: { stable: number; candidate: number | null; percent: number }; versions: VersionFigures[] };

const requestId = (res: Response) => res.headers.get("x-request-id") ?? "";

async function putVersion(key: string, name: string, body: Record<string, unknown>): Promise<number> {
  const res = await tenantCall(key, "PUT", `/v1/prompts/${name}`, body);
  expect(res.status, await res.clone().text()).toBe(201);
  const json = await res.json<{ name: string; version: number }>();
  expect(json.name).toBe(name);
  return json.version;
}

const withPrompt = (id: string, variables: Record<string, string>, extra: Record<string, unknown> = {}) => ({ model: "sim/fast", prompt: { id, variables }, ...extra });
const answer = async (res: Response) => (await res.json<Completion>()).choices[0]?.message.content ?? "";

/** Rows reach D1 through the settlement outbox or the queue: wait, with a bound, until all are there. */
async function ledgerCount(tenantId: string, name: string, expected: number, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger WHERE tenant_id = ? AND prompt_name = ?").bind(tenantId, name).first<{ n: number }>();
    count = row?.n ?? 0;
    if (count >= expected) return count;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return count;
}

beforeEach(() => noEmbedder());
afterEach(() => noEmbedder());

describe("prompt registry: versions and variables", () => {
  it("stores immutable numbered versions, the first one stable, and lists them with the rollout", async () => {
    const { key } = await createTenant();
    expect(await putVersion(key, "greet", { template: "Say hello to {{name}}", variables: ["name"] })).toBe(1);
    expect(await putVersion(key, "greet", { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Greet {{ name }} warmly" }], parameters: { temperature: 0 } })).toBe(2);
    const view = await (await tenantCall(key, "GET", "/v1/prompts/greet")).json<{ versions: { version: number; variables: string[] }[]; rollout: { stable: number; candidate: number | null } }>();
    expect(view.versions.map((v) => [v.version, v.variables])).toEqual([[1, ["name"]], [2, ["name"]]]);
    expect(view.rollout).toMatchObject({ stable: 1, candidate: null, percent: 0 });
  });

  it("refuses a template whose placeholders and declared variables disagree, naming them", async () => {
    const { key } = await createTenant();
    const undeclared = await tenantCall(key, "PUT", "/v1/prompts/p", { template: "Hi {{name}} from {{city}}", variables: ["name"] });
    expect(undeclared.status).toBe(400);
    expect((await undeclared.json<{ error: { message: string; param: string } }>()).error).toMatchObject({ param: "variables", message: expect.stringContaining("{{city}}") });
    const unused = await tenantCall(key, "PUT", "/v1/prompts/p", { template: "Hi {{name}}", variables: ["name", "city"] });
    expect(unused.status).toBe(400);
    expect((await unused.json<{ error: { message: string } }>()).error.message).toContain("city");
    const both = await tenantCall(key, "PUT", "/v1/prompts/p", { template: "x", messages: [{ role: "user", content: "y" }] });
    expect(both.status).toBe(400);
    expect((await tenantCall(key, "GET", "/v1/prompts/p")).status).toBe(404);
  });

  it("expands the prompt, says which version served in the header and on the ledger row", async () => {
    const { key } = await createTenant();
    await putVersion(key, "support", { template: "Answer the customer {{customer}} about {{topic}}" });
    const res = await chat(key, withPrompt("support", { customer: "Ada", topic: "refunds" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-prompt")).toBe("support@1");
    // The sim echoes the start of the prompt it saw: the rendered template, not the placeholders.
    expect(await answer(res)).toContain("Answer the customer Ada about refunds");
    const row = await ledgerRow<PromptRow>(requestId(res));
    expect(row).toMatchObject({ prompt_name: "support", prompt_version: 1 });

    const plain = await chat(key, { model: "sim/fast", messages: [{ role: "user", content: "no prompt here" }] });
    expect(plain.headers.get("x-tollgate-prompt")).toBeNull();
    expect(await ledgerRow<PromptRow>(requestId(plain))).toMatchObject({ prompt_name: null, prompt_version: null });
  });

  it("an unknown or missing variable is a 400 that names prompt.variables", async () => {
    const { key } = await createTenant();
    await putVersion(key, "support", { template: "Help {{customer}}" });
    const unknown = await chat(key, withPrompt("support", { customer: "Ada", mood: "angry" }));
    expect(unknown.status).toBe(400);
    expect((await unknown.json<{ error: { message: string; param: string } }>()).error).toMatchObject({ param: "prompt.variables", message: expect.stringContaining("'mood'") });
    const missing = await chat(key, withPrompt("support", {}));
    expect(missing.status).toBe(400);
    expect((await missing.json<{ error: { message: string } }>()).error.message).toContain("needs variable 'customer'");
    const neither = await chat(key, { model: "sim/fast" });
    expect(neither.status).toBe(400);
    expect((await neither.json<{ error: { param: string } }>()).error.param).toBe("messages");
  });

  it("is the cache key: the same variables under another version miss, and a hit still names its version", async () => {
    const { key } = await createTenant();
    await putVersion(key, "faq", { template: "Version one asks about {{q}}" });
    await putVersion(key, "faq", { template: "Version two asks about {{q}}" });
    const first = await chat(key, withPrompt("faq", { q: "shipping" }));
    expect(first.headers.get("x-tollgate-cache")).toBe("miss");
    await ledgerRow(requestId(first));
    const again = await chat(key, withPrompt("faq", { q: "shipping" }));
    expect(again.headers.get("x-tollgate-cache")).toBe("exact");
    expect(again.headers.get("x-tollgate-prompt")).toBe("faq@1");

    const pinned = await chat(key, { model: "sim/fast", prompt: { id: "faq", version: 2, variables: { q: "shipping" } } });
    expect(pinned.headers.get("x-tollgate-cache")).toBe("miss");
    expect(pinned.headers.get("x-tollgate-prompt")).toBe("faq@2");
    expect(await answer(pinned)).toContain("Version two");
  });

  it("keeps versions apart in the cache even when two render the same text", async () => {
    const { key } = await createTenant();
    await putVersion(key, "same", { template: "Same words about {{q}}" });
    await putVersion(key, "same", { template: "Same words about {{q}}", parameters: {} });
    const one = await chat(key, withPrompt("same", { q: "returns" }));
    expect(one.headers.get("x-tollgate-cache")).toBe("miss");
    await ledgerRow(requestId(one));
    const two = await chat(key, { model: "sim/fast", prompt: { id: "same", version: 2, variables: { q: "returns" } } });
    expect(two.headers.get("x-tollgate-prompt")).toBe("same@2");
    expect(two.headers.get("x-tollgate-cache")).toBe("miss");
  });

  it("a version's model or tier applies to model auto only; a request's own choices win", async () => {
    const { key } = await createTenant();
    await putVersion(key, "deep", { template: "Think hard about {{q}}", tier: "powerful" });
    const auto = await chat(key, { model: "auto", prompt: { id: "deep", variables: { q: "tides" } } });
    expect(auto.headers.get("x-tollgate-tier")).toBe("powerful");
    const header = await chat(key, { model: "auto", prompt: { id: "deep", variables: { q: "tides" } } }, { "x-tollgate-tier": "fast" });
    expect(header.headers.get("x-tollgate-tier")).toBe("fast");
    await putVersion(key, "named", { template: "Quick: {{q}}", model: "sim/balanced" });
    expect((await chat(key, { model: "auto", prompt: { id: "named", variables: { q: "x" } } })).headers.get("x-tollgate-model")).toBe("sim/balanced");
    expect((await chat(key, { model: "sim/fast", prompt: { id: "named", variables: { q: "x" } } })).headers.get("x-tollgate-model")).toBe("sim/fast");
  });

  it("comes before the request's own messages, and works on /v1/responses without input", async () => {
    const { key } = await createTenant();
    await putVersion(key, "tutor", { template: "You teach {{subject}}.", role: "system" });
    const res = await chat(key, { model: "sim/fast", prompt: { id: "tutor", variables: { subject: "algebra" } }, messages: [{ role: "user", content: "What is a variable?" }] });
    expect(res.status).toBe(200);
    expect(await answer(res)).toContain("What is a variable?");

    await putVersion(key, "opener", { template: "Open the lesson on {{subject}}" });
    const responses = await tenantCall(key, "POST", "/v1/responses", { model: "sim/fast", prompt: { id: "opener", variables: { subject: "fractions" } } });
    expect(responses.status, await responses.clone().text()).toBe(200);
    expect(responses.headers.get("x-tollgate-prompt")).toBe("opener@1");
    expect(JSON.stringify(await responses.json())).toContain("Open the lesson on fractions");
  });
});

describe("prompt registry: rollouts", () => {
  it("a 20% rollout sends 20% ± 5% of 500 requests to the candidate; the report shows both; a rollback holds on the next request", async () => {
    const { id: tenantId, key } = await createTenant({
      policy: { cache: { enabled: false } },
      limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 },
    });
    await putVersion(key, "canary", { template: "Stable wording for {{item}}" });
    await putVersion(key, "canary", { template: "Candidate wording for {{item}}" });
    const rollout = await tenantCall(key, "PUT", "/v1/prompts/canary/rollout", { version: 2, percent: 20 });
    expect(rollout.status).toBe(200);
    expect((await rollout.json<{ rollout: { candidate: number; percent: number } }>()).rollout).toMatchObject({ candidate: 2, percent: 20 });

    const started = Date.now();
    const served: string[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const responses = await Promise.all(
        Array.from({ length: 25 }, (_, i) => chat(key, withPrompt("canary", { item: "boots" }), { "x-tollgate-session": `canary-${batch * 25 + i}` })),
      );
      for (const res of responses) {
        expect(res.status).toBe(200);
        served.push(res.headers.get("x-tollgate-prompt") ?? "");
        await res.body?.cancel();
      }
    }
    const candidate = served.filter((s) => s === "canary@2").length;
    console.log(JSON.stringify({ rollout_requests: served.length, candidate, elapsed_ms: Date.now() - started }));
    expect(served.filter((s) => s === "canary@1").length + candidate).toBe(500);
    expect(candidate).toBeGreaterThanOrEqual(75);
    expect(candidate).toBeLessThanOrEqual(125);

    // The share is stable: a session that got the candidate gets it again.
    const index = served.indexOf("canary@2");
    const repeat = await chat(key, withPrompt("canary", { item: "boots" }), { "x-tollgate-session": `canary-${index}` });
    expect(repeat.headers.get("x-tollgate-prompt")).toBe("canary@2");

    expect(await ledgerCount(tenantId, "canary", 501)).toBe(501);
    const report = await (await tenantCall(key, "GET", "/v1/prompts/canary/report")).json<Report>();
    expect(report.rollout).toMatchObject({ stable: 1, candidate: 2, percent: 20 });
    const [stable, canary] = report.versions;
    expect(stable).toMatchObject({ version: 1, requests: 500 - candidate, cache_hit_rate: 0, escalation_rate: 0, feedback_score: null });
    expect(canary).toMatchObject({ version: 2, requests: candidate + 1, cache_hit_rate: 0 });
    for (const figures of [stable, canary]) {
      expect(figures?.cost_per_request_usd).toBeGreaterThan(0);
      expect(figures?.latency_ms.p50).not.toBeNull();
      expect(figures?.latency_ms.p95 ?? 0).toBeGreaterThanOrEqual(figures?.latency_ms.p50 ?? Infinity);
    }

    const rollback = await tenantCall(key, "POST", "/v1/prompts/canary/rollback");
    expect((await rollback.json<{ rollout: { candidate: number | null; stable: number } }>()).rollout).toMatchObject({ candidate: null, stable: 1 });
    const after = await chat(key, withPrompt("canary", { item: "boots" }), { "x-tollgate-session": `canary-${index}` });
    expect(after.headers.get("x-tollgate-prompt")).toBe("canary@1");
  }, 180_000);

  it("100% promotes the candidate; a rollback then returns to the previous stable version", async () => {
    const { key } = await createTenant();
    await putVersion(key, "promo", { template: "Old {{x}}" });
    await putVersion(key, "promo", { template: "New {{x}}" });
    const promoted = await tenantCall(key, "PUT", "/v1/prompts/promo/rollout", { version: 2, percent: 100 });
    expect((await promoted.json<{ rollout: { stable: number; candidate: number | null } }>()).rollout).toMatchObject({ stable: 2, candidate: null });
    expect((await chat(key, withPrompt("promo", { x: "a" }))).headers.get("x-tollgate-prompt")).toBe("promo@2");
    expect((await tenantCall(key, "POST", "/v1/prompts/promo/rollback")).status).toBe(200);
    expect((await chat(key, withPrompt("promo", { x: "b" }))).headers.get("x-tollgate-prompt")).toBe("promo@1");
    expect((await tenantCall(key, "POST", "/v1/prompts/promo/rollback")).status).toBe(400);
    expect((await tenantCall(key, "PUT", "/v1/prompts/promo/rollout", { version: 9, percent: 10 })).status).toBe(400);
  });

  it("the report carries POST /v1/feedback labels per version", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    await putVersion(key, "rated", { template: "How do I get a refund for {{order}}" });
    const res = await chat(key, { model: "auto", prompt: { id: "rated", variables: { order: "order 7" } } });
    expect(res.status).toBe(200);
    const id = requestId(res);
    await ledgerRow(id);
    // The learned router's sample is written after the response: poll the feedback until it lands.
    const deadline = Date.now() + 10_000;
    let labelled = false;
    while (!labelled && Date.now() < deadline) {
      const fb = await tenantCall(key, "POST", "/v1/feedback", { request_id: id, good: true });
      labelled = (await fb.json<{ used_for_routing: boolean }>()).used_for_routing;
      if (!labelled) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(labelled).toBe(true);
    const report = await (await tenantCall(key, "GET", "/v1/prompts/rated/report")).json<Report>();
    expect(report.versions[0]).toMatchObject({ version: 1, requests: 1, feedback_score: 1, feedback_count: 1 });
  });
});

describe("prompt registry: tenant isolation", () => {
  it("another tenant can neither see nor use nor roll out the prompt", async () => {
    const owner = await createTenant();
    const other = await createTenant();
    await putVersion(owner.key, "secret", { template: "Internal {{x}}" });
    await putVersion(owner.key, "secret", { template: "Internal v2 {{x}}" });
    expect((await tenantCall(other.key, "GET", "/v1/prompts/secret")).status).toBe(404);
    expect((await tenantCall(other.key, "GET", "/v1/prompts/secret/report")).status).toBe(404);
    expect((await tenantCall(other.key, "PUT", "/v1/prompts/secret/rollout", { version: 2, percent: 50 })).status).toBe(404);
    expect((await tenantCall(other.key, "POST", "/v1/prompts/secret/rollback")).status).toBe(404);
    const use = await chat(other.key, withPrompt("secret", { x: "y" }));
    expect(use.status).toBe(404);
    // Its own version 1 is a fresh prompt, not the owner's version 3.
    expect(await putVersion(other.key, "secret", { template: "Mine {{x}}" })).toBe(1);
    expect(await answer(await chat(owner.key, withPrompt("secret", { x: "y" })))).toContain("Internal y");
  });
});

import { describe, expect, it } from "vitest";
import { admin, call, chat, createTenant, ledgerRow } from "../fixtures/gateway";

const schema = {
  type: "object",
  required: ["name", "city", "country", "postcode", "phone"],
  properties: { name: { type: "string" }, city: { type: "string" }, country: { type: "string" }, postcode: { type: "string" }, phone: { type: "string" } },
};
const extraction = {
  model: "auto",
  messages: [{ role: "user", content: "Extract the contact card from: Ada Lovelace, London, UK, NW1, 020 7946 0000" }],
  response_format: { type: "json_schema", json_schema: { name: "contact", schema } },
};
type Row = { cost_usd: number; tier: string; escalated_from: string | null; detail_json: string; model: string };

describe("escalation", () => {
  it("re-asks the next tier when the fast answer fails the JSON schema, and bills both attempts", async () => {
    const { key } = await createTenant();
    const res = await chat(key, extraction, { "x-tollgate-tier": "fast", "x-tollgate-cache": "no-store" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-escalated-from")).toBe("fast");
    expect(res.headers.get("x-tollgate-tier")).toBe("balanced");
    const body = await res.json<{ choices: { message: { content: string }; logprobs?: unknown }[] }>();
    const card = JSON.parse(body.choices[0]?.message.content ?? "{}");
    expect(Object.keys(card).sort()).toEqual(["city", "country", "name", "phone", "postcode"]);
    // Logprobs the client did not ask for never leak; the spec requires the field, as null.
    expect(body.choices[0]?.logprobs).toBeNull();

    const row = await ledgerRow<Row>(res.headers.get("x-request-id") ?? "");
    const detail = JSON.parse(row.detail_json) as { first_cost_usd: number; escalations: { from: string; to: string; reason: string; cost_usd: number; outcome: string }[] };
    expect(row).toMatchObject({ tier: "balanced", escalated_from: "fast", model: "sim/balanced" });
    expect(detail.escalations).toEqual([expect.objectContaining({ from: "fast", to: "balanced", reason: "schema", outcome: "answered" })]);
    expect(detail.first_cost_usd).toBeGreaterThan(0);
    expect(row.cost_usd).toBeCloseTo(detail.first_cost_usd + (detail.escalations[0]?.cost_usd ?? 0), 12);
    expect(Number(res.headers.get("x-tollgate-cost-usd"))).toBeCloseTo(row.cost_usd, 8);
  });

  it("escalates on low confidence (logprobs) and leaves explicit models alone", async () => {
    const { key } = await createTenant();
    const hard = { model: "auto", messages: [{ role: "user", content: `Prove the theorem: ${"x^2 + y^2 = z^2 ".repeat(40)}` }] };
    const res = await chat(key, hard, { "x-tollgate-tier": "fast", "x-tollgate-cache": "no-store" });
    expect(res.headers.get("x-tollgate-escalated-from")).toBe("fast");
    const row = await ledgerRow<Row>(res.headers.get("x-request-id") ?? "");
    expect(JSON.parse(row.detail_json).escalations[0]).toMatchObject({ reason: "low_confidence" });

    const explicit = await chat(key, { ...extraction, model: "sim/fast" }, { "x-tollgate-cache": "no-store" });
    expect(explicit.headers.get("x-tollgate-escalated-from")).toBeNull();
    expect(explicit.headers.get("x-tollgate-tier")).toBe("fast");
  });

  it("does not escalate past the budget: the first answer stands", async () => {
    const tenant = await createTenant({ budgets: [{ scope: "tenant", period: "day", limit_usd: 0.0006 }] });
    const res = await chat(tenant.key, { ...extraction, max_tokens: 200 }, { "x-tollgate-tier": "fast", "x-tollgate-cache": "no-store" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-escalated-from")).toBeNull();
    const row = await ledgerRow<Row>(res.headers.get("x-request-id") ?? "");
    expect(JSON.parse(row.detail_json).escalations[0]).toMatchObject({ to: "balanced", outcome: "budget" });
  });
});

describe("graceful degradation", () => {
  it("serves a stale cached answer when every provider fails, and says so", async () => {
    const { key } = await createTenant();
    const question = { model: "sim/fast", messages: [{ role: "user", content: "What are your opening hours?" }] };
    expect((await chat(key, question)).status).toBe(200);
    const res = await chat(key, question, { "x-tollgate-cache": "no-cache", "x-tollgate-sim-fault": "500" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-degraded")).toBe("stale-cache");
    expect(res.headers.get("x-tollgate-cache")).toBe("stale");
    const fresh = await chat(key, { ...question, messages: [{ role: "user", content: "Never asked before" }] }, { "x-tollgate-sim-fault": "500" });
    expect(fresh.status).toBe(502);
  });
});

describe("two-phase refine", () => {
  it("answers now from the fast tier and refines on the powerful tier as a job", async () => {
    const { key } = await createTenant();
    const res = await chat(key, { model: "auto", messages: [{ role: "user", content: "Draft a rollout plan for the new toll lanes" }] }, { "x-tollgate-refine": "async", "x-tollgate-cache": "no-store" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-tier")).toBe("fast");
    const jobUrl = res.headers.get("x-tollgate-refine-job") ?? "";
    expect(jobUrl).toMatch(/^\/v1\/jobs\/job_/);
    let job: { status: string; result?: { choices: { message: { content: string } }[] }; routing?: unknown } = { status: "queued" };
    for (let i = 0; i < 200 && !["succeeded", "failed", "dead"].includes(job.status); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      job = await (await call(jobUrl, { headers: { authorization: `Bearer ${key}` } })).json();
    }
    expect(job.status).toBe("succeeded");
    expect(job.result?.choices[0]?.message.content).toContain("Draft a rollout plan");
    const attempt = await ledgerRow<{ tier: string }>(`${jobUrl.split("/").at(-1)}.1`);
    expect(attempt.tier).toBe("powerful");
  });
});

import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { admin, chat, createTenant, hello, ledgerRow, tenantCall } from "../fixtures/gateway";
import { noEmbedder } from "../fixtures/cache-fake-embedder";

type ErrorBody = { error: { code: string; message: string; param: string | null } };

const requestId = (res: Response) => res.headers.get("x-request-id") ?? "";

beforeEach(() => noEmbedder());

describe("data residency: Durable Objects in the tenant's jurisdiction", () => {
  it("an EU tenant's budget, session and prompt objects are its EU objects, not the global ones", async () => {
    const { id, key } = await createTenant({ policy: { residency: "eu" } });
    const budgets = await admin(`/admin/tenants/${id}/budgets`, "PUT", [{ scope: "tenant", period: "month", limit_usd: 5 }]);
    expect(budgets.status).toBe(200);
    const res = await chat(key, hello("Where is my data kept?"), { "x-tollgate-session": "eu-session" });
    expect(res.status).toBe(200);
    await ledgerRow(requestId(res));
    expect((await tenantCall(key, "PUT", "/v1/prompts/eu-prompt", { template: "Hi {{x}}" })).status).toBe(201);

    // workerd has no jurisdictions (it throws "not implemented"): locally the helper names the object
    // `eu:<name>` instead, which keeps it a separate object exactly as the eu namespace would.
    expect(() => env.TENANT_BUDGET.jurisdiction("eu")).toThrow(/not implemented in workerd/);
    const eu = {
      budget: env.TENANT_BUDGET.getByName(`eu:${id}`),
      session: env.AGENT_SESSION.getByName(`eu:${id}:eu-session`),
      prompts: env.PROMPT_REGISTRY.getByName(`eu:${id}`),
    };
    const global = {
      budget: env.TENANT_BUDGET.getByName(id),
      session: env.AGENT_SESSION.getByName(`${id}:eu-session`),
      prompts: env.PROMPT_REGISTRY.getByName(id),
    };
    // Both objects read the budget's configuration from D1; only the EU one has seen the spend.
    expect((await eu.budget.status(id))[0]?.spent_usd).toBeGreaterThan(0);
    expect((await global.budget.status(id))[0]?.spent_usd ?? 0).toBe(0);
    expect(await eu.session.view(id)).not.toBeNull();
    expect(await global.session.view(id)).toBeNull();
    expect((await eu.prompts.view("eu-prompt"))?.versions.length).toBe(1);
    expect(await global.prompts.view("eu-prompt")).toBeNull();
    // The routes read the same objects back.
    expect((await tenantCall(key, "GET", "/v1/sessions/eu-session")).status).toBe(200);
    expect((await tenantCall(key, "GET", "/v1/prompts/eu-prompt")).status).toBe(200);
  });

  it("a tenant without residency keeps its objects in the global namespace", async () => {
    const { id, key } = await createTenant();
    expect((await tenantCall(key, "PUT", "/v1/prompts/anywhere", { template: "Hi {{x}}" })).status).toBe(201);
    expect(await env.PROMPT_REGISTRY.getByName(id).view("anywhere")).not.toBeNull();
    expect(await env.PROMPT_REGISTRY.getByName(`eu:${id}`).view("anywhere")).toBeNull();
  });
});

describe("data residency: region-tagged catalog", () => {
  it("an EU tenant is served only by models tagged eu, fallbacks included", async () => {
    const { key } = await createTenant({ policy: { residency: "eu" } });
    const untagged = await chat(key, hello("hello", "sim-b/fast"));
    expect(untagged.status).toBe(400);
    expect((await untagged.json<ErrorBody>()).error).toMatchObject({ param: "model", message: expect.stringContaining("'eu' data residency") });

    // sim-a fails: a global tenant falls back to sim-b, an EU tenant to the EU-tagged private instance.
    const fault = { "x-tollgate-sim-fault": "500;provider=sim-a" };
    const eu = await chat(key, hello("Fall back where?"), fault);
    expect(eu.status).toBe(200);
    expect(eu.headers.get("x-tollgate-model")).toBe("sim-private/fast");
    const globalTenant = await createTenant();
    const anywhere = await chat(globalTenant.key, hello("Fall back where?"), fault);
    expect(anywhere.headers.get("x-tollgate-model")).toBe("sim-b/fast");

    const models = await (await tenantCall(key, "GET", "/v1/models")).json<{ data: { id: string; regions: string[] }[] }>();
    expect(models.data.length).toBeGreaterThan(0);
    expect(models.data.every((m) => m.regions.includes("eu"))).toBe(true);
    expect(models.data.map((m) => m.id)).not.toContain("sim-b/fast");
  });

  it("no model tagged for the region: 400 for a named model, 503 for auto, each naming the region", async () => {
    const { key } = await createTenant({ policy: { residency: "fedramp" } });
    const named = await chat(key, hello("hi", "sim/fast"));
    expect(named.status).toBe(400);
    expect((await named.json<ErrorBody>()).error.message).toContain("'fedramp'");
    const auto = await chat(key, hello("hi", "auto"));
    expect(auto.status).toBe(503);
    expect((await auto.json<ErrorBody>()).error).toMatchObject({ code: "no_healthy_provider", message: expect.stringContaining("'fedramp' data residency") });
  });

  it("an EU tenant's answers are not kept in KV: an identical request is not an exact-cache hit", async () => {
    const { key } = await createTenant({ policy: { residency: "eu" } });
    const first = await chat(key, hello("Cache me if you can"));
    expect(first.headers.get("x-tollgate-cache")).toBe("bypass");
    await ledgerRow(requestId(first));
    const second = await chat(key, hello("Cache me if you can"));
    expect(second.headers.get("x-tollgate-cache")).toBe("bypass");
  });

  it("the policy accepts only jurisdictions the platform has", async () => {
    for (const residency of ["eu", "us", "fedramp", null]) {
      expect((await admin("/admin/tenants", "POST", { name: `r-${residency}`, policy: { residency } })).status).toBe(201);
    }
    const res = await admin("/admin/tenants", "POST", { name: "mars", policy: { residency: "mars" } });
    expect(res.status).toBe(400);
    expect((await res.json<ErrorBody>()).error.param).toContain("residency");
  });
});

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MIN_LABELLED, recordSamples } from "../../src/routing/learned-router";
import { ChatRequestSchema } from "../../src/validate/chat-request";
import { localEmbedder } from "../../src/vectors/embedder";
import { call, chat, createTenant, ledgerRow } from "../fixtures/gateway";
import { noEmbedder, useFakeEmbedder } from "../fixtures/cache-fake-embedder";

const NO_CACHE = { "x-tollgate-cache": "no-store" };
const ask = (content: string) => ({ model: "auto", messages: [{ role: "user", content }] });

function feedback(key: string, requestId: string, good: boolean) {
  return call("/v1/feedback", { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ request_id: requestId, good }) });
}

async function sampleFor(requestId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await env.DB.prepare("SELECT 1 FROM route_samples WHERE id = ?").bind(requestId).first()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no route sample for ${requestId}`);
}

/** Serves `count` prompts at a forced tier and grades every answer, as a tenant's users would. */
async function teach(key: string, prompt: (i: number) => string, tier: string, good: boolean, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await chat(key, ask(prompt(i)), { ...NO_CACHE, "x-tollgate-tier": tier });
    const id = res.headers.get("x-request-id") ?? "";
    await sampleFor(id);
    expect((await feedback(key, id, good)).status).toBe(200);
  }
}

/**
 * The same samples `teach` leaves behind (a route sample, its vector, its label), written through the
 * pipeline's own recorder: hundreds of graded requests would not fit a test's time.
 */
async function labelled(tenantId: string, prompt: (i: number) => string, tier: "fast" | "powerful", good: boolean, count: number): Promise<void> {
  const embedder = localEmbedder(env);
  if (!embedder) throw new Error("no local embedder configured");
  for (let i = 0; i < count; i++) {
    const req = ChatRequestSchema.parse(ask(prompt(i)));
    const id = `seed-${tenantId}-${tier}-${i}`;
    await recordSamples(env, tenantId, req, embedder, [{ id, requestId: id, tier, good, source: "served" }]);
  }
}

// useFakeEmbedder points env.EMBEDDER_URL at the fake: put it back, so no later test meets an embedder it
// did not ask for (with its fetch mock gone, every embed would fail).
afterEach(() => {
  vi.restoreAllMocks();
  noEmbedder();
});

describe("learned routing from feedback", () => {
  it("routes a new prompt by what its labelled neighbours needed, not by complexity alone", async () => {
    useFakeEmbedder();
    const { key, id } = await createTenant();
    // Refund questions: the fast tier was graded bad, the powerful tier good. A few through real
    // requests and feedback, the rest recorded directly.
    await teach(key, (i) => `I want my money back for order ${i}`, "fast", false, 3);
    await teach(key, (i) => `Please refund order ${i}`, "powerful", true, 3);
    await labelled(id, (i) => `I want my money back for order ${i + 3}`, "fast", false, MIN_LABELLED / 2 - 3);
    await labelled(id, (i) => `Please refund order ${i + 3}`, "powerful", true, MIN_LABELLED / 2 - 3);

    const before = await chat(key, ask("hello there"), NO_CACHE);
    expect(before.headers.get("x-tollgate-tier")).toBe("fast");
    const res = await chat(key, ask("refund my money for order 77"), NO_CACHE);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-tier")).toBe("powerful");
    const row = await ledgerRow<{ route_reason: string }>(res.headers.get("x-request-id") ?? "");
    expect(row.route_reason).toMatch(/^learned:/);
  });

  it("falls back to the complexity score with too few labels, and keeps feedback tenant-scoped", async () => {
    useFakeEmbedder();
    const a = await createTenant();
    const b = await createTenant();
    const res = await chat(a.key, ask("refund my money"), NO_CACHE);
    const row = await ledgerRow<{ route_reason: string }>(res.headers.get("x-request-id") ?? "");
    expect(row.route_reason).toMatch(/^complexity:/);
    await sampleFor(res.headers.get("x-request-id") ?? "");
    expect((await feedback(b.key, res.headers.get("x-request-id") ?? "", true)).status).toBe(404);
    expect((await feedback(a.key, "01NOTAREQUEST", true)).status).toBe(404);
    expect(await (await feedback(a.key, res.headers.get("x-request-id") ?? "", true)).json()).toMatchObject({ used_for_routing: true });
  });

  it("learns from escalations: the cheaper tier is labelled bad, the answering tier good", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    const schema = { type: "object", required: ["a", "b", "c", "d"], properties: { a: { type: "string" }, b: { type: "string" }, c: { type: "string" }, d: { type: "string" } } };
    const res = await chat(key, { ...ask("ship my parcel"), response_format: { type: "json_schema", json_schema: { name: "x", schema } } }, { ...NO_CACHE, "x-tollgate-tier": "fast" });
    expect(res.headers.get("x-tollgate-escalated-from")).toBe("fast");
    const id = res.headers.get("x-request-id") ?? "";
    await sampleFor(id);
    const rows = await env.DB.prepare("SELECT id, tier, good, source FROM route_samples WHERE request_id = ? ORDER BY tier").bind(id).all();
    expect(rows.results).toEqual([
      { id, tier: "balanced", good: 1, source: "escalation" },
      { id: `${id}:fast`, tier: "fast", good: 0, source: "escalation" },
    ]);
  });
});

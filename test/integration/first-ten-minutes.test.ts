import { exports } from "cloudflare:workers";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { anthropicSpec } from "../../src/providers/anthropic-spec";
import { openaiSpec } from "../../src/providers/openai-spec";
import { admin, BASE, createTenant } from "../fixtures/gateway";

const workerFetch = (input: string | URL | Request, init?: RequestInit) => exports.default.fetch(new Request(input, init));

describe("the first ten minutes", () => {
  it("an OpenAI client pointed at the origin, without /v1, works like one pointed at /v1", async () => {
    const { key } = await createTenant();
    for (const baseURL of [BASE, `${BASE}/`, `${BASE}/v1`]) {
      const client = new OpenAI({ baseURL, apiKey: key, fetch: workerFetch, maxRetries: 0 });
      const completion = await client.chat.completions.create({ model: "sim/fast", messages: [{ role: "user", content: `Base ${baseURL}` }] });
      expect(completion.choices[0]?.message.content).toContain(`Base ${baseURL}`);
      const response = await client.responses.create({ model: "sim/fast", input: "Responses without v1" });
      expect(response.output_text).toContain("Responses without v1");
      expect((await client.models.list()).data.length).toBeGreaterThan(0);
    }
    // Only the OpenAI-compatible names are aliased; the key still decides.
    const unauthorised = await workerFetch(`${BASE}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(unauthorised.status).toBe(401);
  });

  it("upstream base URLs work with or without their /v1", () => {
    for (const base of ["https://api.openai.com", "https://api.openai.com/", "https://api.openai.com/v1", "https://api.openai.com/v1/"]) {
      expect(openaiSpec.chatUrl(base, "gpt-x")).toBe("https://api.openai.com/v1/chat/completions");
    }
    // A provider whose API lives under another path keeps it.
    expect(openaiSpec.chatUrl("https://api.groq.com/openai/v1", "m")).toBe("https://api.groq.com/openai/v1/chat/completions");
    for (const base of ["https://api.anthropic.com", "https://api.anthropic.com/v1", "https://api.anthropic.com/v1/"]) {
      expect(anthropicSpec.chatUrl(base, "claude-x")).toBe("https://api.anthropic.com/v1/messages");
    }
  });

  it("GET /admin/tenants lists tenants with a cursor; GET /admin/tenants/:id/keys lists keys without plaintext", async () => {
    const first = await createTenant();
    const second = await createTenant();
    const extra = await admin(`/admin/tenants/${second.id}/keys`, "POST");
    const extraKey = await extra.json<{ id: string; key: string }>();
    await admin(`/admin/keys/${extraKey.id}`, "DELETE");

    const all: { id: string; active_keys: number }[] = [];
    let after = "";
    for (let page = 0; page < 100; page++) {
      const res = await admin(`/admin/tenants?limit=2${after ? `&after=${after}` : ""}`, "GET");
      expect(res.status).toBe(200);
      const body = await res.json<{ data: { id: string; active_keys: number }[]; has_more: boolean; last_id: string }>();
      all.push(...body.data);
      if (!body.has_more) break;
      after = body.last_id;
    }
    expect(all.find((t) => t.id === first.id)?.active_keys).toBe(1);
    expect(all.find((t) => t.id === second.id)?.active_keys).toBe(1);
    expect(new Set(all.map((t) => t.id)).size).toBe(all.length);

    const keys = await admin(`/admin/tenants/${second.id}/keys`, "GET");
    const text = await keys.text();
    expect(text).not.toContain(second.key);
    expect(text).not.toContain(extraKey.key);
    const body = JSON.parse(text) as { data: { id: string; prefix: string; active: boolean; revoked_at: number | null }[] };
    expect(body.data.map((k) => [k.id, k.active])).toEqual([
      [second.keyId, true],
      [extraKey.id, false],
    ]);
    expect(body.data[0]?.prefix).toBe(second.key.slice(0, 8));
    expect((await admin("/admin/tenants/ten_missing/keys", "GET")).status).toBe(404);
    const noToken = await workerFetch(`${BASE}/admin/tenants`);
    expect(noToken.status).toBe(401);
  });
});

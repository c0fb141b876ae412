import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";

// Tollgate only estimates tokens (src/tokens/estimate-tokens.ts); what it bills must be the provider's
// own count wherever the provider can send one. For a streamed call to an OpenAI-shaped provider that
// means asking for it, whatever the client asked for.
afterEach(() => vi.restoreAllMocks());

const sse = (events: unknown[]) =>
  new Response(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n", { headers: { "content-type": "text/event-stream" } });

describe("streamed usage comes from the provider", () => {
  it("asks an OpenAI-shaped upstream for usage on a stream the client did not ask usage for, and bills that usage", async () => {
    const bodies: Record<string, unknown>[] = [];
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (!request.url.startsWith("https://upstream.test/")) return realFetch(input, init);
      bodies.push(await request.json());
      const chunk = (delta: object, finish: string | null = null) => ({ id: "up", object: "chat.completion.chunk", model: "gpt-4o-mini", choices: [{ index: 0, delta, finish_reason: finish }] });
      // Counts no estimate would give for this text, so the ledger shows whose count it kept.
      return sse([chunk({ role: "assistant", content: "Hello" }), chunk({ content: " there" }, "stop"), { id: "up", object: "chat.completion.chunk", model: "gpt-4o-mini", choices: [], usage: { prompt_tokens: 101, completion_tokens: 37, total_tokens: 138 } }]);
    });
    const mutable = env as { OPENAI_API_KEY: string; OPENAI_BASE_URL: string };
    Object.assign(mutable, { OPENAI_API_KEY: "sk-test", OPENAI_BASE_URL: "https://upstream.test/v1" });
    try {
      const tenant = await createTenant();
      const res = await chat(tenant.key, { ...hello("Stream me a greeting", "openai/gpt-4o-mini"), stream: true }, { "x-tollgate-cache": "no-store" });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain("Hello");
      // The client did not ask for usage, so it gets no usage chunk...
      expect(text).not.toContain('"usage":{');
      // ...but the upstream was asked for it, and the ledger bills the provider's counts.
      expect(bodies).toHaveLength(1);
      expect(bodies[0]).toMatchObject({ stream: true, stream_options: { include_usage: true } });
      const row = await ledgerRow<{ prompt_tokens: number; completion_tokens: number; status: number }>(res.headers.get("x-request-id") ?? "");
      expect(row).toMatchObject({ status: 200, prompt_tokens: 101, completion_tokens: 37 });
    } finally {
      Object.assign(mutable, { OPENAI_API_KEY: "", OPENAI_BASE_URL: "" });
    }
  });
});

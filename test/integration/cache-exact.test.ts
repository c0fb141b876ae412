import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_CATALOG, findModel, priceUsd } from "../../src/config/model-catalog";
import { admin, call, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";
import { noEmbedder } from "../fixtures/cache-fake-embedder";
import { anthropicClient, openaiClient } from "../fixtures/sdk-clients";

type Row = { cache: string; cost_usd: number; saved_usd: number; prompt_tokens: number; attempts: number; model: string; detail_json: string | null };
type Completion = { id: string; choices: { message: { content: string | null } }[]; usage: { prompt_tokens: number; completion_tokens: number } };

const requestId = (res: Response) => res.headers.get("x-request-id") ?? "";

/** Sends the request and waits for its ledger row, which is written only after its cache writes. */
async function send(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await chat(key, body, headers);
  expect(res.status).toBe(200);
  const json = await res.json<Completion>();
  const row = await ledgerRow<Row>(requestId(res));
  return { res, json, row, cache: res.headers.get("x-tollgate-cache") };
}

beforeEach(() => noEmbedder());

describe("exact cache", () => {
  it("an identical request hits, costs 0 and records what it saved", async () => {
    const { key } = await createTenant();
    const body = hello("What are your opening hours?");
    const first = await send(key, body);
    expect(first.cache).toBe("miss");
    const cost = Number(first.res.headers.get("x-tollgate-cost-usd"));
    expect(cost).toBeGreaterThan(0);

    const second = await send(key, body);
    expect(second.cache).toBe("exact");
    expect(second.res.headers.get("x-tollgate-cost-usd")).toBe("0.00000000");
    expect(Number(second.res.headers.get("x-tollgate-saved-usd"))).toBeCloseTo(cost, 10);
    expect(second.json.choices[0]?.message.content).toBe(first.json.choices[0]?.message.content);
    expect(second.json.id).toBe(`chatcmpl-${requestId(second.res)}`);
    expect(second.res.headers.get("server-timing")).toMatch(/cache;dur=/);
    expect(second.res.headers.get("server-timing")).not.toMatch(/upstream;dur=/);

    const model = findModel(DEFAULT_CATALOG, "sim/fast");
    if (!model) throw new Error("catalog");
    expect(first.row).toMatchObject({ cache: "miss", attempts: 1 });
    expect(second.row).toMatchObject({ cache: "exact", cost_usd: 0, prompt_tokens: 0, attempts: 0, model: "sim/fast" });
    expect(second.row.saved_usd).toBeCloseTo(priceUsd(model, first.json.usage.prompt_tokens, first.json.usage.completion_tokens), 12);
    expect(JSON.parse(second.row.detail_json ?? "{}").cache.source_request).toBe(requestId(first.res));
  });

  it("ignores key order and whitespace inside message text, but not the text", async () => {
    const { key } = await createTenant();
    await send(key, { model: "sim/fast", temperature: 0, messages: [{ role: "user", content: "How  do I\r\nreset my password?  " }] });
    const reordered = await send(key, { messages: [{ content: "How do I\nreset my password?", role: "user" }], temperature: 0, model: "sim/fast" });
    expect(reordered.cache).toBe("exact");
    const reworded = await send(key, { model: "sim/fast", temperature: 0, messages: [{ role: "user", content: "How do I reset my passwords?" }] });
    expect(reworded.cache).toBe("miss");
  });

  it("misses when any answer-affecting field changes", async () => {
    const { key } = await createTenant();
    const tool = (name: string) => ({ type: "function", function: { name, parameters: { type: "object", properties: { city: { type: "string" } } } } });
    const base = { model: "sim/fast", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Weather in Paris?" }] };
    const variants: Record<string, Record<string, unknown>> = {
      model: { model: "sim-b/fast" },
      messages: { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Weather in Lyon?" }] },
      system_prompt: { messages: [{ role: "system", content: "Be verbose." }, { role: "user", content: "Weather in Paris?" }] },
      earlier_turns: { messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }, { role: "user", content: "Weather in Paris?" }] },
      tools: { tools: [tool("get_weather")] },
      tool_choice: { tools: [tool("get_weather"), tool("get_time")], tool_choice: { type: "function", function: { name: "get_time" } } },
      response_format: { response_format: { type: "json_object" } },
      temperature: { temperature: 0.7 },
      top_p: { top_p: 0.5 },
      max_tokens: { max_tokens: 50 },
      max_completion_tokens: { max_completion_tokens: 50 },
      seed: { seed: 42 },
      stop: { stop: ["\n"] },
      n: { n: 1 },
      logprobs: { logprobs: true },
      user: { user: "end-user-7" },
      unknown_field: { reasoning_effort: "high" },
      provider_specific: { metadata: { project: "x" } },
    };
    await send(key, base);
    expect((await send(key, base)).cache).toBe("exact");
    // tool_choice needs tools to mean anything: its baseline is the same tools with no choice.
    await send(key, { ...base, tools: [tool("get_weather"), tool("get_time")] });
    for (const [field, change] of Object.entries(variants)) {
      const res = await chat(key, { ...base, ...change });
      expect({ field, status: res.status, cache: res.headers.get("x-tollgate-cache") }).toEqual({ field, status: 200, cache: "miss" });
    }
  });

  it("keys `auto` by the tier it resolves to", async () => {
    const { key } = await createTenant();
    const body = hello("Summarise the plan", "auto");
    expect((await send(key, body, { "x-tollgate-tier": "fast" })).cache).toBe("miss");
    expect((await send(key, body, { "x-tollgate-tier": "fast" })).cache).toBe("exact");
    expect((await send(key, body, { "x-tollgate-tier": "balanced" })).cache).toBe("miss");
  });

  it("never serves one tenant's entry to another", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const body = hello("Our internal discount code is?");
    await send(a.key, body);
    expect((await send(a.key, body)).cache).toBe("exact");
    const other = await send(b.key, body);
    expect(other.cache).toBe("miss");
    expect(other.row.cost_usd).toBeGreaterThan(0);
    const listed = await env.CACHE_KV.list({ prefix: `xc:${a.id}:` });
    expect(listed.keys).toHaveLength(1);
  });
});

describe("cache controls", () => {
  it("no-store neither reads nor writes", async () => {
    const { key, id } = await createTenant();
    const body = hello("Do not keep this");
    const first = await send(key, body, { "x-tollgate-cache": "no-store" });
    expect(first.cache).toBe("bypass");
    expect((await env.CACHE_KV.list({ prefix: `xc:${id}:` })).keys).toHaveLength(0);
    expect((await send(key, body)).cache).toBe("miss");
    expect((await send(key, body, { "x-tollgate-cache": "no-store" })).cache).toBe("bypass");
  });

  it("no-cache skips the lookup but refreshes the entry", async () => {
    const { key } = await createTenant();
    const body = hello("Refresh me");
    const first = await send(key, body);
    const refreshed = await send(key, body, { "x-tollgate-cache": "no-cache" });
    expect(refreshed.cache).toBe("bypass");
    expect(refreshed.row.cost_usd).toBeGreaterThan(0);
    const next = await send(key, body);
    expect(next.cache).toBe("exact");
    expect(JSON.parse(next.row.detail_json ?? "{}").cache.source_request).toBe(requestId(refreshed.res));
    expect(JSON.parse(next.row.detail_json ?? "{}").cache.source_request).not.toBe(requestId(first.res));
  });

  it("x-tollgate-cache-ttl sets the entry's freshness; below KV's 60 s floor it is refused", async () => {
    const { key, id } = await createTenant();
    const before = Date.now();
    await send(key, hello("Short-lived"), { "x-tollgate-cache-ttl": "120" });
    const [entry] = (await env.CACHE_KV.list<{ fresh_until: number }>({ prefix: `xc:${id}:` })).keys;
    expect(entry?.metadata?.fresh_until).toBeGreaterThanOrEqual(before + 120_000);
    expect(entry?.metadata?.fresh_until).toBeLessThan(before + 130_000);
    const tooShort = await chat(key, hello("x"), { "x-tollgate-cache-ttl": "30" });
    expect(tooShort.status).toBe(400);
    expect(await tooShort.json()).toMatchObject({ error: { param: "x-tollgate-cache-ttl" } });
  });

  it("a tenant that does not cache sampled answers caches temperature 0 only", async () => {
    const { key, id } = await createTenant();
    const put = await admin(`/admin/tenants/${id}/policy`, "PUT", { cache: { cache_sampled: false } });
    expect(put.status).toBe(200);
    const sampled = { ...hello("Write a haiku"), temperature: 0.9 };
    await send(key, sampled);
    expect((await send(key, sampled)).cache).toBe("bypass");
    const greedy = { ...hello("Write a haiku"), temperature: 0 };
    await send(key, greedy);
    expect((await send(key, greedy)).cache).toBe("exact");
  });

  it("a tenant with the cache disabled always bypasses it", async () => {
    const { key, id } = await createTenant();
    await admin(`/admin/tenants/${id}/policy`, "PUT", { cache: { enabled: false } });
    await send(key, hello("Again"));
    expect((await send(key, hello("Again"))).cache).toBe("bypass");
  });
});

describe("streaming and concurrency", () => {
  it("a streamed hit is SSE the openai SDK parses, with usage; a streamed miss is cached when complete", async () => {
    const { key } = await createTenant();
    const client = openaiClient(key);
    const request = { model: "sim/balanced", messages: [{ role: "user" as const, content: "Tell me about toll roads" }], stream: true as const, stream_options: { include_usage: true } };
    const read = async () => {
      const { data: stream, response } = await client.chat.completions.create(request).withResponse();
      let text = "";
      let usage: { completion_tokens: number } | null | undefined;
      let finish: string | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      await ledgerRow(response.headers.get("x-request-id") ?? "");
      return { text, usage, finish, cache: response.headers.get("x-tollgate-cache") };
    };
    const miss = await read();
    expect(miss.cache).toBe("miss");
    const hit = await read();
    expect(hit.cache).toBe("exact");
    expect(hit.text).toBe(miss.text);
    expect(hit.text.length).toBeGreaterThan(50);
    expect(hit.finish).toBe("stop");
    expect(hit.usage?.completion_tokens).toBe(miss.usage?.completion_tokens);
    // A replayed answer is all there before its headers go: one SSE body of known length, no stream.
    const replay = await chat(key, request);
    const body = await replay.text();
    expect(replay.headers.get("content-type")).toBe("text/event-stream");
    expect(replay.headers.get("content-length")).toBe(String(new TextEncoder().encode(body).byteLength));
    expect(body.endsWith("data: [DONE]\n\n")).toBe(true);

    // The same entry answers the non-streamed form of the request.
    const { stream: _stream, stream_options: _options, ...plain } = request;
    const json = await send(key, plain);
    expect(json.cache).toBe("exact");
    expect(json.json.choices[0]?.message.content).toBe(miss.text);
  });

  it("a stream cut midway is not cached", async () => {
    const { key, id } = await createTenant();
    const res = await chat(key, { ...hello("a long answer please", "sim/powerful"), stream: true }, { "x-tollgate-sim-fault": "cut" });
    await res.text();
    await ledgerRow(requestId(res));
    expect((await env.CACHE_KV.list({ prefix: `xc:${id}:` })).keys).toHaveLength(0);
  });

  it("concurrent identical misses make one upstream call", async () => {
    const { key } = await createTenant();
    const body = hello("Everyone asks this at once");
    const responses = await Promise.all(Array.from({ length: 6 }, () => chat(key, body)));
    const rows = await Promise.all(responses.map((res) => ledgerRow<Row>(requestId(res))));
    const contents = await Promise.all(responses.map(async (res) => (await res.json<Completion>()).choices[0]?.message.content));
    expect(rows.filter((r) => r.cache === "miss")).toHaveLength(1);
    expect(rows.filter((r) => r.cache === "exact")).toHaveLength(5);
    expect(rows.reduce((sum, r) => sum + r.attempts, 0)).toBe(1);
    expect(new Set(contents).size).toBe(1);
  });

  it("the Anthropic endpoint shares the pipeline's cache, streamed or not", async () => {
    const { key } = await createTenant();
    const client = anthropicClient(key);
    const params = { model: "sim/fast", max_tokens: 200, messages: [{ role: "user" as const, content: "What is a toll?" }] };
    const first = await client.messages.create(params).withResponse();
    await ledgerRow(first.response.headers.get("x-request-id") ?? "");
    const second = await client.messages.create(params).withResponse();
    expect(second.response.headers.get("x-tollgate-cache")).toBe("exact");
    expect(second.data.content).toEqual(first.data.content);
    const streamed = await client.messages.stream(params).finalMessage();
    expect(streamed.content).toEqual(first.data.content);
    expect(streamed.usage.output_tokens).toBe(first.data.usage.output_tokens);
  });

  it("an unknown route under /v1 is still a 404 (memo routes do not swallow it)", async () => {
    const { key } = await createTenant();
    const res = await call("/v1/nope", { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(404);
  });
});

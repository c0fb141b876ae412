import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { chat, createTenant, ledgerRow } from "../fixtures/gateway";
import { noEmbedder, useFakeEmbedder } from "../fixtures/cache-fake-embedder";

// Issue 11, finding 8: a cached answer must never drop an optional output the request asked for.

type Logprob = { token: string; logprob: number };
type Choice = {
  message: { content: string | null; tool_calls?: { id: string; type: string; function: { name: string; arguments: string } }[] };
  finish_reason: string;
  logprobs?: { content: Logprob[] | null } | null;
};
type Completion = { choices: Choice[]; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
type StreamChoice = { delta: { content?: string; tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[] }; finish_reason: string | null; logprobs?: { content: Logprob[] } };
type Chunk = { choices: StreamChoice[]; usage?: Completion["usage"] | null };

const requestId = (res: Response) => res.headers.get("x-request-id") ?? "";

/** A non-streamed call; waits for its ledger row, which is written after its cache writes. */
async function plain(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await chat(key, { ...body, stream: false }, headers);
  expect(res.status).toBe(200);
  const json = await res.json<Completion>();
  await ledgerRow(requestId(res));
  return { json, choice: json.choices[0] as Choice, cache: res.headers.get("x-tollgate-cache") };
}

/** A streamed call, read to [DONE]; returns the parsed chunks and the text and tokens they carried. */
async function streamed(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await chat(key, { ...body, stream: true }, headers);
  expect(res.status).toBe(200);
  const events = (await res.text())
    .split("\n\n")
    .map((event) => event.replace(/^data: /, "").trim())
    .filter((data) => data && data !== "[DONE]");
  const chunks = events.map((data) => JSON.parse(data) as Chunk);
  await ledgerRow(requestId(res));
  const choices = chunks.flatMap((c) => c.choices);
  return {
    cache: res.headers.get("x-tollgate-cache"),
    text: choices.map((c) => c.delta.content ?? "").join(""),
    tokens: choices.flatMap((c) => c.logprobs?.content ?? []),
    toolCalls: choices.flatMap((c) => c.delta.tool_calls ?? []),
    finish: choices.map((c) => c.finish_reason).find(Boolean),
    usage: chunks.find((c) => c.usage)?.usage,
  };
}

const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: "sim/fast", temperature: 0, messages: [{ role: "user", content }], ...extra });

/** What a fresh call returns for the request: the cache is neither read nor written. */
const fresh = (key: string, body: Record<string, unknown>) => plain(key, body, { "x-tollgate-cache": "no-store" });

beforeEach(() => noEmbedder());
afterEach(() => vi.restoreAllMocks());

describe("cached answers keep what the request asked for", () => {
  it("a streamed logprobs request does not leave an entry that answers the non-streamed one without logprobs", async () => {
    const { key } = await createTenant();
    const body = ask("Name three rivers in Europe", { logprobs: true });
    expect((await streamed(key, body)).cache).toBe("miss");

    const expected = await fresh(key, body);
    expect(expected.choice.logprobs?.content?.length).toBeGreaterThan(0);
    const served = await plain(key, body);
    expect(served.cache).toBe("miss");
    expect(served.choice.logprobs?.content).toEqual(expected.choice.logprobs?.content);
    expect(served.choice.message.content).toBe(expected.choice.message.content);

    // The miss recorded a whole entry: from now on both shapes are hits, with logprobs.
    const again = await plain(key, body);
    expect(again.cache).toBe("exact");
    expect(again.choice.logprobs?.content).toEqual(expected.choice.logprobs?.content);
  });

  it("the reverse: a non-streamed entry answers the streamed request with its logprobs on the chunks", async () => {
    const { key } = await createTenant();
    const body = ask("Describe a lighthouse at night in a few sentences", { logprobs: true });
    const first = await plain(key, body);
    expect(first.cache).toBe("miss");
    const tokens = first.choice.logprobs?.content ?? [];
    expect(tokens.length).toBeGreaterThan(8);

    const hit = await streamed(key, body);
    expect(hit.cache).toBe("exact");
    expect(hit.text).toBe(first.choice.message.content);
    expect(hit.tokens).toEqual(tokens);
    expect(hit.tokens.map((t) => t.token).join("")).toBe(hit.text);
    expect(hit.finish).toBe(first.choice.finish_reason);
  });

  it("top_logprobs asks for logprobs too: a streamed entry does not answer it", async () => {
    const { key } = await createTenant();
    const body = ask("What is the boiling point of water?", { logprobs: true, top_logprobs: 2 });
    await streamed(key, body);
    const served = await plain(key, body);
    expect(served.cache).toBe("miss");
    expect(served.choice.logprobs?.content?.length).toBeGreaterThan(0);
  });

  it("a request that does not ask for logprobs is still answered by a streamed entry, in both shapes", async () => {
    const { key } = await createTenant();
    const body = ask("List the days of the week");
    const first = await streamed(key, body, {});
    const hit = await plain(key, body);
    expect(hit.cache).toBe("exact");
    expect(hit.choice.message.content).toBe(first.text);
    expect(hit.choice.logprobs ?? null).toBeNull();
  });

  it("a streamed tool call is replayed whole when not streamed, and the other way round", async () => {
    const { key } = await createTenant();
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const body = ask("What is the weather in Paris?", { tools, tool_choice: { type: "function", function: { name: "get_weather" } } });
    const expected = await fresh(key, body);
    expect(expected.choice.message.tool_calls?.length).toBe(1);

    const recorded = await streamed(key, body);
    expect(recorded.cache).toBe("miss");
    const hit = await plain(key, body);
    expect(hit.cache).toBe("exact");
    // Tool-call ids are minted per call, so the entry's are its own recording's; the calls themselves match.
    const withoutIds = (message: typeof hit.choice.message) => ({ ...message, tool_calls: message.tool_calls?.map(({ id: _id, ...call }) => call) });
    expect(withoutIds(hit.choice.message)).toEqual(withoutIds(expected.choice.message));
    expect(hit.choice.message.tool_calls?.[0]?.id).toEqual(expect.stringMatching(/^call_/));
    expect(hit.choice.finish_reason).toBe(expected.choice.finish_reason);

    const replay = await streamed(key, body);
    expect(replay.cache).toBe("exact");
    expect(replay.toolCalls.map((c) => c.function)).toEqual(expected.choice.message.tool_calls?.map((c) => c.function));
    expect(replay.finish).toBe("tool_calls");
  });

  it("a streamed hit reports the answer's usage when stream_options.include_usage asks for it", async () => {
    const { key } = await createTenant();
    const body = ask("Explain what a toll road is", { logprobs: true });
    const first = await plain(key, body);
    const hit = await streamed(key, { ...body, stream_options: { include_usage: true } });
    expect(hit.cache).toBe("exact");
    expect(hit.usage).toEqual(first.json.usage);
  });

  it("n > 1 (more choices than an entry holds) is refused at validation, never half-served", async () => {
    const { key } = await createTenant();
    const res = await chat(key, ask("Two answers please", { n: 2 }));
    expect(res.status).toBe(400);
    expect((await res.json<{ error: { param: string } }>()).error.param).toBe("n");
  });

  it("a semantic match recorded from a stream does not answer a paraphrase that asks for logprobs", async () => {
    useFakeEmbedder();
    const { key } = await createTenant();
    await streamed(key, ask("How do I reset my password?", { logprobs: true }));
    const paraphrase = await plain(key, ask("How can I reset my password?", { logprobs: true }));
    expect(paraphrase.cache).toBe("miss");
    expect(paraphrase.choice.logprobs?.content?.length).toBeGreaterThan(0);
    // Without logprobs asked, the same pair is a semantic hit: the guard is what made the difference.
    await streamed(key, ask("How do I reset my password?"));
    expect((await plain(key, ask("How can I reset my password?"))).cache).toBe("semantic");
  });
});

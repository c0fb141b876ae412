import { describe, expect, it } from "vitest";
import { completionChunks, StreamAssembler } from "../../src/cache/cached-stream";
import { HotEntries } from "../../src/cache/hot-entries";
import { SingleFlight } from "../../src/cache/single-flight";
import type { ChatCompletion } from "../../src/providers/provider-types";

const ids = { id: "chatcmpl-1", model: "sim/fast", created: 1 };
const completion = (message: ChatCompletion["choices"][number]["message"], finish: ChatCompletion["choices"][number]["finish_reason"] = "stop"): ChatCompletion => ({
  ...ids,
  object: "chat.completion",
  choices: [{ index: 0, message, finish_reason: finish }],
  usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
});

function roundTrip(original: ChatCompletion) {
  const assembler = new StreamAssembler();
  const chunks = completionChunks(original, ids);
  for (const chunk of chunks) assembler.add(chunk);
  return { chunks, rebuilt: assembler.completion(ids) };
}

describe("cached streams", () => {
  it("replays text as chunks that rebuild the same completion", () => {
    const text = "  The answer is forty-two,\n\nand here are many more words to split across several chunks of the stream. ";
    const { chunks, rebuilt } = roundTrip(completion({ role: "assistant", content: text }));
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.slice(0, -1).every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
    expect(rebuilt?.choices[0]?.message.content).toBe(text);
  });

  it("replays tool calls and keeps the finish reason", () => {
    const calls = [
      { id: "call_a", type: "function" as const, function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
      { id: "call_b", type: "function" as const, function: { name: "get_time", arguments: "{}" } },
    ];
    const { rebuilt } = roundTrip(completion({ role: "assistant", content: null, tool_calls: calls }, "tool_calls"));
    expect(rebuilt?.choices[0]).toMatchObject({ message: { content: null, tool_calls: calls }, finish_reason: "tool_calls" });
  });

  it("assembles arguments that arrive in pieces, and refuses a stream that never finished", () => {
    const assembler = new StreamAssembler();
    const chunk = (delta: object, finish: "tool_calls" | null = null) => ({ ...ids, object: "chat.completion.chunk" as const, choices: [{ index: 0, delta, finish_reason: finish }] });
    assembler.add(chunk({ role: "assistant", tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "f", arguments: '{"a":' } }] }));
    assembler.add(chunk({ tool_calls: [{ index: 0, function: { arguments: "1}" } }] }));
    expect(assembler.completion(ids)).toBeUndefined();
    assembler.add(chunk({}, "tool_calls"));
    expect(assembler.completion(ids)?.choices[0]?.message.tool_calls).toEqual([{ id: "c1", type: "function", function: { name: "f", arguments: '{"a":1}' } }]);
  });
});

describe("single flight", () => {
  it("followers get the leader's answer until its write lands", async () => {
    const flights = new SingleFlight<string>(1_000);
    expect(flights.join("k")).toBeUndefined();
    const leader = flights.lead("k");
    const follower = flights.join("k");
    let written: () => void = () => undefined;
    const write = new Promise<void>((resolve) => {
      written = resolve;
    });
    leader.settle("answer", write);
    expect(await follower).toBe("answer");
    expect(await flights.join("k")).toBe("answer");
    written();
    await write;
    await Promise.resolve();
    expect(flights.join("k")).toBeUndefined();
  });

  it("a failed leader releases its followers with nothing", async () => {
    const flights = new SingleFlight<string>(1_000);
    const leader = flights.lead("k");
    const follower = flights.join("k");
    leader.settle(undefined);
    expect(await follower).toBeUndefined();
    expect(flights.size).toBe(0);
  });

  it("a leader that never settles costs followers bounded time", async () => {
    const flights = new SingleFlight<string>(20);
    flights.lead("k");
    const started = Date.now();
    expect(await flights.join("k")).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("hot entries", () => {
  it("evicts the least recently used entries once over its byte budget", () => {
    const hot = new HotEntries<string>(800);
    hot.set("a", "A", 100);
    hot.set("b", "B", 100);
    hot.set("c", "C", 100);
    expect(hot.get("a")).toBe("A");
    for (const k of ["d", "e", "f", "g", "h"]) hot.set(k, k.toUpperCase(), 100);
    hot.set("i", "I", 100);
    // b was the least recently used: a was read after it was written.
    expect(hot.get("b")).toBeUndefined();
    expect(hot.get("a")).toBe("A");
    expect(hot.size).toBe(8);
  });

  it("never holds an entry bigger than an eighth of its budget, and replaces by key", () => {
    const hot = new HotEntries<string>(800);
    hot.set("big", "x", 101);
    expect(hot.get("big")).toBeUndefined();
    hot.set("k", "old", 10);
    hot.set("k", "new", 10);
    expect(hot.get("k")).toBe("new");
    expect(hot.size).toBe(1);
  });
});

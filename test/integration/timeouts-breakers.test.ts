import { describe, expect, it } from "vitest";
import { forgetBreakerView } from "../../src/routing/breaker-gate";
import { admin, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";

const NO_CACHE = { "x-tollgate-cache": "no-store" };
const FAST_TIMEOUTS = { timeouts: { attempt_ms: 250, first_token_ms: 250, idle_ms: 250 } };
type Row = { attempts: number; detail_json: string; status: number; error_code: string | null; provider: string };

describe("timeout hierarchy", () => {
  it("ends a hung attempt at the per-attempt timeout and falls back within the deadline", async () => {
    const { key } = await createTenant({ policy: FAST_TIMEOUTS });
    const started = Date.now();
    const res = await chat(key, hello(), { ...NO_CACHE, "x-tollgate-sim-fault": "timeout;provider=sim-a" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tollgate-provider")).toBe("sim-b");
    expect(Date.now() - started).toBeLessThan(5_000);
    const row = await ledgerRow<Row>(res.headers.get("x-request-id") ?? "");
    const attempts = JSON.parse(row.detail_json).attempts as { provider: string; kind?: string }[];
    expect(attempts.filter((a) => a.kind === "timeout").length).toBeGreaterThanOrEqual(1);
  });

  it("falls back on a stream whose first token never comes", async () => {
    const { key } = await createTenant({ policy: FAST_TIMEOUTS });
    const res = await chat(key, { ...hello("stream please"), stream: true }, { ...NO_CACHE, "x-tollgate-sim-fault": "timeout;provider=sim-a" });
    const body = await res.text();
    expect(res.headers.get("x-tollgate-provider")).toBe("sim-b");
    const events = body.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    expect(events.at(-1)).toBe("[DONE]");
    const text = events.slice(0, -1).map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "").join("");
    expect(text).toContain("stream please");
  });

  it("ends a stream that goes quiet midway at the idle timeout, with an error event", async () => {
    const { key } = await createTenant({ policy: FAST_TIMEOUTS });
    const res = await chat(key, { ...hello("a long story", "sim/powerful"), stream: true }, { ...NO_CACHE, "x-tollgate-sim-fault": "stall" });
    const body = await res.text();
    expect(body).toContain("no chunk for 250 ms");
    expect(body).not.toContain("[DONE]");
    const row = await ledgerRow<Row>(res.headers.get("x-request-id") ?? "");
    expect(row).toMatchObject({ status: 502, error_code: "upstream_error" });
  });

  it("answers 504 deadline_exceeded when the whole deadline passes", async () => {
    const { key } = await createTenant();
    const res = await chat(key, hello(), { ...NO_CACHE, "x-tollgate-sim-fault": "timeout", "x-tollgate-deadline-ms": "400" });
    expect(res.status).toBe(504);
  });
});

describe("breakers on the request path", () => {
  it("skips a provider whose breaker opened, then lets a probe through after the cooldown", async () => {
    const { key } = await createTenant();
    // Three requests × two attempts each on sim-a: five consecutive failures trip its breaker.
    for (let i = 0; i < 3; i++) {
      const res = await chat(key, hello(`trip ${i}`), { ...NO_CACHE, "x-tollgate-sim-fault": "500;provider=sim-a" });
      expect(res.headers.get("x-tollgate-provider")).toBe("sim-b");
    }
    const breakers = await (await admin("/admin/breakers", "GET")).json<{ data: { key: string; state: string; failureRate: number }[] }>();
    expect(breakers.data.find((b) => b.key === "sim-a:fast")).toMatchObject({ state: "open" });
    // The isolate's copy is refreshed in the background; give it one request to catch up.
    await chat(key, hello("refresh"), NO_CACHE);
    const skipped = await chat(key, hello("healthy again?"), NO_CACHE);
    expect(skipped.status).toBe(200);
    expect(skipped.headers.get("x-tollgate-provider")).toBe("sim-b");
    expect(skipped.headers.get("x-tollgate-degraded")).toBe("breaker");
    const row = await ledgerRow<Row>(skipped.headers.get("x-request-id") ?? "");
    expect(row.attempts).toBe(1);
    expect(JSON.parse(row.detail_json).breaker_skipped).toEqual(["sim/fast"]);
    forgetBreakerView();
  });
});

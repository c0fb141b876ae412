import { describe, expect, it } from "vitest";
import { admin, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";
import { openaiClient } from "../fixtures/sdk-clients";

describe("sensitive data", () => {
  it("routes x-tollgate-data: sensitive only to private models, even when they fail", async () => {
    const { key } = await createTenant();
    const auto = await chat(key, hello("my medical record", "auto"), { "x-tollgate-data": "sensitive", "x-tollgate-cache": "no-store" });
    expect(auto.status).toBe(200);
    expect(auto.headers.get("x-tollgate-provider")).toBe("sim-private");

    const explicitPublic = await chat(key, hello("my medical record", "sim/fast"), { "x-tollgate-data": "sensitive" });
    expect(explicitPublic.status).toBe(400);
    expect(await explicitPublic.json()).toMatchObject({ error: { code: "invalid_request", param: "model" } });

    // The private provider failing must not spill the request to a public one.
    const failing = await chat(key, hello("my medical record", "auto"), { "x-tollgate-data": "sensitive", "x-tollgate-cache": "no-store", "x-tollgate-sim-fault": "500;provider=sim-private" });
    expect(failing.status).toBe(502);
    const row = await ledgerRow<{ detail_json: string }>(failing.headers.get("x-request-id") ?? "");
    const attempts = (JSON.parse(row.detail_json) as { attempts: { provider: string }[] }).attempts;
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.every((a) => a.provider === "sim-private")).toBe(true);
  });

  it("applies the tenant policy's sensitive flag to every request", async () => {
    const { key } = await createTenant({ policy: { sensitive: true } });
    const res = await chat(key, hello("anything", "auto"), { "x-tollgate-cache": "no-store" });
    expect(res.headers.get("x-tollgate-provider")).toBe("sim-private");
  });
});

describe("streams and fallback", () => {
  it("falls back invisibly when the first provider fails before the first byte", async () => {
    const { key } = await createTenant();
    const client = openaiClient(key, { "x-tollgate-sim-fault": "500;provider=sim-a", "x-tollgate-cache": "no-store" });
    const { data: stream, response } = await client.chat.completions
      .create({ model: "sim/fast", stream: true, messages: [{ role: "user", content: "fall back quietly" }] })
      .withResponse();
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toContain("fall back quietly");
    expect(response.headers.get("x-tollgate-provider")).toBe("sim-b");
  });

  it("bills only the tokens delivered when a stream is cut after the first byte", async () => {
    const { key } = await createTenant();
    const res = await chat(key, { ...hello("a long answer please", "sim/powerful"), stream: true }, { "x-tollgate-sim-fault": "cut", "x-tollgate-cache": "no-store" });
    const body = await res.text();
    const events = body.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    const last = JSON.parse(events.at(-1) ?? "{}") as { error?: { code: string } };
    expect(last.error?.code).toBe("upstream_error");
    expect(body).not.toContain("[DONE]");
    const delivered = events.slice(0, -1).map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "").join("");
    const row = await ledgerRow<{ completion_tokens: number; status: number; cost_usd: number }>(res.headers.get("x-request-id") ?? "");
    expect(row.status).toBe(502);
    expect(row.completion_tokens).toBeGreaterThan(0);
    // The sim's full answer is 80+ words; the row bills what reached the client, not the whole answer.
    expect(row.completion_tokens).toBeLessThanOrEqual(delivered.split(/\s+/).length * 2);
  });
});

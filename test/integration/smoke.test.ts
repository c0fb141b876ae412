import { describe, expect, it } from "vitest";
import { call, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";

describe("smoke", () => {
  it("serves health", async () => {
    const res = await call("/health");
    expect(res.status).toBe(200);
  });

  it("answers a chat completion and writes the ledger", async () => {
    const tenant = await createTenant();
    const res = await chat(tenant.key, hello());
    const body = await res.json<{ choices: { message: { content: string } }[]; usage: { prompt_tokens: number } }>();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.choices[0]?.message.content).toContain("Say hello");
    const row = await ledgerRow<{ cost_usd: number; model: string }>(res.headers.get("x-request-id") ?? "");
    expect(row.model).toBe("sim/fast");
    expect(row.cost_usd).toBeGreaterThan(0);
  });
});

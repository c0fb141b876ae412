import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { call, createTenant } from "../fixtures/gateway";
import { anthropicClient } from "../fixtures/sdk-clients";

// Errors on /v1/messages come in Anthropic's shape, so its SDK raises the error class it documents.

describe("errors on /v1/messages speak Anthropic's shape", () => {
  it("a bad request, a bad key and an exhausted budget each raise the SDK's own error, with Anthropic's type", async () => {
    const tenant = await createTenant({ budgets: [{ scope: "tenant", period: "total", limit_usd: 0.0000001 }] });
    const client = anthropicClient(tenant.key);
    const invalid = await client.messages.create({ model: "sim/nope", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(Anthropic.BadRequestError);
    expect((invalid as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({ type: "error", error: { type: "invalid_request_error", param: "model" } });

    const unauthorised = await anthropicClient("tg_not-a-key").messages.create({ model: "sim/fast", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(unauthorised).toBeInstanceOf(Anthropic.AuthenticationError);

    const broke = await client.messages.create({ model: "sim/fast", max_tokens: 50, messages: [{ role: "user", content: "spend it" }] }).catch((e: unknown) => e);
    expect(broke).toBeInstanceOf(Anthropic.APIError);
    expect((broke as InstanceType<typeof Anthropic.APIError>).status).toBe(402);
    expect((broke as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: "error", error: { type: "billing_error", code: "budget_exceeded" } });
  });

  it("chat completions keep OpenAI's shape", async () => {
    const tenant = await createTenant();
    const res = await call("/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" }, body: JSON.stringify({ model: "sim/nope", messages: [{ role: "user", content: "hi" }] }) });
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({ error: { type: "invalid_request_error", code: "invalid_request", param: "model" } });
    expect(body.type).toBeUndefined();
  });
});

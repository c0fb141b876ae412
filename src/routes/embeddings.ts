import { Hono } from "hono";
import { z } from "zod";
import { embedWithCache } from "../vectors/embedding-cache";
import { priceUsd } from "../config/model-catalog";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { availableCatalog, providerInstances } from "../providers/provider-registry";
import { countText } from "../tokens/count-tokens";
import { parseJsonBody } from "../validate/parse-json-body";
import { parseHints } from "../validate/request-hints";
import { stage } from "./chat-context";

const EmbeddingsRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    input: z.union([z.string().min(1).max(100_000), z.array(z.string().min(1).max(100_000)).min(1).max(2048)]),
    encoding_format: z.enum(["float", "base64"]).optional(),
    user: z.string().max(256).optional(),
  })
  .loose();

/** OpenAI's base64 encoding: little-endian float32, which the official SDKs request by default. */
function toBase64(vector: number[]): string {
  const bytes = new Uint8Array(new Float32Array(vector).buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export const embeddingsRoutes = new Hono<AppEnv>().post("/embeddings", async (c) => {
  const body = await stage(c, "validate", () => parseJsonBody(c, EmbeddingsRequestSchema));
  const hints = parseHints((name) => c.req.header(name));
  const event = c.var.ledger.event;
  event.task = hints.task;
  const model = availableCatalog(c.env).find((m) => m.id === body.model && m.kind === "embedding");
  if (!model) throw GatewayError.invalid(`Unknown embedding model '${body.model.slice(0, 100)}'; GET /v1/models lists the catalog`, "model");
  const instance = providerInstances(c.env).get(model.provider);
  if (!instance) throw GatewayError.invalid(`Model '${model.id}' has no configured provider`, "model");
  const inputs = typeof body.input === "string" ? [body.input] : body.input;
  Object.assign(event, { model: model.id, provider: model.provider, tier: model.tier });

  const signal = AbortSignal.timeout(hints.deadlineMs ?? 30_000);
  const result = await stage(c, "upstream", () => embedWithCache(c.env.CACHE_KV, instance, model, inputs, signal, c.var.tenant.tenantId));
  if (!result.ok) {
    throw signal.aborted
      ? new GatewayError(504, "deadline_exceeded", "The embeddings provider did not answer in time")
      : new GatewayError(502, "upstream_error", `Embeddings failed: ${result.error.message}`);
  }
  const { vectors, hits } = result.value;
  const allTokens = inputs.reduce((sum, text) => sum + countText(text), 0);
  const billed = result.value.promptTokens || (hits === inputs.length ? 0 : allTokens);
  event.attempts = hits === inputs.length ? 0 : 1;
  event.cache = hits === inputs.length ? "exact" : "miss";
  event.prompt_tokens = billed;
  event.cost_usd = priceUsd(model, billed, 0);
  event.saved_usd = Math.max(0, priceUsd(model, allTokens, 0) - event.cost_usd);
  c.header("x-tollgate-cache", event.cache);
  c.header("x-tollgate-model", model.id);
  c.header("x-tollgate-provider", model.provider);
  c.header("x-tollgate-cost-usd", event.cost_usd.toFixed(8));
  return c.json({
    object: "list",
    data: vectors.map((vector, index) => ({ object: "embedding", index, embedding: body.encoding_format === "base64" ? toBase64(vector) : vector })),
    model: model.id,
    usage: { prompt_tokens: allTokens, total_tokens: allTokens },
  });
});

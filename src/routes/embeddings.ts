import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../hono-env";
import { runEmbeddings } from "../pipeline/embeddings-pipeline";
import { settleOnEnd } from "../sessions/settle-on-end";
import { parseJsonBody } from "../validate/parse-json-body";
import { parseHints } from "../validate/request-hints";
import { chatContext, stage } from "./chat-context";

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
  const inputs = typeof body.input === "string" ? [body.input] : body.input;
  const ctx = chatContext(c, hints);
  const outcome = await settleOnEnd(ctx, runEmbeddings(ctx, body.model, inputs));
  if (outcome.meta.sessionRemaining) c.header("x-tollgate-session-remaining", outcome.meta.sessionRemaining);
  c.header("x-tollgate-cache", outcome.cache);
  c.header("x-tollgate-model", outcome.model.id);
  c.header("x-tollgate-provider", outcome.model.provider);
  c.header("x-tollgate-cost-usd", outcome.costUsd.toFixed(8));
  c.header("x-tollgate-saved-usd", outcome.savedUsd.toFixed(8));
  return c.json({
    object: "list",
    data: outcome.vectors.map((vector, index) => ({ object: "embedding", index, embedding: body.encoding_format === "base64" ? toBase64(vector) : vector })),
    model: outcome.model.id,
    usage: { prompt_tokens: outcome.inputTokens, total_tokens: outcome.inputTokens },
  });
});

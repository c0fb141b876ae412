import { Hono } from "hono";
import type { AppEnv } from "../hono-env";
import { embeddingsBody, runEmbeddings } from "../pipeline/embeddings-pipeline";
import { EmbeddingsRequestSchema, inputsOf } from "../validate/embeddings-request";
import { settleOnEnd } from "../sessions/settle-on-end";
import { parseJsonBody } from "../validate/parse-json-body";
import { parseHints } from "../validate/request-hints";
import { chatContext, stage } from "./chat-context";

export const embeddingsRoutes = new Hono<AppEnv>().post("/embeddings", async (c) => {
  const body = await stage(c, "validate", () => parseJsonBody(c, EmbeddingsRequestSchema));
  const hints = parseHints((name) => c.req.header(name));
  const inputs = inputsOf(body);
  const ctx = chatContext(c, hints);
  const outcome = await settleOnEnd(ctx, runEmbeddings(ctx, body.model, inputs));
  if (outcome.meta.sessionRemaining) c.header("x-tollgate-session-remaining", outcome.meta.sessionRemaining);
  c.header("x-tollgate-cache", outcome.cache);
  if (outcome.meta.guardrails) c.header("x-tollgate-guardrails", outcome.meta.guardrails);
  c.header("x-tollgate-model", outcome.model.id);
  c.header("x-tollgate-provider", outcome.model.provider);
  c.header("x-tollgate-cost-usd", outcome.costUsd.toFixed(8));
  c.header("x-tollgate-saved-usd", outcome.savedUsd.toFixed(8));
  return c.json(embeddingsBody(outcome, body.encoding_format));
});

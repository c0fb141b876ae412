import { Hono } from "hono";
import * as z from "zod";
import { applyCacheFeedback, type CacheFeedbackOutcome } from "../cache/cache-feedback";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { labelRequest } from "../routing/learned-router";
import { selectEmbedder } from "../vectors/embedder";
import { parseJsonBody } from "../validate/parse-json-body";

const FeedbackSchema = z
  .object({ request_id: z.string().min(1).max(128), good: z.boolean().optional(), cache: z.enum(["wrong", "right"]).optional() })
  .strict()
  .refine((body) => body.good !== undefined || body.cache !== undefined, { message: "Give 'good' (true/false) or 'cache' ('wrong'/'right')." });

/**
 * POST /v1/feedback: was this answer good enough (teaches the tenant's learned router), and was a
 * cache hit the right answer (`cache: "wrong"` evicts the entry that served it and tightens its
 * neighbourhood; `"right"`, or `good: true` on a semantic hit, lets the entry reach further).
 */
export const feedbackRoutes = new Hono<AppEnv>().post("/feedback", async (c) => {
  const body = await parseJsonBody(c, FeedbackSchema);
  const { tenantId, policy } = c.var.tenant;
  const learned = body.good === undefined ? false : await labelRequest(c.env, tenantId, body.request_id, body.good);
  const cacheVerdict = body.cache ?? (body.good ? "right" : undefined);
  let cache: CacheFeedbackOutcome | undefined;
  if (cacheVerdict) {
    // Only used to find the entry's neighbours, and only if it is the embedder that made the hit.
    cache = await applyCacheFeedback(c.env, tenantId, body.request_id, cacheVerdict, selectEmbedder(c.env, policy, false));
  }
  if (!learned && cache === undefined) {
    // Another tenant's request id must look exactly like one that never existed.
    const own = await c.env.DB.prepare("SELECT 1 AS found FROM ledger WHERE request_id = ? AND tenant_id = ?").bind(body.request_id, tenantId).first();
    if (!own) throw GatewayError.notFound("request");
  }
  return c.json({
    request_id: body.request_id,
    ...(body.good === undefined ? {} : { good: body.good }),
    used_for_routing: learned,
    ...(body.cache !== undefined || cache === "confirmed" ? { cache: cacheVerdict, cache_action: cache ?? "not_a_semantic_hit" } : {}),
  });
});

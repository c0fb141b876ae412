import { Hono } from "hono";
import { z } from "zod";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { labelRequest } from "../routing/learned-router";
import { parseJsonBody } from "../validate/parse-json-body";

const FeedbackSchema = z.object({ request_id: z.string().min(1).max(128), good: z.boolean() }).strict();

/** POST /v1/feedback: was this answer good enough? It teaches the tenant's learned router. */
export const feedbackRoutes = new Hono<AppEnv>().post("/feedback", async (c) => {
  const body = await parseJsonBody(c, FeedbackSchema);
  const tenantId = c.var.tenant.tenantId;
  const learned = await labelRequest(c.env, tenantId, body.request_id, body.good);
  if (!learned) {
    // Another tenant's request id must look exactly like one that never existed.
    const own = await c.env.DB.prepare("SELECT 1 AS found FROM ledger WHERE request_id = ? AND tenant_id = ?").bind(body.request_id, tenantId).first();
    if (!own) throw GatewayError.notFound("request");
  }
  return c.json({ request_id: body.request_id, good: body.good, used_for_routing: learned });
});

import { type Context, Hono } from "hono";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { parseSessionHeaders, sessionStub } from "../sessions/session-gate";

/** GET /v1/sessions/:id (counters, limits, state, timeline); DELETE ends the session. */
function stubOf(c: Context<AppEnv>) {
  const scope = parseSessionHeaders((name) => (name === "x-tollgate-session" ? c.req.param("id") : undefined));
  if (!scope) throw GatewayError.notFound("session");
  return sessionStub(c.env, c.var.tenant.tenantId, scope.id, c.var.tenant.policy.residency);
}

export const sessionRoutes = new Hono<AppEnv>()
  .get("/sessions/:id", async (c) => {
    const view = await stubOf(c).view(c.var.tenant.tenantId);
    if (!view) throw GatewayError.notFound("session");
    return c.json(view);
  })
  .delete("/sessions/:id", async (c) => {
    const stub = stubOf(c);
    // A session that never started (or is another tenant's) is not created by ending it.
    if (!(await stub.view(c.var.tenant.tenantId))) throw GatewayError.notFound("session");
    await stub.end();
    return c.json(await stub.view(c.var.tenant.tenantId));
  });

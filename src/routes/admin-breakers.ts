import { Hono } from "hono";
import type { AppEnv } from "../hono-env";
import { breakerKey } from "../providers/call-with-fallback";
import { availableCatalog } from "../providers/provider-registry";
import { breakerStub, forgetBreakerView } from "../routing/breaker-gate";

/** Every chat model's breaker: state, recent failure rate, and when an open one will probe again. */
export const adminBreakerRoutes = new Hono<AppEnv>()
  .get("/breakers", async (c) => {
    const keys = [...new Set(availableCatalog(c.env).filter((m) => m.kind === "chat").map(breakerKey))];
    const data = await Promise.all(keys.map((key) => breakerStub(c.env, key).snapshot(key)));
    return c.json({ data });
  })
  .delete("/breakers", async (c) => {
    const keys = [...new Set(availableCatalog(c.env).map(breakerKey))];
    await Promise.all(keys.map((key) => breakerStub(c.env, key).reset(key)));
    forgetBreakerView();
    return c.json({ reset: keys.length });
  });

import { getSignedCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { constantTimeEqual } from "./key-hash";

export const ADMIN_COOKIE = "tg_admin";

export async function isAdminToken(env: Env, token: string | undefined): Promise<boolean> {
  // No configured token means no admin access at all, never an open door.
  if (!env.ADMIN_TOKEN || !token) return false;
  return constantTimeEqual(token, env.ADMIN_TOKEN);
}

/** Admin calls: `Authorization: Bearer <ADMIN_TOKEN>`, or the dashboard's signed session cookie. */
export const adminAuth = createMiddleware<AppEnv>(async (c, next) => {
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  let allowed = await isAdminToken(c.env, bearer);
  if (!allowed && c.env.ADMIN_TOKEN) {
    const session = await getSignedCookie(c, c.env.ADMIN_TOKEN, ADMIN_COOKIE);
    allowed = session === "admin";
  }
  if (!allowed) throw new GatewayError(401, "invalid_api_key", "Admin token required: Authorization: Bearer <ADMIN_TOKEN>");
  await next();
});

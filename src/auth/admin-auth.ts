import { createMiddleware } from "hono/factory";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { isUnsafeMethod, readSession, requestOrigin, validCsrfToken } from "./admin-session";
import { constantTimeEqual } from "./key-hash";

export { ADMIN_COOKIE } from "./admin-session";
export const CSRF_HEADER = "x-csrf-token";

export async function isAdminToken(env: Env, token: string | undefined): Promise<boolean> {
  // No configured token means no admin access at all, never an open door.
  if (!env.ADMIN_TOKEN || !token) return false;
  return constantTimeEqual(token, env.ADMIN_TOKEN);
}

export const csrfRejected = (why: string): GatewayError => new GatewayError(403, "csrf_rejected", `Cross-site request refused: ${why}`);

/**
 * Admin calls: `Authorization: Bearer <ADMIN_TOKEN>`, or the dashboard's signed session cookie. A
 * cookie rides along with any request the browser sends, including a form or `no-cors` fetch from a
 * page on another port of this host, so a cookie may only write when the browser says the request is
 * same-origin AND it carries the session's CSRF token, which only a page of ours can have read. A
 * bearer token is never sent by a browser on its own, so bearer calls need neither. (hono/csrf does
 * the Origin half for form-like content types only, and answers in its own shape; this covers every
 * unsafe request and answers with a GatewayError.)
 */
export const adminAuth = createMiddleware<AppEnv>(async (c, next) => {
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (await isAdminToken(c.env, bearer)) return next();
  const session = await readSession(c);
  if (!session || !c.env.ADMIN_TOKEN) throw new GatewayError(401, "invalid_api_key", "Admin token required: Authorization: Bearer <ADMIN_TOKEN>");
  if (isUnsafeMethod(c.req.method)) {
    if (requestOrigin(c) !== "same-origin") throw csrfRejected("a signed-in admin write needs a same-origin Origin or Sec-Fetch-Site");
    if (!(await validCsrfToken(c.env.ADMIN_TOKEN, session, c.req.header(CSRF_HEADER)))) throw csrfRejected(`a signed-in admin write needs the session's ${CSRF_HEADER} header`);
  }
  await next();
});

import { Hono } from "hono";
import { deleteCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import * as z from "zod";
import { csrfRejected, isAdminToken } from "../auth/admin-auth";
import { ADMIN_COOKIE, csrfToken, newSessionId, readSession, requestOrigin, setSession, validCsrfToken } from "../auth/admin-session";
import { loadDashboard } from "../dashboard/dashboard-data";
import { renderDashboardPage } from "../dashboard/dashboard-page";
import { renderSignInPage } from "../dashboard/sign-in-page";
import type { AppEnv } from "../hono-env";
import { lastDays, RangeQuerySchema, resolveRange } from "../reports/report-range";

// Same-origin scripts and styles only (uPlot is a static asset, not a CDN); no framing; forms post here.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const pageHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  c.header("content-security-policy", CSP);
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "no-referrer");
  // Spend figures are private: no shared or browser cache may keep them.
  c.header("cache-control", "no-store");
});

const SignInSchema = z.object({ token: z.string().min(1).max(512) });
const SignOutSchema = z.object({ csrf: z.string().max(256).optional() });

/**
 * Sign-in and sign-out are browser form posts: a browser that says the post came from another origin
 * (another port of this host included) is refused, so no page can sign the admin in or out behind
 * their back. A client that sends neither Origin nor Sec-Fetch-Site is not a browser riding on a
 * cookie, so it may post the form like any API client.
 */
const browserSameOrigin = createMiddleware<AppEnv>(async (c, next) => {
  if (requestOrigin(c) === "cross-origin") throw csrfRejected("the dashboard's forms only accept posts from its own pages");
  await next();
});

const FilterSchema = RangeQuerySchema.extend({
  // The select sends "" for "All tenants".
  tenant: z
    .string()
    .trim()
    .max(128)
    .optional()
    .transform((v) => v || undefined),
});

export const dashboardRoutes = new Hono<AppEnv>()
  .use("*", pageHeaders)
  .use("/sign-in", browserSameOrigin)
  .use("/sign-out", browserSameOrigin)
  .get("/", async (c) => {
    const session = await readSession(c);
    if (!session || !c.env.ADMIN_TOKEN) return c.html(renderSignInPage({ error: c.req.query("signin") === "failed" ? "That token is not valid." : undefined }));
    const parsed = FilterSchema.safeParse(c.req.query());
    const query = parsed.success ? parsed.data : {};
    const resolved = resolveRange(query, 30);
    // A bad filter (e.g. from after to) falls back to the default view rather than an error page.
    const range = typeof resolved === "string" ? lastDays(30) : resolved;
    const tenant = parsed.success ? parsed.data.tenant : undefined;
    return c.html(renderDashboardPage(await loadDashboard(c.env, { tenant, range }), { csrfToken: await csrfToken(c.env.ADMIN_TOKEN, session) }));
  })
  .post("/sign-in", async (c) => {
    // A body that is not a form (or a malformed multipart one) is a failed sign-in, not a server error.
    const form = SignInSchema.safeParse(await c.req.parseBody().catch(() => ({})));
    if (!form.success || !(await isAdminToken(c.env, form.data.token))) {
      // Post/redirect/get: a refresh cannot resubmit the token, and the page that says so loads cleanly.
      return c.redirect("/dashboard?signin=failed", 303);
    }
    // A fresh session id per sign-in: the CSRF token derived from it dies with it.
    await setSession(c, form.data.token, newSessionId());
    return c.redirect("/dashboard", 303);
  })
  .post("/sign-out", async (c) => {
    // Signing out a live session needs its token too; without one there is nothing to protect.
    const session = await readSession(c);
    if (session && c.env.ADMIN_TOKEN) {
      const form = SignOutSchema.safeParse(await c.req.parseBody().catch(() => ({})));
      if (!(await validCsrfToken(c.env.ADMIN_TOKEN, session, form.success ? form.data.csrf : undefined))) throw csrfRejected("sign-out needs the page's CSRF token");
    }
    deleteCookie(c, ADMIN_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Strict" });
    return c.redirect("/dashboard", 303);
  });

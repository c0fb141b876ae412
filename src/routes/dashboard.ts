import { type Context, Hono } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import { ADMIN_COOKIE, isAdminToken } from "../auth/admin-auth";
import { loadDashboard } from "../dashboard/dashboard-data";
import { renderDashboardPage } from "../dashboard/dashboard-page";
import { renderSignInPage } from "../dashboard/sign-in-page";
import type { AppEnv } from "../hono-env";
import { lastDays, RangeQuerySchema, resolveRange } from "../reports/report-range";

const SESSION_SECONDS = 8 * 3600;

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

const FilterSchema = RangeQuerySchema.extend({
  // The select sends "" for "All tenants".
  tenant: z
    .string()
    .trim()
    .max(128)
    .optional()
    .transform((v) => v || undefined),
});

async function signedIn(c: Context<AppEnv>): Promise<boolean> {
  if (!c.env.ADMIN_TOKEN) return false;
  return (await getSignedCookie(c, c.env.ADMIN_TOKEN, ADMIN_COOKIE)) === "admin";
}

export const dashboardRoutes = new Hono<AppEnv>()
  .use("*", pageHeaders)
  .get("/", async (c) => {
    if (!(await signedIn(c))) return c.html(renderSignInPage({ error: c.req.query("signin") === "failed" ? "That token is not valid." : undefined }));
    const parsed = FilterSchema.safeParse(c.req.query());
    const query = parsed.success ? parsed.data : {};
    const resolved = resolveRange(query, 30);
    // A bad filter (e.g. from after to) falls back to the default view rather than an error page.
    const range = typeof resolved === "string" ? lastDays(30) : resolved;
    const tenant = parsed.success ? parsed.data.tenant : undefined;
    return c.html(renderDashboardPage(await loadDashboard(c.env, { tenant, range })));
  })
  .post("/sign-in", async (c) => {
    // A body that is not a form (or a malformed multipart one) is a failed sign-in, not a server error.
    const form = SignInSchema.safeParse(await c.req.parseBody().catch(() => ({})));
    if (!form.success || !(await isAdminToken(c.env, form.data.token))) {
      // Post/redirect/get: a refresh cannot resubmit the token, and the page that says so loads cleanly.
      return c.redirect("/dashboard?signin=failed", 303);
    }
    // The cookie is signed with the admin token, so rotating the token signs every session out.
    await setSignedCookie(c, ADMIN_COOKIE, "admin", form.data.token, { httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: SESSION_SECONDS });
    return c.redirect("/dashboard", 303);
  })
  .post("/sign-out", (c) => {
    deleteCookie(c, ADMIN_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Strict" });
    return c.redirect("/dashboard", 303);
  });

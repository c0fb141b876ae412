import fc from "fast-check";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ADMIN_TOKEN, call, createTenant, type TestTenant } from "../fixtures/gateway";
import { anyValue, bodyOf, contentType, expectHandled, headerValue, queryOf, RUNS, segment, type Sent, statusCounts, text, validOrMutated, watchUnhandled } from "../fixtures/fuzz-arbitraries";

/**
 * Property-based fuzzing of the admin API and the dashboard: tenant creation, policy, limits and
 * budgets, keys, reports, breakers and dead letters; bodies, path ids and query strings. Writes go to
 * a tenant of their own, so nothing the fuzzer sets can change another test's tenant.
 */
let victim: TestTenant;
let unhandled: string[];

beforeAll(async () => {
  victim = await createTenant();
});
afterEach(() => {
  expect(unhandled).toEqual([]);
  vi.restoreAllMocks();
});

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const tier = fc.constantFrom("auto", "fast", "balanced", "powerful");
// Refused outside dev, and never reachable in tests (no network): alert webhooks must not call out.
const webhook = fc.constantFrom("https://hooks.invalid/x", "not a url", "http://127.0.0.1:9/x", "https://169.254.169.254/latest");
const policy = validOrMutated(
  fc.record(
    {
      task_tiers: fc.dictionary(fc.string({ maxLength: 20 }), tier, { maxKeys: 3 }),
      default_tier: tier,
      max_tier: fc.constantFrom("fast", "balanced", "powerful"),
      allowed_models: fc.array(fc.constantFrom("sim/fast", "sim/balanced", "nope"), { maxLength: 3 }),
      cache: fc.record({ enabled: fc.boolean(), ttl_s: fc.integer({ min: 60, max: 86_400 }), semantic: fc.boolean(), semantic_threshold: fc.double({ min: 0.5, max: 1, noNaN: true }) }, { requiredKeys: [] }),
      escalation: fc.boolean(),
      deadline_ms: fc.integer({ min: 100, max: 600_000 }),
      timeouts: fc.record({ attempt_ms: fc.integer({ min: 100, max: 60_000 }) }, { requiredKeys: [] }),
      off_peak: fc.record({ start_hour: fc.integer({ min: 0, max: 24 }), end_hour: fc.integer({ min: 0, max: 24 }) }),
      alert_webhook: webhook,
      log_content: fc.boolean(),
    },
    { requiredKeys: [] },
  ),
  ["task_tiers", "default_tier", "cache", "timeouts", "off_peak", "alert_webhook"],
);
const limits = validOrMutated(fc.record({ rpm: fc.integer({ min: 0, max: 2_000_000 }), tpm: fc.integer({ min: 1, max: 1_000_000_000 }), max_in_flight: fc.integer({ min: 1, max: 10_000 }) }, { requiredKeys: [] }), ["rpm", "tpm", "max_in_flight"]);
const fraction = fc.double({ min: 0.01, max: 1, noNaN: true });
const budget = validOrMutated(
  fc.record({ scope: fc.oneof(fc.constantFrom("tenant", "task:default", "key:key_1"), fc.string({ maxLength: 20 })), period: fc.constantFrom("day", "month", "total", "week"), limit_usd: fc.double({ min: 0.000001, max: 100, noNaN: true }), alert_at: fraction, degrade_at: fraction, throttle_at: fraction }, { requiredKeys: ["scope", "period", "limit_usd"] }),
  ["scope", "period", "limit_usd", "alert_at"],
);
const budgets = fc.array(budget, { maxLength: 3 });
const tenantBody = validOrMutated(fc.record({ name: text, policy, limits, budgets }, { requiredKeys: ["name"] }), ["name", "policy", "limits", "budgets"]);

const WRITES: [string, fc.Arbitrary<string>, string, fc.Arbitrary<unknown>][] = [
  ["POST /admin/tenants", fc.constant("/admin/tenants"), "POST", tenantBody],
  ["PUT /admin/tenants/:id/policy", fc.constant(0).map(() => `/admin/tenants/${victim.id}/policy`), "PUT", policy],
  ["PUT /admin/tenants/:id/limits", fc.constant(0).map(() => `/admin/tenants/${victim.id}/limits`), "PUT", limits],
  ["PUT /admin/tenants/:id/budgets", fc.constant(0).map(() => `/admin/tenants/${victim.id}/budgets`), "PUT", budgets],
  ["POST /admin/reports/rollups", fc.constant("/admin/reports/rollups"), "POST", fc.record({ from: fc.constantFrom("2026-11-01", "2026-13-01", "x"), force: fc.boolean() }, { requiredKeys: [] })],
];

describe("fuzz: admin endpoints", () => {
  it.each(WRITES)("%s: any body → never a 5xx", async (_name, path, method, structured) => {
    unhandled = watchUnhandled();
    statusCounts.clear();
    await fc.assert(
      fc.asyncProperty(path, bodyOf(structured), contentType, async (p, body, type) => {
        await expectHandled({ path: p, method, headers: { ...admin, "content-type": type }, body });
      }),
      { numRuns: RUNS.body / 2 },
    );
    expect([...statusCounts.keys()].some((status) => status < 300), JSON.stringify([...statusCounts])).toBe(true);
  }, 120_000);

  it("reads, ids and query strings: reports, tenants, keys, breakers, dead letters → never a 5xx", async () => {
    unhandled = watchUnhandled();
    const route = fc.oneof(
      queryOf(["group_by", "from", "to", "tenant", "task", "rollups"]).map((q) => ["GET", `/admin/reports/cost${q}`]),
      queryOf(["from", "to", "tenant"]).map((q) => ["GET", `/admin/reports/profiles${q}`]),
      queryOf(["growth", "days", "tenant", "baseline"]).map((q) => ["GET", `/admin/reports/forecast${q}`]),
      queryOf(["tenant"]).map((q) => ["GET", `/admin/reports/budgets${q}`]),
      queryOf(["queue", "tenant_id", "replayed", "before", "limit"]).map((q) => ["GET", `/admin/dead-letters${q}`]),
      segment.map((id) => ["GET", `/admin/dead-letters/${id}`]),
      segment.map((id) => ["POST", `/admin/dead-letters/${id}/replay`]),
      segment.map((id) => ["GET", `/admin/tenants/${id}`]),
      segment.map((id) => ["POST", `/admin/tenants/${id}/keys`]),
      segment.map((id) => ["DELETE", `/admin/keys/${id}`]),
      fc.constantFrom(["GET", "/admin/breakers"], ["GET", "/admin/nope"]),
    );
    await fc.assert(
      fc.asyncProperty(route, async ([method, path]) => {
        await expectHandled({ path: path ?? "/", method, headers: admin });
      }),
      { numRuns: RUNS.query * 3 },
    );
  }, 120_000);

  it("the dashboard: any filter, any sign-in form, any cookie → never a 5xx", async () => {
    unhandled = watchUnhandled();
    const signIn = await call("/dashboard/sign-in", { method: "POST", body: new URLSearchParams({ token: ADMIN_TOKEN }), redirect: "manual" });
    const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(cookie).toMatch(/^tg_admin=/);
    const request: fc.Arbitrary<Sent> = fc.oneof(
      fc.tuple(queryOf(["from", "to", "tenant", "signin"]), fc.constantFrom(cookie, "", "tg_admin=admin", `${cookie}x`)).map(([q, c]): Sent => ({ path: `/dashboard${q}`, method: "GET", headers: c ? { cookie: c } : {} })),
      fc.tuple(fc.dictionary(fc.constantFrom("token", "x"), fc.oneof(text, fc.constant(ADMIN_TOKEN)), { maxKeys: 2 }), contentType).map(([form, type]) => ({
        path: "/dashboard/sign-in",
        method: "POST",
        headers: { "content-type": type === "application/json" ? "application/x-www-form-urlencoded" : type },
        body: new URLSearchParams(Object.entries(form).map(([k, v]) => [k, String(v).replace(/\uD800/g, "")])).toString(),
      })),
      fc.constant({ path: "/dashboard/sign-out", method: "POST", headers: {} }),
      headerValue.map((v) => ({ path: "/dashboard", method: "GET", headers: { cookie: `tg_admin=${encodeURIComponent(v)}` } })),
      anyValue.map((v) => ({ path: "/dashboard/sign-in", method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(v) })),
    );
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        await expectHandled(req);
      }),
      { numRuns: RUNS.query * 2 },
    );
  }, 120_000);
});

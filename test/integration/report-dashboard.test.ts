import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { ChartData } from "../../src/dashboard/dashboard-data";
import type { RequestLogLine } from "../../src/ledger/request-log";
import { ADMIN_TOKEN, BASE, call, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";
import { seedReportLedger } from "../fixtures/report-ledger-seed";

const stamp = Date.now().toString(36);
// What the runtime hands a Worker's fetch handler (workers-sdk's pattern for calling it directly).
const IncomingRequest = Request<unknown, IncomingRequestCfProperties>;
const tenants = { a: `dash-a-${stamp}`, b: `dash-b-${stamp}` };

async function signIn(token = ADMIN_TOKEN): Promise<Response> {
  return call("/dashboard/sign-in", { method: "POST", body: new URLSearchParams({ token }), redirect: "manual" });
}

function chartData(html: string): ChartData {
  const match = /id="dashboard-data"[^>]*data-json="([^"]*)"/.exec(html);
  if (!match?.[1]) throw new Error("no chart data on the page");
  const json = match[1].replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  return JSON.parse(json) as ChartData;
}

beforeAll(async () => {
  await seedReportLedger({ seed: 3, tenants: [tenants.a], days: 5, perDay: 10, tasks: ["summarize", "classify"] });
  await seedReportLedger({ seed: 4, tenants: [tenants.b], days: 5, perDay: 10, tasks: ["translate"] });
});

describe("/dashboard", () => {
  it("asks for the token, then sets an HttpOnly, Secure, SameSite=Strict session cookie", async () => {
    const page = await call("/dashboard");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('action="/dashboard/sign-in"');
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");

    const refused = await signIn("wrong-token");
    expect(refused.status).toBe(303);
    expect(refused.headers.get("location")).toBe("/dashboard?signin=failed");
    expect(refused.headers.get("set-cookie")).toBeNull();
    expect(await (await call("/dashboard?signin=failed")).text()).toContain("That token is not valid.");
    const ok = await signIn();
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/dashboard");
    const cookie = ok.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^tg_admin=/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    // The same session works for the admin API (it is the admin-auth cookie).
    const session = cookie.split(";")[0] ?? "";
    expect((await call("/admin/reports/cost", { headers: { cookie: session } })).status).toBe(200);
    expect((await call("/admin/reports/cost", { headers: { cookie: "tg_admin=admin" } })).status).toBe(401);
  });

  it("renders every view, and the tenant and date filters change the data", async () => {
    const session = ((await signIn()).headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const get = async (query: string) => {
      const res = await call(`/dashboard${query}`, { headers: { cookie: session } });
      expect(res.status).toBe(200);
      return res.text();
    };
    const html = await get(`?tenant=${tenants.a}`);
    for (const id of ["cost-over-time", "cost-by-task", "cache", "budgets", "breakers", "dead-letters", "alerts"]) expect(html).toContain(`id="panel-${id}"`);
    expect(html).toContain('src="/lib/uplot/uPlot.iife.min.js"');
    const a = chartData(html);
    expect(a.tasks.sort()).toEqual(["classify", "summarize"]);
    expect(Object.values(a.costByDayTier).flat().some((v) => v > 0)).toBe(true);

    const b = chartData(await get(`?tenant=${tenants.b}`));
    expect(b.tasks).toEqual(["translate"]);

    const today = new Date().toISOString().slice(0, 10);
    const todayOnly = chartData(await get(`?tenant=${tenants.a}&from=${today}&to=${today}`));
    expect(todayOnly.days).toEqual([today]);
    expect(a.days.length).toBe(30);
  });

  it("sign-out clears the cookie", async () => {
    const res = await call("/dashboard/sign-out", { method: "POST", redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/tg_admin=;.*Max-Age=0/i);
  });
});

describe("structured request logs", () => {
  afterEach(() => vi.restoreAllMocks());

  async function logLineFor(run: () => Promise<Response>): Promise<{ line: RequestLogLine; res: Response }> {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
    const res = await run();
    const id = res.headers.get("x-request-id") ?? "";
    await ledgerRow(id);
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const found = lines.map((l) => (l.startsWith("{") ? (JSON.parse(l) as RequestLogLine) : null)).find((l) => l?.msg === "request" && l.id === id);
      if (found) return { line: found, res };
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no log line for ${id}`);
  }

  it("writes one JSON line per request with id, tenant, stage timings and outcome, without content", async () => {
    const t = await createTenant();
    const { line } = await logLineFor(() => chat(t.key, hello("The secret plan is tangerine"), { "x-tollgate-task": "logging" }));
    expect(line).toMatchObject({ msg: "request", tenant: t.id, key: t.keyId, status: 200, outcome: "ok", ledger: { task: "logging", tier: "fast", model: "sim/fast" } });
    expect(Object.keys(line.stages)).toEqual(expect.arrayContaining(["auth", "validate", "upstream"]));
    expect(line.content).toBeUndefined();
    expect(JSON.stringify(line)).not.toContain("tangerine");
  });

  it("logs prompt and completion only when the tenant policy sets log_content", async () => {
    const t = await createTenant({ policy: { log_content: true } });
    const { line, res } = await logLineFor(() => chat(t.key, hello("The secret plan is tangerine")));
    expect(line.content?.prompt).toContain("tangerine");
    // The client still gets the whole body after the log has read it.
    expect((await res.json<{ choices: unknown[] }>()).choices).toHaveLength(1);
    expect(line.content?.completion).toContain("choices");
  });

  it("REQUEST_LOG=errors keeps the lines of failed requests only; the ledger still has every request", async () => {
    const t = await createTenant({ policy: { log_content: true } });
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const statuses: number[] = [];
    const send = async (body: unknown, headers: Record<string, string> = {}) => {
      const ctx = createExecutionContext();
      const request = new IncomingRequest(`${BASE}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
      const res = await worker.fetch(request, { ...env, REQUEST_LOG: "errors" }, ctx);
      await res.text();
      await waitOnExecutionContext(ctx);
      statuses.push(res.status);
      return res.headers.get("x-request-id") ?? "";
    };
    const ok = await send(hello("quiet when it works"));
    const failed = await send(hello("x", "no-such/model"));
    // A stream answers 200 and breaks after its first chunks: its line is written, with the final status.
    const broken = await send({ ...hello("a stream that breaks"), stream: true }, { "x-tollgate-sim-fault": "cut", "x-tollgate-cache": "no-store" });
    expect(await ledgerRow(ok)).toMatchObject({ status: 200 });
    expect(await ledgerRow(failed)).toMatchObject({ status: 400 });
    expect(statuses).toEqual([200, 400, 200]);
    expect(await ledgerRow(broken)).toMatchObject({ status: 502 });
    const logged = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as RequestLogLine).filter((l) => l.msg === "request");
    expect(logged.map((l) => l.id).sort()).toEqual([failed, broken].sort());
    expect(logged.find((l) => l.id === failed)).toMatchObject({ status: 400, outcome: "error", error_code: "invalid_request" });
    expect(logged.find((l) => l.id === broken)).toMatchObject({ status: 502, outcome: "error", error_code: "upstream_error" });
  });

  it("logs failures with their error code", async () => {
    const t = await createTenant();
    const { line } = await logLineFor(() => chat(t.key, hello("x", "no-such/model")));
    expect(line).toMatchObject({ status: 400, outcome: "error", error_code: "invalid_request", tenant: t.id });
  });
});

import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freezeClockAtNoon, thawClock } from "../fixtures/frozen-clock";
import { insertLedgerEvents } from "../../src/ledger/ledger-store";
import type { CostReport, CostRow } from "../../src/reports/cost-report";
import { DAY_MS, dayKey, startOfDay } from "../../src/reports/report-range";
import { runRollups } from "../../src/reports/rollup-job";
import { admin, call } from "../fixtures/gateway";
import { type Expected, expectedBy, type SeededLedger, seedReportLedger } from "../fixtures/report-ledger-seed";

const GROUPS = ["tenant", "task", "tier", "model", "day"] as const;
const DAYS = 10;
let seeded: SeededLedger;

async function report(query: string): Promise<CostReport> {
  const res = await admin(`/admin/reports/cost?${query}`, "GET");
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json<CostReport>();
}

function pick(row: CostRow | Expected): Expected {
  const { requests, tokens_in, tokens_out, cost_usd, saved_usd, cache_hits, cache_misses, cache_bypass, escalations, errors } = row;
  return { requests, tokens_in, tokens_out, cost_usd, saved_usd, cache_hits, cache_misses, cache_bypass, escalations, errors };
}

function expectMatches(rows: CostRow[], expected: Map<string, Expected>, group: (typeof GROUPS)[number]) {
  expect(new Set(rows.map((r) => String(r[group])))).toEqual(new Set(expected.keys()));
  for (const row of rows) expect(pick(row), `${group}=${row[group]}`).toEqual(expected.get(String(row[group])));
}

// One frozen "now" for the seed, the expectations and the gateway's reports (see frozen-clock.ts).
beforeAll(async () => {
  freezeClockAtNoon();
  const stamp = Date.now().toString(36);
  seeded = await seedReportLedger({ seed: 7, tenants: [`rc-a-${stamp}`, `rc-b-${stamp}`], days: DAYS, perDay: 12, tasks: ["summarize", "classify", "extract"] });
});

afterAll(() => thawClock());

describe("GET /admin/reports/cost", () => {
  const from = () => dayKey(startOfDay(Date.now()) - (DAYS - 1) * DAY_MS);

  for (const group of GROUPS) {
    it(`group_by=${group}: sums match the seeded ledger exactly, raw and with rollups`, async () => {
      const [a] = seeded.tenants;
      const keyOf = (e: (typeof seeded.events)[number]) =>
        group === "day" ? dayKey(e.ts) : group === "tenant" ? (e.tenant_id ?? "") : String(e[group]);
      // Per tenant, so other test files' rows cannot leak in; the tenant group is checked across both.
      const tenantParam = group === "tenant" ? "" : `&tenant=${a}`;
      const keep = (e: (typeof seeded.events)[number]) => group === "tenant" || e.tenant_id === a;
      const expected = expectedBy(seeded, keyOf, keep);

      const raw = await report(`group_by=${group}&from=${from()}${tenantParam}&rollups=off`);
      expect(raw.source.rollup_days).toEqual([]);
      const rawRows = group === "tenant" ? raw.data.filter((r) => seeded.tenants.includes(String(r.tenant))) : raw.data;
      expectMatches(rawRows, expected, group);

      await runRollups(env.DB);
      const rolled = await report(`group_by=${group}&from=${from()}${tenantParam}`);
      expect(rolled.source.rollup_days.length).toBeGreaterThan(0);
      // Today always comes from the raw ledger.
      expect(rolled.source.raw.at(-1)?.from).toBe(new Date(startOfDay(Date.now())).toISOString());
      const rolledRows = group === "tenant" ? rolled.data.filter((r) => seeded.tenants.includes(String(r.tenant))) : rolled.data;
      expectMatches(rolledRows, expected, group);
    });
  }

  it("totals and a partial-day window agree with the reference", async () => {
    const [, b] = seeded.tenants;
    const start = startOfDay(Date.now()) - 6 * DAY_MS + 5 * 3_600_000;
    const end = startOfDay(Date.now()) - 2 * DAY_MS + 7 * 3_600_000;
    const keep = (e: (typeof seeded.events)[number]) => e.tenant_id === b && e.ts >= start && e.ts < end;
    const expected = expectedBy(seeded, () => "all", keep).get("all");
    const body = await report(`group_by=task&tenant=${b}&from=${new Date(start).toISOString()}&to=${new Date(end).toISOString()}`);
    expect(pick(body.totals)).toEqual(expected);
    // Edge days are partial, so they are read raw; the whole days between come from rollups.
    expect(body.source.raw.length).toBe(2);
  });

  it("re-rolls a day when a late ledger row arrives for it", async () => {
    const [a] = seeded.tenants;
    await runRollups(env.DB);
    const day = startOfDay(Date.now()) - 3 * DAY_MS;
    const before = await report(`group_by=day&tenant=${a}&from=${dayKey(day)}&to=${dayKey(day)}`);
    const template = seeded.events.find((e) => e.tenant_id === a && e.ts >= day);
    if (!template) throw new Error("no seeded row to copy");
    const late = { ...template, request_id: `late-${Date.now()}`, cost_usd: 0.25, ts: day + 1000 };
    await insertLedgerEvents(env.DB, [late]);
    const stale = await report(`group_by=day&tenant=${a}&from=${dayKey(day)}&to=${dayKey(day)}`);
    expect(stale.totals.requests).toBe(before.totals.requests);
    const run = await runRollups(env.DB);
    expect(run.rolled.map((r) => r.day)).toContain(dayKey(day));
    const fresh = await report(`group_by=day&tenant=${a}&from=${dayKey(day)}&to=${dayKey(day)}`);
    expect(fresh.totals.requests).toBe(before.totals.requests + 1);
    expect(fresh.totals.cost_usd).toBeCloseTo(before.totals.cost_usd + 0.25, 9);
  });

  it("rejects bad parameters with a 400 that names the field", async () => {
    for (const [query, param] of [
      ["group_by=week", "group_by[0]"],
      ["from=yesterday", "from"],
      ["from=2026-01-10&to=2026-01-01", "from"],
    ] as const) {
      const res = await admin(`/admin/reports/cost?${query}`, "GET");
      expect(res.status).toBe(400);
      expect((await res.json<{ error: { param: string } }>()).error.param).toBe(param);
    }
  });

  it("needs the admin token", async () => {
    expect((await call("/admin/reports/cost")).status).toBe(401);
    expect((await call("/admin/reports/cost", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
  });
});

import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freezeClockAtNoon, thawClock } from "../fixtures/frozen-clock";
import { findModel, priceUsd } from "../../src/config/model-catalog";
import { insertLedgerEvents } from "../../src/ledger/ledger-store";
import { emptyLedgerEvent } from "../../src/ledger/ledger-event";
import { availableCatalog } from "../../src/providers/provider-registry";
import type { BudgetBurn } from "../../src/reports/budget-burn";
import { type ForecastReport, forecastReport } from "../../src/reports/forecast-report";
import { nearestRank, type TaskProfile } from "../../src/reports/profiles-report";
import { DAY_MS, dayKey, startOfDay } from "../../src/reports/report-range";
import { runScheduled } from "../../src/scheduled";
import { admin, createTenant } from "../fixtures/gateway";
import { type SeededLedger, seedReportLedger } from "../fixtures/report-ledger-seed";

const TASKS = ["triage", "draft", "review"];
let seeded: SeededLedger;
let tenant: string;

// One frozen "now" for the seed, the expectations and the gateway's reports (see frozen-clock.ts).
beforeAll(async () => {
  freezeClockAtNoon();
  tenant = `rp-${Date.now().toString(36)}`;
  seeded = await seedReportLedger({ seed: 11, tenants: [tenant], days: 9, perDay: 25, tasks: TASKS });
});

afterAll(() => thawClock());

describe("GET /admin/reports/profiles", () => {
  it("gives per-task p50/p95 matching a reference computation, tier mix, hit rate and cost per request", async () => {
    const from = dayKey(startOfDay(Date.now()) - 8 * DAY_MS);
    const res = await admin(`/admin/reports/profiles?tenant=${tenant}&from=${from}`, "GET");
    expect(res.status).toBe(200);
    const { data } = await res.json<{ data: TaskProfile[] }>();
    expect(data.map((p) => p.task).sort()).toEqual([...TASKS].sort());
    for (const profile of data) {
      const rows = seeded.events.filter((e) => e.task === profile.task);
      const ok = rows.filter((e) => e.status < 400);
      const metric = (f: (e: (typeof ok)[number]) => number) => ({ p50: nearestRank(ok.map(f), 0.5), p95: nearestRank(ok.map(f), 0.95) });
      expect(profile.tokens_in).toEqual(metric((e) => e.prompt_tokens));
      expect(profile.tokens_out).toEqual(metric((e) => e.completion_tokens));
      expect(profile.latency_ms).toEqual(metric((e) => e.latency_ms));
      expect(profile.requests).toBe(rows.length);
      expect(profile.errors).toBe(rows.length - ok.length);
      for (const tier of ["fast", "balanced", "powerful"]) {
        expect(profile.tier_mix[tier]).toBeCloseTo(rows.filter((e) => e.tier === tier).length / rows.length, 12);
      }
      const hits = rows.filter((e) => ["exact", "semantic", "stale"].includes(e.cache)).length;
      expect(profile.cache_hit_rate).toBeCloseTo(hits / (hits + rows.filter((e) => e.cache === "miss").length), 12);
      const costNano = rows.reduce((sum, e) => sum + (seeded.nano.get(e.request_id)?.cost ?? 0), 0);
      expect(profile.cost_usd).toBe(costNano / 1e9);
      expect(profile.cost_per_request_usd).toBeCloseTo(costNano / 1e9 / rows.length, 9);
    }
  });

  it("the reference is nearest rank", () => {
    expect(nearestRank([5, 1, 4, 2, 3], 0.5)).toBe(3);
    expect(nearestRank([1, 2, 3, 4], 0.5)).toBe(2);
    expect(nearestRank(Array.from({ length: 20 }, (_, i) => i + 1), 0.95)).toBe(19);
    expect(nearestRank(Array.from({ length: 21 }, (_, i) => i + 1), 0.95)).toBe(20);
    expect(nearestRank([], 0.5)).toBeNull();
  });
});

describe("GET /admin/reports/forecast", () => {
  it("projects a month at growth 3, separating cache savings from tier-routing savings", async () => {
    const now = Date.now();
    const catalog = availableCatalog(env);
    const report = await forecastReport(env.DB, catalog, { growth: 3, days: 7, tenant, now });
    const window = seeded.events.filter((e) => e.ts >= now - 7 * DAY_MS && e.ts < now + 1);
    const span = now - Math.min(...window.map((e) => e.ts));
    const factor = ((30 * DAY_MS) / span) * 3;
    const baseline = findModel(catalog, "sim/powerful");
    if (!baseline) throw new Error("catalog");
    const cost = window.reduce((s, e) => s + e.cost_usd, 0);
    const saved = window.reduce((s, e) => s + e.saved_usd, 0);
    const routing = window.filter((e) => e.cache === "miss" || e.cache === "bypass").reduce((s, e) => s + priceUsd(baseline, e.prompt_tokens, e.completion_tokens) - e.cost_usd, 0);

    expect(report.baseline_model).toBe("sim/powerful");
    expect(report.basis.requests).toBe(window.length);
    expect(report.projected.requests).toBe(Math.round(window.length * factor));
    expect(report.projected.cost_usd).toBeCloseTo(cost * factor, 8);
    expect(report.projected.cache_savings_usd).toBeCloseTo(saved * factor, 8);
    expect(report.projected.routing_savings_usd).toBeCloseTo(routing * factor, 8);
    expect(report.projected.routing_savings_usd).toBeGreaterThan(0);
    expect(report.projected.cost_without_cache_usd).toBeCloseTo(report.projected.cost_usd + report.projected.cache_savings_usd, 8);
    expect(report.projected.cost_usd).toBeCloseTo(report.current.cost_usd * 3, 8);
    expect(report.by_task.map((t) => t.task).sort()).toEqual([...TASKS].sort());
    expect(report.by_task.reduce((s, t) => s + t.share_of_requests, 0)).toBeCloseTo(1, 12);
  });

  it("answers over HTTP and validates growth", async () => {
    const res = await admin(`/admin/reports/forecast?growth=3&tenant=${tenant}`, "GET");
    expect(res.status).toBe(200);
    const body = await res.json<ForecastReport>();
    expect(body.growth).toBe(3);
    expect(body.projected.cost_usd).toBeCloseTo(body.current.cost_usd * 3, 6);
    expect((await admin("/admin/reports/forecast?growth=-1", "GET")).status).toBe(400);
    expect((await admin("/admin/reports/forecast?baseline=nope/model", "GET")).status).toBe(400);
  });
});

describe("budget burn and the daily rollup cron", () => {
  it("the DAILY cron rolls up every past day", async () => {
    await runScheduled({ cron: "17 0 * * *", scheduledTime: Date.now(), noRetry: () => undefined }, env);
    const { results } = await env.DB.prepare("SELECT day FROM rollup_days WHERE day >= ?").bind(dayKey(startOfDay(Date.now()) - 8 * DAY_MS)).all<{ day: string }>();
    const expected = Array.from({ length: 8 }, (_, i) => dayKey(startOfDay(Date.now()) - (8 - i) * DAY_MS));
    expect(results.map((r) => r.day).sort()).toEqual(expected);
    expect(results.map((r) => r.day)).not.toContain(dayKey(Date.now()));
  });

  it("computes spend per budget for its current period from the ledger", async () => {
    const t = await createTenant();
    const budgets = [
      { scope: "tenant", period: "day", limit_usd: 2 },
      { scope: "tenant", period: "month", limit_usd: 10 },
      { scope: "task:draft", period: "month", limit_usd: 4 },
      { scope: `key:${t.keyId}`, period: "total", limit_usd: 100 },
    ];
    expect((await admin(`/admin/tenants/${t.id}/budgets`, "PUT", budgets)).status).toBe(200);
    const now = Date.now();
    const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
    const rows = [
      { ts: startOfDay(now) + 1, cost: 0.5, task: "draft", key: t.keyId },
      { ts: startOfDay(now) + 2, cost: 1.25, task: "triage", key: "other" },
      { ts: monthStart + 3, cost: 2, task: "draft", key: t.keyId },
      { ts: monthStart - DAY_MS, cost: 7, task: "draft", key: t.keyId },
    ].map((r, i) => ({ ...emptyLedgerEvent(`burn-${t.id}-${i}`, "/v1/chat/completions", r.ts), tenant_id: t.id, key_id: r.key, task: r.task, cost_usd: r.cost, status: 200 }));
    await insertLedgerEvents(env.DB, rows);
    await runScheduled({ cron: "17 0 * * *", scheduledTime: now, noRetry: () => undefined }, env);
    const res = await admin(`/admin/reports/budgets?tenant=${t.id}`, "GET");
    const { data } = await res.json<{ data: BudgetBurn[] }>();
    const spent = (scope: string, period: string) => data.find((b) => b.scope === scope && b.period === period)?.spent_usd;
    const sum = (keep: (r: (typeof rows)[number]) => boolean) => rows.filter(keep).reduce((s, r) => s + r.cost_usd, 0);
    expect(spent("tenant", "day")).toBe(sum((r) => r.ts >= startOfDay(now)));
    expect(spent("tenant", "month")).toBe(sum((r) => r.ts >= monthStart));
    expect(spent("task:draft", "month")).toBe(sum((r) => r.ts >= monthStart && r.task === "draft"));
    expect(spent(`key:${t.keyId}`, "total")).toBe(sum((r) => r.key_id === t.keyId));
    const day = data.find((b) => b.period === "day");
    const fraction = sum((r) => r.ts >= startOfDay(now)) / 2;
    expect(day?.fraction).toBeCloseTo(fraction, 12);
    // 1.75 of 2 is past the default alert threshold (0.8); on the 1st of a month it is over the limit.
    expect(day?.state).toBe(fraction >= 1 ? "exceeded" : "alert");
  });
});

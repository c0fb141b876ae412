#!/usr/bin/env node
// Report latency on a large ledger, with and without daily rollups:
//
//   node scripts/bench-reports.mjs [--rows 1000000] [--days 30] [--runs 7] [--keep DIR] [--out FILE]
//
// 1. seeds a fresh local D1 (its own state directory) with --rows ledger rows over --days days;
// 2. boots `npm start` on a spare port against it;
// 3. times GET /admin/reports/cost over the last 30 days, first from the raw ledger (rollups=off),
//    then rolls up (POST /admin/reports/rollups, what the daily cron runs) and times it again;
// 4. checks both answers agree, and prints a markdown table (and writes --out, if given).
// Latency is measured by the client over loopback HTTP, so it includes wrangler dev's local proxy.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startGateway } from "./local-gateway.mjs";
import { seedLedger } from "./seed-ledger.mjs";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    days: { type: "string", default: "30" },
    runs: { type: "string", default: "7" },
    keep: { type: "string" },
    out: { type: "string" },
  },
});
const rows = Number(values.rows);
const runs = Number(values.runs);
const token = "bench-reports-admin";
const log = (msg) => console.error(`[bench-reports ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const state = values.keep ?? mkdtempSync(path.join(tmpdir(), "tollgate-report-bench-"));
let gateway;

async function timed(url, init = {}) {
  const started = performance.now();
  const res = await fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers } });
  const body = (res.headers.get("content-type") ?? "").includes("json") ? await res.json() : { html: (await res.text()).length };
  const ms = performance.now() - started;
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return { ms, body };
}

async function series(pathname, init) {
  await timed(`${gateway.url}${pathname}`, init); // warm-up: first use of the isolate and SQLite page cache
  const samples = [];
  let body;
  for (let i = 0; i < runs; i++) {
    const r = await timed(`${gateway.url}${pathname}`, init);
    samples.push(r.ms);
    body = r.body;
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)], min: samples[0], max: samples.at(-1), body };
}

async function signIn() {
  const res = await fetch(`${gateway.url}/dashboard/sign-in`, { method: "POST", body: new URLSearchParams({ token }), redirect: "manual" });
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
  if (!cookie) throw new Error(`dashboard sign-in failed: HTTP ${res.status}`);
  return cookie;
}

const fmt = (ms) => `${ms.toFixed(0)} ms`;

try {
  log(`seeding ${rows.toLocaleString("en-US")} ledger rows over ${values.days} days into ${state}`);
  const seeded = seedLedger({ rows, days: Number(values.days), persistTo: path.join(state, "wrangler") });
  log(`seeded in ${seeded.seconds.toFixed(1)} s; starting npm start`);
  gateway = await startGateway({ persistTo: path.join(state, "wrangler"), adminToken: token, bootTimeoutMs: 180_000 });

  const queries = ["group_by=day", "group_by=tenant", "group_by=task", "group_by=model"];
  const results = [];
  for (const q of queries) results.push({ query: q, raw: await series(`/admin/reports/cost?${q}&rollups=off`) });
  log("rolling up (what the daily cron runs)");
  const rollup = await timed(`${gateway.url}/admin/reports/rollups`, { method: "POST", body: "{}" });
  for (const r of results) r.rolled = await series(`/admin/reports/cost?${r.query}`);
  const extra = {
    profiles: await series("/admin/reports/profiles"),
    forecast: await series("/admin/reports/forecast?growth=3"),
    budgets: await series("/admin/reports/budgets"),
    "dashboard page (30 days, all tenants)": await series("/dashboard", { headers: { cookie: await signIn() } }),
  };

  const failures = [];
  for (const r of results) {
    const [a, b] = [r.raw.body.totals, r.rolled.body.totals];
    if (a.requests !== b.requests || Math.abs(a.cost_usd - b.cost_usd) > 1e-6) failures.push(`${r.query}: raw and rollup totals differ`);
    if (r.rolled.body.source.rollup_days.length === 0) failures.push(`${r.query}: rollups were not used`);
  }
  const lines = [
    `# Report latency: ${rows.toLocaleString("en-US")} ledger rows over ${values.days} days`,
    "",
    `Machine: ${process.platform}/${process.arch}, Node ${process.version}. Seeding took ${seeded.seconds.toFixed(1)} s; the rollup of ${rollup.body.rolled.length} days took ${fmt(rollup.ms)}.`,
    `Each figure is the median (min–max) of ${runs} requests after one warm-up, over loopback HTTP to \`npm start\`. The 30-day window is today plus 29 past days; today is always read raw.`,
    "",
    "| GET /admin/reports/cost (30 days) | raw ledger (`rollups=off`) | with rollups |",
    "| --- | ---: | ---: |",
    ...results.map((r) => `| \`${r.query}\` | ${fmt(r.raw.median)} (${fmt(r.raw.min)}–${fmt(r.raw.max)}) | ${fmt(r.rolled.median)} (${fmt(r.rolled.min)}–${fmt(r.rolled.max)}) |`),
    "",
    "| other reports | median (min–max) |",
    "| --- | ---: |",
    ...Object.entries(extra).map(([name, s]) => `| ${name} | ${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}) |`),
    "",
    `Totals check: ${results[0].rolled.body.totals.requests.toLocaleString("en-US")} requests, $${results[0].rolled.body.totals.cost_usd.toFixed(2)}; raw and rollup answers ${failures.length ? "DIFFER" : "agree"}.`,
  ];
  const markdown = lines.join("\n");
  console.log(markdown);
  if (values.out) writeFileSync(values.out, `${markdown}\n`);
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exitCode = 1;
  }
} catch (error) {
  console.error(error.message);
  if (gateway) console.error(gateway.output());
  process.exitCode = 1;
} finally {
  await gateway?.stop();
  if (!values.keep) rmSync(state, { recursive: true, force: true });
}

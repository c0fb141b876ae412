#!/usr/bin/env node
// Seeds the *local* D1 database (wrangler's miniflare state) with a synthetic ledger, for report
// benchmarks and the dashboard browser test. Rows are generated inside SQLite by one recursive CTE, so a
// million rows take seconds, and deterministically (a hash of the row number), so runs are comparable.
//
//   node scripts/seed-ledger.mjs [--rows 1000000] [--days 30] [--persist-to DIR] [--tenants a,b,c]
//                                [--extras] [--run-id ID]
//
// --extras also seeds tenants' budgets, a few dead letters and alerts (what the dashboard shows).
// Run it while no `wrangler dev` is using the same state directory.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DAY_MS = 86_400_000;
// Task shapes: prompt tokens (base + spread), completion tokens (base + spread), and the share of
// requests (out of 10) that go to the balanced and powerful tiers; the rest go to fast.
const TASKS = [
  { name: "summarize", pt: [1200, 2800], ct: [150, 350], balanced: 3, powerful: 1 },
  { name: "classify", pt: [150, 400], ct: [2, 20], balanced: 1, powerful: 0 },
  { name: "extract", pt: [600, 1400], ct: [80, 300], balanced: 3, powerful: 0 },
  { name: "chat", pt: [300, 1200], ct: [100, 600], balanced: 3, powerful: 1 },
  { name: "code-review", pt: [2000, 5000], ct: [300, 900], balanced: 4, powerful: 4 },
  { name: "translate", pt: [200, 700], ct: [200, 700], balanced: 2, powerful: 0 },
];
// Sim catalog prices (USD per million tokens in / out), as in src/config/model-catalog.ts.
const MODELS = {
  fast: [["sim/fast", "sim-a", 0.15, 0.6], ["sim-b/fast", "sim-b", 0.2, 0.8]],
  balanced: [["sim/balanced", "sim-a", 1, 4], ["sim-b/balanced", "sim-b", 1.25, 5]],
  powerful: [["sim/powerful", "sim-a", 5, 20], ["sim-b/powerful", "sim-b", 6, 24]],
};

const quote = (s) => `'${String(s).replaceAll("'", "''")}'`;

// Two rounds of a Lehmer generator modulo 2^31-1, with a different prime per salt: cheap in SQLite and,
// unlike one shared multiplier, no visible correlation between fields (tier vs model, cache vs task).
const PRIMES = [104729, 224737, 350377, 479909, 611953, 746773, 882377, 1020379, 1159523, 1299709];
const h = (salt) => `((((i + 1) * ${PRIMES[salt]} + ${salt * 7919}) % 2147483647) * 48271 % 2147483647)`;

export function tenantId(name) {
  return `ten_seed_${name.replace(/[^a-z0-9]/gi, "_")}`;
}

/** The SQL that inserts `rows` ledger rows spread evenly over [end - days, end). */
export function ledgerSql({ rows, days, end, tenants, runId }) {
  const start = end - days * DAY_MS;
  // Tenants get uneven shares of traffic (the first one the most), as real tenants do.
  const weights = tenants.map((_, k) => tenants.length - k);
  const total = weights.reduce((a, b) => a + b, 0);
  let cumulative = 0;
  const tenantCase = `CASE ${weights.map((w, k) => `WHEN ${h(1)} % ${total} < ${(cumulative += w)} THEN ${quote(tenantId(tenants[k]))}`).join(" ")} END`;
  const byTask = (pick) => `CASE tk ${TASKS.map((t, k) => `WHEN ${k} THEN ${pick(t)}`).join(" ")} END`;
  const modelCase = (field) =>
    `CASE tier ${Object.entries(MODELS).map(([tier, [a, b]]) => `WHEN '${tier}' THEN CASE WHEN pick < 8 THEN ${field(a)} ELSE ${field(b)} END`).join(" ")} END`;
  return `
INSERT INTO ledger (request_id, ts, tenant_id, key_id, endpoint, task, tier, model, provider, cache, prompt_tokens,
  completion_tokens, cost_usd, saved_usd, latency_ms, ttfb_ms, status, error_code, attempts, route_reason, escalated_from,
  degraded, stream, detail_json)
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${rows - 1}),
shaped AS (SELECT i, ${h(2)} % ${TASKS.length} AS tk, ${h(3)} % 10 AS tr FROM seq),
base AS (
  SELECT i,
         ${start} + (i * ${end - start}) / ${rows} AS ts,
         ${tenantCase} AS tenant_id,
         ${byTask((t) => quote(t.name))} AS task,
         CASE WHEN tr < ${byTask((t) => 10 - t.balanced - t.powerful)} THEN 'fast'
              WHEN tr < ${byTask((t) => 10 - t.powerful)} THEN 'balanced' ELSE 'powerful' END AS tier,
         ${h(4)} % 10 AS pick,
         CASE WHEN ${h(5)} % 100 < 18 THEN 'exact' WHEN ${h(5)} % 100 < 27 THEN 'semantic' WHEN ${h(5)} % 100 < 28 THEN 'stale'
              WHEN ${h(5)} % 100 < 30 THEN 'bypass' ELSE 'miss' END AS cache,
         ${byTask((t) => t.pt[0])} + ${h(6)} % ${byTask((t) => t.pt[1])} AS pt,
         ${byTask((t) => t.ct[0])} + ${h(7)} % ${byTask((t) => t.ct[1])} AS ct,
         ${h(8)} % 100 < 2 AS failed,
         ${h(9)} % 100 AS roll
    FROM shaped
),
priced AS (
  SELECT *, ${modelCase(([id]) => quote(id))} AS model, ${modelCase(([, p]) => quote(p))} AS provider,
         ${modelCase(([, , inp, out]) => `(pt * ${inp} + ct * ${out}) / 1000000.0`)} AS list_usd
    FROM base
)
SELECT ${quote(`seed-${runId}-`)} || i, ts, tenant_id, NULL, '/v1/chat/completions', task, tier, model, provider,
       CASE WHEN failed THEN 'bypass' ELSE cache END,
       CASE WHEN failed THEN 0 ELSE pt END,
       CASE WHEN failed THEN 0 ELSE ct END,
       CASE WHEN failed OR cache IN ('exact', 'semantic', 'stale') THEN 0 ELSE list_usd END,
       CASE WHEN NOT failed AND cache IN ('exact', 'semantic', 'stale') THEN list_usd ELSE 0 END,
       CASE WHEN cache IN ('exact', 'semantic', 'stale') THEN 3 + roll % 20
            ELSE CASE tier WHEN 'fast' THEN 250 WHEN 'balanced' THEN 700 ELSE 1600 END + roll * 13 END,
       NULL,
       CASE WHEN failed THEN 502 ELSE 200 END,
       CASE WHEN failed THEN 'upstream_error' ELSE NULL END,
       CASE WHEN failed THEN 2 ELSE 1 END,
       'seed',
       CASE WHEN tier != 'fast' AND roll < 5 AND NOT failed THEN CASE tier WHEN 'balanced' THEN 'fast' ELSE 'balanced' END END,
       NULL, 0, NULL
  FROM priced;`;
}

/** Budgets for the seeded tenants, plus dead letters and alerts so the dashboard's panels have rows. */
export function extrasSql({ tenants, end }) {
  const stmts = [];
  tenants.forEach((name, k) => {
    const id = tenantId(name);
    stmts.push(`INSERT OR IGNORE INTO tenants (id, name, policy_json, limits_json, created_at) VALUES (${quote(id)}, ${quote(name)}, '{}', '{}', ${end - 40 * DAY_MS});`);
    stmts.push(`INSERT OR REPLACE INTO budgets (tenant_id, scope, period, limit_usd) VALUES (${quote(id)}, 'tenant', 'month', ${[40, 25, 60, 15][k % 4]});`);
    stmts.push(`INSERT OR REPLACE INTO budgets (tenant_id, scope, period, limit_usd) VALUES (${quote(id)}, 'tenant', 'day', ${[2, 1, 3, 0.5][k % 4]});`);
    for (let j = 0; j < 2; j++) {
      const at = end - (k * 3 + j + 1) * 3_600_000;
      stmts.push(`INSERT OR IGNORE INTO dead_letters (id, queue, tenant_id, body_json, reason, attempts, created_at) VALUES (${quote(`dl_seed_${k}_${j}`)}, 'tollgate-jobs-standard', ${quote(id)}, '{}', 'upstream_error after 3 attempts', 3, ${at});`);
    }
    stmts.push(`INSERT OR IGNORE INTO alerts (id, tenant_id, kind, scope, period, period_key, threshold, spent_usd, limit_usd, created_at, delivered_at) VALUES (${quote(`al_seed_${k}`)}, ${quote(id)}, 'threshold', 'tenant', 'month', ${quote(new Date(end).toISOString().slice(0, 7))}, 0.8, ${[32, 20, 48, 12][k % 4]}, ${[40, 25, 60, 15][k % 4]}, ${end - (k + 1) * 7_200_000}, ${end - (k + 1) * 7_100_000});`);
  });
  return stmts.join("\n");
}

function wrangler(args) {
  const bin = path.join(ROOT, "node_modules", ".bin", "wrangler");
  const result = spawnSync(bin, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" } });
  if (result.status !== 0) throw new Error(`wrangler ${args.slice(0, 3).join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

export function seedLedger({ rows = 1_000_000, days = 30, persistTo, tenants = ["acme", "globex", "initech", "umbrella", "hooli"], extras = false, runId = Date.now().toString(36), end = Date.now() } = {}) {
  const persist = persistTo ? ["--persist-to", persistTo] : [];
  wrangler(["d1", "migrations", "apply", "DB", "--local", ...persist]);
  const dir = mkdtempSync(path.join(tmpdir(), "tollgate-seed-"));
  try {
    const file = path.join(dir, "seed.sql");
    writeFileSync(file, [extras ? extrasSql({ tenants, end }) : "", rows > 0 ? ledgerSql({ rows, days, end, tenants, runId }) : ""].join("\n"));
    const started = Date.now();
    wrangler(["d1", "execute", "DB", "--local", ...persist, "--file", file]);
    return { rows, days, seconds: (Date.now() - started) / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      rows: { type: "string", default: "1000000" },
      days: { type: "string", default: "30" },
      "persist-to": { type: "string" },
      tenants: { type: "string" },
      extras: { type: "boolean", default: false },
      "run-id": { type: "string" },
    },
  });
  if (!existsSync(path.join(ROOT, "node_modules", ".bin", "wrangler"))) throw new Error("run npm install first");
  const result = seedLedger({
    rows: Number(values.rows),
    days: Number(values.days),
    persistTo: values["persist-to"],
    tenants: values.tenants?.split(",").map((t) => t.trim()).filter(Boolean),
    extras: values.extras,
    runId: values["run-id"],
  });
  console.log(`seeded ${result.rows} ledger rows over ${result.days} days in ${result.seconds.toFixed(1)} s`);
}

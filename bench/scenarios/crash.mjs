// Issue 11, acceptance 2: nothing accepted is lost, and recovery takes seconds, not hours.
// Boots its own gateway on a persisted state directory, runs mixed load (chat calls, jobs on every lane,
// a 100-item batch released by the tenant's off-peak window, three-step workflow runs), SIGKILLs the whole
// runtime (wrangler and workerd, one process group) mid-load, restarts it on the same state, fires the
// crons at wall-clock minute boundaries as a real cron would, and measures:
// - requests acknowledged (a 2xx the client read to the end) against ledger rows for them;
// - the time from the restart until every accepted job, batch item and workflow run is terminal;
// - budget spend against the ledger's sum, after a reconciliation run.
// Writes bench/results/crash-<date>.{md,json}. Locally queued messages live in memory: a kill loses them.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../gateway.mjs";
import { localDate, RESULTS_DIR } from "../report-writer.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const NODE = existsSync(join(ROOT, "node_modules", ".bin", "node")) ? join(ROOT, "node_modules", ".bin", "node") : process.execPath;
const CHILD_ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" };
const ADMIN = "crash-admin";
const LOAD = { chat: 400, jobs: 300, batchItems: 100, workflowRuns: 10 };
const KILL_AFTER_MS = Number(process.env.CRASH_KILL_AFTER_MS ?? 5_000);
const RECOVERY_LIMIT_MS = 6 * 60_000;
const GOAL_MS = 120_000;
const TERMINAL = new Set(["succeeded", "failed", "dead", "cancelled", "timed_out"]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function wrangler(args, stateDir) {
  const out = spawnSync(NODE, [WRANGLER, ...args, "--local", "--persist-to", stateDir], { cwd: ROOT, env: CHILD_ENV, encoding: "utf8", maxBuffer: 64 << 20 });
  if (out.status !== 0) throw new Error(`wrangler ${args.slice(0, 3).join(" ")}: ${out.stderr || out.stdout}`);
  return out.stdout;
}

/** Runs SQL on the stopped gateway's D1 (the same sqlite the runtime used). */
function sql(stateDir, command) {
  const out = wrangler(["d1", "execute", "DB", "--json", "--command", command], stateDir);
  return JSON.parse(out.slice(out.indexOf("[")))[0].results;
}

async function boot(stateDir, port, log) {
  const inspector = await freePort();
  const vars = { ADMIN_TOKEN: ADMIN, SIM_LATENCY_SCALE: "1", EMBEDDER_URL: "" };
  const args = ["dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(inspector), "--persist-to", stateDir, "--show-interactive-dev-session=false", ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`])];
  const child = spawn(NODE, [WRANGLER, ...args], { cwd: ROOT, env: CHILD_ENV, stdio: ["ignore", "ignore", "ignore"], detached: true });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
    if (ok) return child;
    await sleep(250);
  }
  throw new Error("gateway did not become healthy");
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stop(child) {
  killGroup(child, "SIGTERM");
  await sleep(3_000);
  killGroup(child, "SIGKILL");
}

function client(url, key) {
  return async (path, init = {}) => {
    const res = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(init.headers ?? {}) }, signal: AbortSignal.timeout(60_000) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
  };
}

/** Runs `n` tasks with `width` in flight; a task's failure (the kill) is recorded, not thrown. */
async function pool(n, width, task) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      await task(i).catch(() => undefined);
    }
  }));
}

const prompt = (kind, i) => ({ model: "sim/fast", max_tokens: 64, messages: [{ role: "user", content: `${kind} ${i} ${Math.random().toString(36).slice(2)}: explain toll roads briefly` }] });
const WORKFLOW = {
  deadline_s: 600,
  steps: [
    { name: "outline", prompt: "Outline {{input.topic}}", tier: "fast", timeout_s: 60 },
    { name: "draft", prompt: "Draft from: {{steps.outline.output}}", tier: "fast", depends_on: ["outline"], timeout_s: 60 },
    { name: "polish", prompt: "Polish: {{steps.draft.output}}", tier: "fast", depends_on: ["draft"], timeout_s: 60 },
  ],
};

async function load(api, acked, kill) {
  const chat = pool(LOAD.chat, 12, async (i) => {
    const stream = i % 4 === 0;
    const res = await api("/v1/chat/completions", { method: "POST", body: JSON.stringify({ ...prompt("chat", i), stream }) });
    if (res.status < 300 && (!stream || res.text.includes("[DONE]"))) acked.chat.push(res.headers.get("x-request-id"));
  });
  const lanes = ["interactive", "standard", "batch"];
  const jobs = pool(LOAD.jobs, 6, async (i) => {
    const res = await api("/v1/jobs", { method: "POST", body: JSON.stringify({ request: prompt("job", i), priority: lanes[i % 3] }) });
    if (res.status === 202) acked.jobs.push(res.json().id);
  });
  const batch = (async () => {
    const requests = Array.from({ length: LOAD.batchItems }, (_, i) => ({ custom_id: `item-${i}`, body: prompt("batch", i) }));
    const res = await api("/v1/batches", { method: "POST", body: JSON.stringify({ requests, completion_window: "24h", off_peak: true }) });
    if (res.status === 202) acked.batches.push(res.json().id);
  })().catch(() => undefined);
  const runs = pool(LOAD.workflowRuns, 2, async (i) => {
    const res = await api("/v1/workflows/crash3/runs", { method: "POST", body: JSON.stringify({ input: { topic: `canal ${i} ${Math.random()}` } }) });
    if (res.status === 202) acked.runs.push(res.json().id);
  });
  await Promise.race([Promise.all([chat, jobs, batch, runs]), kill]);
}

/** Fires a cron through the local runtime, as the platform would at that moment. */
const fire = (url, cron) => fetch(`${url}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(cron).replace(/%20/g, "+")}`).then((r) => r.status, () => 0);

async function pending(api, acked) {
  const open = [];
  const check = async (path, done, label) => {
    const res = await api(path).catch(() => null);
    if (!res || res.status !== 200 || !done(res.json())) open.push(label);
  };
  const checks = [
    ...acked.jobs.map((id) => () => check(`/v1/jobs/${id}`, (j) => TERMINAL.has(j.status), id)),
    ...acked.batches.map((id) => () => check(`/v1/batches/${id}`, (b) => (b.request_counts?.completed ?? 0) >= (b.request_counts?.total ?? LOAD.batchItems), id)),
    ...acked.runs.map((id) => () => check(`/v1/workflow-runs/${id}`, (r) => TERMINAL.has(r.status), id)),
  ];
  await pool(checks.length, 8, (i) => checks[i]());
  return open;
}

export default {
  name: "crash",
  description: "kill -9 the local runtime mid-load, restart it: ledger rows vs acks, spend vs ledger, time to recover",
  async run(ctx) {
    const log = ctx.log;
    const stateDir = join(".wrangler", `crash-state-${Date.now()}`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const failures = [];
    wrangler(["d1", "migrations", "apply", "DB"], stateDir);
    let child = await boot(stateDir, port, log);
    try {
      const hour = new Date().getUTCHours();
      const tenantRes = await fetch(`${url}/admin/tenants`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "crash", budgets: [{ scope: "tenant", period: "day", limit_usd: 1000 }], limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 }, policy: { off_peak: { start_hour: hour, end_hour: (hour + 2) % 24 } } }),
      }).then((r) => r.json());
      const key = await fetch(`${url}/admin/tenants/${tenantRes.id}/keys`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.json());
      const api = client(url, key.key);
      await api("/v1/workflows/crash3", { method: "PUT", body: JSON.stringify(WORKFLOW) });

      const acked = { chat: [], jobs: [], batches: [], runs: [] };
      const t0 = Date.now();
      const kill = sleep(KILL_AFTER_MS).then(() => {
        log(`SIGKILL to the runtime's process group after ${Date.now() - t0} ms`);
        killGroup(child, "SIGKILL");
      });
      await load(api, acked, kill);
      await kill;
      const killedAt = Date.now();
      log(`acknowledged before the kill: ${acked.chat.length} chat, ${acked.jobs.length} jobs, ${acked.batches.length} batch, ${acked.runs.length} workflow runs`);
      await sleep(1_000);
      child = await boot(stateDir, port, log);
      const restartedAt = Date.now();
      log(`restarted in ${((restartedAt - killedAt) / 1000).toFixed(1)} s; firing crons at minute boundaries`);

      let open = await pending(api, acked);
      const crons = [];
      let nextMinute = Math.ceil(Date.now() / 60_000) * 60_000;
      while (open.length && Date.now() - restartedAt < RECOVERY_LIMIT_MS) {
        if (Date.now() >= nextMinute) {
          const at = new Date(nextMinute);
          crons.push(`${at.toISOString().slice(11, 19)} * * * * *: ${await fire(url, "* * * * *")}`);
          if (at.getUTCMinutes() % 5 === 0) crons.push(`${at.toISOString().slice(11, 19)} */5: ${await fire(url, "*/5 * * * *")}`);
          nextMinute += 60_000;
        }
        await sleep(2_000);
        open = await pending(api, acked);
        log(`${open.length} accepted item(s) not terminal yet`);
      }
      const recoveredAt = Date.now();
      if (open.length) failures.push(`${open.length} accepted item(s) still not terminal ${RECOVERY_LIMIT_MS / 1000} s after the restart: ${open.slice(0, 5).join(", ")}`);
      const recoveryMs = recoveredAt - restartedAt;
      if (recoveryMs > GOAL_MS) failures.push(`recovery took ${(recoveryMs / 1000).toFixed(0)} s (goal ${GOAL_MS / 1000} s)`);

      // Let the ledger queue drain, then run the 5-minute cron (reconciliation) as it would next fire.
      await sleep(5_000);
      crons.push(`reconcile */5: ${await fire(url, "*/5 * * * *")}`);
      const admin = (path) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.json());
      const reconciliation = (await admin(`/admin/reconciliation?tenant_id=${tenantRes.id}`)).data?.[0] ?? null;
      const budget = (await api("/v1/budget")).json().data?.[0] ?? null;
      await stop(child);

      const inList = (ids) => ids.map((id) => `'${String(id).replace(/'/g, "")}'`).join(",") || "''";
      const chatRows = sql(stateDir, `SELECT COUNT(*) AS n FROM ledger WHERE request_id IN (${inList(acked.chat)})`)[0].n;
      const workRows = sql(stateDir, `SELECT COUNT(*) AS attempts, SUM(CASE WHEN l.request_id IS NULL THEN 1 ELSE 0 END) AS missing FROM work_attempts a LEFT JOIN ledger l ON l.request_id = a.request_id`)[0];
      const succeededJobs = sql(stateDir, `SELECT COUNT(*) AS n, SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM ledger l WHERE l.request_id = j.id || '.' || j.attempts) THEN 1 ELSE 0 END) AS missing FROM jobs j WHERE j.status = 'succeeded'`)[0];
      const succeededSteps = sql(stateDir, `SELECT COUNT(*) AS n, SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM ledger l WHERE l.request_id = s.run_id || '/' || s.name || '.' || s.attempts) THEN 1 ELSE 0 END) AS missing FROM workflow_steps s WHERE s.status = 'succeeded'`)[0];
      const jobStates = sql(stateDir, `SELECT CASE WHEN batch_id IS NULL THEN 'job' ELSE 'batch item' END AS kind, status, COUNT(*) AS n FROM jobs GROUP BY kind, status ORDER BY kind, status`);
      const runStates = sql(stateDir, `SELECT status, COUNT(*) AS n FROM workflow_runs GROUP BY status`);
      const ledger = sql(stateDir, `SELECT COUNT(*) AS n, COALESCE(SUM(cost_usd), 0) AS usd FROM ledger WHERE tenant_id = '${tenantRes.id}'`)[0];

      if (chatRows !== acked.chat.length) failures.push(`${acked.chat.length - chatRows} acknowledged chat request(s) have no ledger row`);
      if (workRows.missing) failures.push(`${workRows.missing} work attempt(s) have no ledger row`);
      if (succeededJobs.missing || succeededSteps.missing) failures.push(`${succeededJobs.missing + succeededSteps.missing} succeeded job(s)/step(s) have no ledger row`);
      const difference = reconciliation?.budgets?.[0]?.difference_usd ?? null;
      if (difference !== 0) failures.push(`budget spend and ledger differ by $${difference?.toFixed(9)} after reconciliation`);
      const result = {
        load: LOAD, killAfterMs: KILL_AFTER_MS, acked: { chat: acked.chat.length, jobs: acked.jobs.length, batches: acked.batches.length, runs: acked.runs.length },
        chatRows, workRows, succeededJobs, succeededSteps, jobStates, runStates, ledger, budget, reconciliation, crons,
        restartS: (restartedAt - killedAt) / 1000, recoveryS: recoveryMs / 1000, sinceKillS: (recoveredAt - killedAt) / 1000, failures,
      };
      await mkdir(RESULTS_DIR, { recursive: true });
      const base = join(RESULTS_DIR, `crash-${localDate(new Date())}`);
      await writeFile(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
      await writeFile(`${base}.md`, `# Crash test, ${new Date().toISOString().slice(0, 16)}Z\n\n${this.toMarkdown(result)}\n`);
      log(`wrote ${base}.md`);
      return result;
    } finally {
      killGroup(child, "SIGKILL");
      await rm(join(ROOT, stateDir), { recursive: true, force: true });
    }
  },
  toMarkdown(r) {
    const b = r.reconciliation?.budgets?.[0];
    const rows = [
      ["load sent", `${r.load.chat} chat calls, ${r.load.jobs} jobs (3 lanes), 1 batch of ${r.load.batchItems}, ${r.load.workflowRuns} three-step workflow runs`],
      ["killed (SIGKILL, process group)", `${r.killAfterMs} ms into the load; restart took ${r.restartS.toFixed(1)} s`],
      ["acknowledged", `${r.acked.chat} chat, ${r.acked.jobs} jobs, ${r.acked.batches} batch, ${r.acked.runs} workflow runs`],
      ["acknowledged chat with a ledger row", `${r.chatRows} of ${r.acked.chat}`],
      ["work attempts with a ledger row", `${r.workRows.attempts - (r.workRows.missing ?? 0)} of ${r.workRows.attempts}`],
      ["succeeded jobs / steps without a ledger row", `${r.succeededJobs.missing ?? 0} of ${r.succeededJobs.n} / ${r.succeededSteps.missing ?? 0} of ${r.succeededSteps.n}`],
      ["every accepted job, batch item and run terminal", `${r.recoveryS.toFixed(1)} s after the restart (${r.sinceKillS.toFixed(1)} s after the kill); goal ≤ 120 s`],
      ["budget spend vs ledger sum (after reconciliation)", b ? `$${b.spent_usd.toFixed(6)} vs $${b.ledger_usd.toFixed(6)}: difference $${b.difference_usd.toFixed(9)}, repaired ${b.repaired_count} ($${b.repaired_usd.toFixed(6)}), unexplained $${b.unexplained_usd.toFixed(9)}` : "no reconciliation row"],
      ["ledger (tenant)", `${r.ledger.n} rows, $${Number(r.ledger.usd).toFixed(6)}`],
    ];
    const states = r.jobStates.map((s) => `${s.kind} ${s.status}: ${s.n}`).join(", ") + "; runs " + r.runStates.map((s) => `${s.status}: ${s.n}`).join(", ");
    return [
      "| measure | result |", "| --- | --- |", ...rows.map(([k, v]) => `| ${k} | ${v} |`), "",
      `Final states: ${states}.`, "", `Crons fired after the restart: ${r.crons.join("; ")}.`, "",
      r.failures.length ? `**Not met:**\n${r.failures.map((f) => `- ${f}`).join("\n")}` : "All checks met.",
    ].join("\n");
  },
};

// Issue 8's soak: a mixed workload held for a while against one gateway, bounded in time and count.
// Several tenants send chat (streaming and not, cache hits and misses), Anthropic messages,
// embeddings and jobs, side by side. It reports throughput, latency percentiles, errors, workerd's
// RSS over time, and a ledger reconciliation: every model request that got an answer, plus every job
// attempt, must be exactly one ledger row (GET /v1/usage per tenant, after the ledger queue drained).
import { readdirSync, readFileSync } from "node:fs";
import { percentile } from "../load-driver.mjs";
import { startGateway } from "../gateway.mjs";
import { mulberry32 as rng } from "../seeded-random.mjs";

const TENANTS = 4;
const CONCURRENCY = 16;
const MAX_REQUESTS = 30_000;
const HOT_PROMPTS = 6; // per tenant: repeats of these are the exact-cache hits
const SAMPLE_MS = 1_000;
const JOB_DRAIN_MS = 120_000;
const LEDGER_DRAIN_MS = 90_000;
const TENANT_LIMITS = { limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 } };
// The mix, by weight. "hit" kinds reuse a tenant's hot prompts, so after their first use they are hits.
const MIX = [
  ["chat", 30], ["chat-stream", 15], ["chat-hit", 20], ["chat-stream-hit", 10], ["messages", 5], ["embeddings", 5], ["job", 15],
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (n, d = 1) => (n == null || !Number.isFinite(n) ? null : Number(n.toFixed(d)));

// Deterministic mix (mulberry32), so two runs send the same sequence of kinds.

function pickKind(random) {
  const total = MIX.reduce((s, [, w]) => s + w, 0);
  let x = random() * total;
  for (const [kind, w] of MIX) if ((x -= w) < 0) return kind;
  return MIX[0][0];
}

/**
 * The workerd processes under wrangler (Linux /proc; empty elsewhere). wrangler dev runs two: its
 * proxy in front (the public port) and the runtime of the Worker itself (the one with an inspector).
 */
function workerdProcesses(rootPid) {
  const children = new Map();
  let entries = [];
  try {
    entries = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(pid));
    } catch {
      // The process ended while we looked.
    }
  }
  const found = [];
  const stack = [rootPid];
  while (stack.length) {
    for (const pid of children.get(stack.pop()) ?? []) {
      stack.push(pid);
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (/workerd\0serve/.test(cmd)) found.push({ pid, role: cmd.includes("--inspector-addr") ? "worker" : "proxy" });
      } catch {
        // Gone.
      }
    }
  }
  return found;
}

function rssMiB(pid) {
  try {
    return round(Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) / 1024, 0);
  } catch {
    return null;
  }
}

const memorySample = (processes, s) => ({ s, ...Object.fromEntries(processes.map((p) => [p.role, rssMiB(p.pid)])) });

function requestFor(kind, tenant, n) {
  const unique = `soak ${tenant.name} request ${n}: summarise toll road pricing, variant ${Date.now()}`;
  const hot = `soak ${tenant.name} hot question ${n % HOT_PROMPTS}: what are the opening hours of the service desk?`;
  const chat = (content, stream) => ({
    path: "/v1/chat/completions",
    body: { model: n % 3 === 0 ? "sim/balanced" : "sim/fast", max_tokens: 32, temperature: 0, messages: [{ role: "user", content }], ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) },
  });
  switch (kind) {
    case "chat": return chat(unique, false);
    case "chat-stream": return chat(unique, true);
    case "chat-hit": return chat(hot, false);
    case "chat-stream-hit": return chat(hot, true);
    case "messages": return { path: "/v1/messages", body: { model: "sim/fast", max_tokens: 32, messages: [{ role: "user", content: unique }] } };
    case "embeddings": return { path: "/v1/embeddings", body: { model: "sim/embed", input: n % 2 ? hot : unique } };
    default: return { path: "/v1/jobs", body: { request: { model: "sim/fast", max_tokens: 32, messages: [{ role: "user", content: unique }] }, priority: "interactive" } };
  }
}

async function send(url, tenant, req) {
  const t0 = performance.now();
  try {
    const res = await fetch(`${url}${req.path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` },
      body: JSON.stringify(req.body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, ms: performance.now() - t0, cache: res.headers.get("x-tollgate-cache"), text };
  } catch (err) {
    return { status: 0, ms: performance.now() - t0, error: err?.cause?.code ?? err?.name ?? String(err) };
  }
}

async function getJson(url, key, path) {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(15_000) });
  if (!res.ok) throw new Error(`GET ${path} -> HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

async function drainJobs(url, tenants, jobs, log) {
  const deadline = Date.now() + JOB_DRAIN_MS;
  const open = new Map(jobs.map((j) => [j.id, j]));
  const done = [];
  while (open.size && Date.now() < deadline) {
    for (const job of [...open.values()].slice(0, 200)) {
      const view = await getJson(url, tenants[job.tenant].key, `/v1/jobs/${job.id}`);
      if (["succeeded", "failed", "dead", "cancelled"].includes(view.status)) {
        open.delete(job.id);
        done.push({ ...job, status: view.status, attempts: view.attempts, ms: view.finished_at - view.created_at });
      }
    }
    if (open.size) await sleep(250);
  }
  log(`soak: ${done.length}/${jobs.length} jobs terminal`);
  return { done, stuck: [...open.keys()] };
}

/** Ledger rows per tenant, once the count stops moving or matches what was sent. */
async function ledgerCounts(url, tenants, expected) {
  const deadline = Date.now() + LEDGER_DRAIN_MS;
  let counts = [];
  for (;;) {
    counts = await Promise.all(tenants.map(async (t) => (await getJson(url, t.key, "/v1/usage?group_by=task")).data.reduce((s, row) => s + row.requests, 0)));
    if (counts.every((c, i) => c === expected[i]) || Date.now() > deadline) return counts;
    await sleep(1_000);
  }
}

export default {
  name: "soak",
  description: "Mixed load (chat ± stream, cache hits and misses, messages, embeddings, jobs; 4 tenants): req/s, p50/p99/p99.9, errors, workerd RSS over time, ledger rows = requests sent.",

  async run(ctx) {
    if (ctx.options.directOnly) return { skipped: "needs the gateway", failures: [] };
    const seconds = Math.max(20, ctx.options.duration * 6);
    const mock = await ctx.mock();
    // Its own gateway: a clean ledger to reconcile, and memory that only this workload grew.
    // No embedder runs in the bench, so the semantic stage is off rather than failing on every miss.
    const gateway = await startGateway({ upstreamUrl: mock.url, vars: { EMBEDDER_URL: "" }, log: ctx.log });
    const onSignal = () => void gateway.stop();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const failures = [];
    try {
      const tenants = [];
      for (let i = 0; i < TENANTS; i++) tenants.push({ name: `soak-${i}`, ...(await gateway.createTenantKey(`soak-${i}`, TENANT_LIMITS)) });
      const processes = workerdProcesses(gateway.pid);
      const memory = [memorySample(processes, 0)];
      ctx.log(`soak: ${seconds}s or ${MAX_REQUESTS} requests, ${CONCURRENCY} connections, ${TENANTS} tenants; workerd ${JSON.stringify(processes)}`);

      const random = rng(8);
      const results = [];
      const jobs = [];
      let n = 0;
      const started = performance.now();
      const endAt = started + seconds * 1000;
      const sampler = setInterval(() => memory.push(memorySample(processes, round((performance.now() - started) / 1000, 0))), SAMPLE_MS);
      const worker = async () => {
        while (performance.now() < endAt && n < MAX_REQUESTS) {
          const i = n++;
          const tenantIndex = i % TENANTS;
          const kind = pickKind(random);
          const r = await send(gateway.url, tenants[tenantIndex], requestFor(kind, tenants[tenantIndex], i));
          results.push({ kind, tenant: tenantIndex, status: r.status, ms: r.ms, cache: r.cache, error: r.error });
          if (kind === "job" && r.status === 202) jobs.push({ id: JSON.parse(r.text).id, tenant: tenantIndex });
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const loadS = (performance.now() - started) / 1000;
      ctx.log(`soak: ${results.length} requests in ${loadS.toFixed(1)} s; draining jobs and the ledger`);

      const { done, stuck } = await drainJobs(gateway.url, tenants, jobs, ctx.log);
      clearInterval(sampler);
      memory.push(memorySample(processes, round((performance.now() - started) / 1000, 0)));

      // Expected ledger rows: each answered model request (any status: errors are rows too), plus each job attempt.
      const modelAnswered = (t) => results.filter((r) => r.tenant === t && r.kind !== "job" && r.status !== 0).length;
      const attempts = (t) => done.filter((j) => j.tenant === t).reduce((s, j) => s + j.attempts, 0);
      const expected = tenants.map((_, t) => modelAnswered(t) + attempts(t));
      const recorded = await ledgerCounts(gateway.url, tenants, expected);
      const sent = expected.reduce((s, v) => s + v, 0);
      const rows = recorded.reduce((s, v) => s + v, 0);

      const latencies = results.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.ms).sort((a, b) => a - b);
      const errors = results.filter((r) => r.status === 0 || r.status >= 400);
      const byKind = Object.fromEntries(MIX.map(([kind]) => {
        const rs = results.filter((r) => r.kind === kind);
        const ms = rs.filter((r) => r.status < 300 && r.status > 0).map((r) => r.ms).sort((a, b) => a - b);
        const cache = {};
        for (const r of rs) if (r.cache) cache[r.cache] = (cache[r.cache] ?? 0) + 1;
        return [kind, { n: rs.length, p50: round(percentile(ms, 50)), p99: round(percentile(ms, 99)), cache }];
      }));
      const jobMs = done.filter((j) => j.status === "succeeded").map((j) => j.ms).sort((a, b) => a - b);
      const statuses = {};
      for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;

      if (sent !== rows) failures.push(`ledger: ${sent} requests and job attempts sent, ${rows} ledger rows recorded (per tenant sent ${expected.join("/")}, recorded ${recorded.join("/")})`);
      if (errors.length) failures.push(`${errors.length} request(s) failed: ${JSON.stringify(statuses)}`);
      if (stuck.length) failures.push(`${stuck.length} job(s) not terminal after ${JOB_DRAIN_MS / 1000}s: ${stuck.slice(0, 3).join(", ")}`);
      const notOk = done.filter((j) => j.status !== "succeeded");
      if (notOk.length) failures.push(`${notOk.length} job(s) did not succeed: ${notOk.slice(0, 3).map((j) => `${j.id} ${j.status}`).join(", ")}`);

      const ok2xx = results.filter((r) => r.status >= 200 && r.status < 300).length;
      return {
        config: { seconds, maxRequests: MAX_REQUESTS, concurrency: CONCURRENCY, tenants: TENANTS, mix: Object.fromEntries(MIX), simLatencyScale: 0 },
        requests: results.length,
        loadSeconds: round(loadS, 1),
        // As in overhead: successful answers per second; errors are not throughput (they are shown apart).
        reqPerSec: round(ok2xx / loadS, 1),
        non2xx: results.length - ok2xx,
        latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), p999: round(percentile(latencies, 99.9)), max: round(latencies.at(-1)) },
        statuses,
        errors: errors.length,
        errorSamples: errors.slice(0, 5).map((e) => `${e.kind} ${e.status} ${e.error ?? ""}`),
        byKind,
        jobs: { submitted: jobs.length, succeeded: done.filter((j) => j.status === "succeeded").length, attempts: done.reduce((s, j) => s + j.attempts, 0), p50: round(percentile(jobMs, 50), 0), p99: round(percentile(jobMs, 99), 0) },
        ledger: { sent, recorded: rows, perTenant: tenants.map((t, i) => ({ tenant: t.tenantId, sent: expected[i], recorded: recorded[i] })) },
        memory: { processes, samples: memory },
        failures,
      };
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await gateway.stop();
    }
  },

  toMarkdown(r) {
    if (r.skipped) return `Skipped: ${r.skipped}.`;
    const mem = r.memory.samples;
    // Ten evenly spaced samples keep the table short; the JSON has every one.
    const shown = mem.filter((_, i) => i % Math.max(1, Math.ceil(mem.length / 10)) === 0 || i === mem.length - 1);
    const lines = [
      `${r.requests} requests in ${r.loadSeconds} s from ${r.config.concurrency} connections over ${r.config.tenants} tenants (SIM_LATENCY_SCALE=0), mix ${JSON.stringify(r.config.mix)}.`,
      "",
      "| req/s (2xx) | non-2xx | p50 ms | p99 ms | p99.9 ms | max ms | errors | statuses |",
      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
      `| ${r.reqPerSec} | ${r.non2xx ?? "n/a"} | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ${r.latencyMs.p999} | ${r.latencyMs.max} | ${r.errors} | ${JSON.stringify(r.statuses)} |`,
      "",
      "| kind | n | p50 ms | p99 ms | x-tollgate-cache |",
      "| --- | ---: | ---: | ---: | --- |",
      ...Object.entries(r.byKind).map(([k, v]) => `| ${k} | ${v.n} | ${v.p50} | ${v.p99} | ${JSON.stringify(v.cache)} |`),
      "",
      `Jobs: ${r.jobs.submitted} submitted, ${r.jobs.succeeded} succeeded, ${r.jobs.attempts} attempts; submit→finish p50 ${r.jobs.p50} ms, p99 ${r.jobs.p99} ms.`,
      "",
      `**Ledger reconciliation:** ${r.ledger.sent} sent (answered model requests + job attempts) vs **${r.ledger.recorded}** ledger rows` +
        ` (${r.ledger.perTenant.map((t) => `${t.sent}/${t.recorded}`).join(", ")} per tenant).`,
      "",
      "workerd RSS in MiB over time (`worker`: the Worker's runtime; `proxy`: wrangler's dev proxy in front of it):",
      "",
      `| s | ${shown.map((m) => m.s).join(" | ")} |`,
      `| --- | ${shown.map(() => "---:").join(" | ")} |`,
      ...["worker", "proxy"].map((role) => `| ${role} | ${shown.map((m) => m[role] ?? "n/a").join(" | ")} |`),
    ];
    for (const f of r.failures ?? []) lines.push("", `**Failure:** ${f}`);
    return lines.join("\n");
  },
};

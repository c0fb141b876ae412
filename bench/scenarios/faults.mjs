// The fault drill: what a client sees while providers fail, including failures no fallback can hide.
// Four situations, each from a healthy fleet (breakers reset before it: the reset is the drill's setup):
//   one-down    sim-a fails 50% of calls; sim-b is healthy       goal: >= 99.9% of requests sent succeed
//   both-down   sim-a and sim-b both fail 50% (correlated)        goal: every request ends cleanly (200/502/503/504)
//   slow        sim-a is 10x slower than usual; 1 s attempts     goal: every request ends cleanly
//   recovers    sim-a fails every call until its breaker opens, then heals: requests sent until it opened,
//               and how long until sim-a answers again and its breaker closes
// In the first three, every worker alternates a reference request (no fault header) with a drill request,
// so machine noise hits both alike. They share the breakers, as two clients of one gateway do: an open
// breaker sends the reference requests to sim-b too. Latency is over every response, whatever its
// status (a fast 503 is still what the user waited for); 2xx-only latency is shown beside it.
// The scenario boots its own gateway with SIM_LATENCY_SCALE=1, so "slow" means something.
import { startGateway } from "../gateway.mjs";
import { percentile } from "../load-driver.mjs";

const CONCURRENCY = 16;
// At SIM_LATENCY_SCALE=1 a healthy fast answer takes ~0.2 s and a slow one (10x) ~2 s: an attempt
// timeout of 1 s cuts the slow provider off while leaving room for a busy machine.
const SIM_SCALE = "1";
const ATTEMPT_MS = 1_000;
const CLEAN = new Set([200, 502, 503, 504]);
const TENANT = {
  limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 },
  // Only the two sim providers: "both down" then leaves no healthy model to fall back to.
  policy: { allowed_models: ["sim/fast", "sim-b/fast"], timeouts: { attempt_ms: ATTEMPT_MS, first_token_ms: ATTEMPT_MS, idle_ms: ATTEMPT_MS } },
};
const DRILLS = [
  { name: "one-down", fault: "500@0.5;provider=sim-a", goal: "success" },
  { name: "both-down", fault: "500@0.5", goal: "clean" },
  { name: "slow", fault: "slow;provider=sim-a", goal: "clean" },
];
const RECOVERY_FAULT = "500;provider=sim-a";

const round = (n) => (n == null ? null : Number(n.toFixed(1)));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function summarise(records) {
  const statuses = {};
  const providers = {};
  for (const r of records) {
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (r.provider) providers[r.provider] = (providers[r.provider] ?? 0) + 1;
  }
  const all = records.map((r) => r.ms).sort((a, b) => a - b);
  const ok = records.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.ms).sort((a, b) => a - b);
  return {
    sent: records.length,
    ok: ok.length,
    successRate: records.length ? ok.length / records.length : null,
    statuses,
    providers,
    p50: round(percentile(all, 50)),
    p99: round(percentile(all, 99)),
    okP50: round(percentile(ok, 50)),
    okP99: round(percentile(ok, 99)),
  };
}

function client(url, key) {
  let n = 0;
  return async (fault) => {
    // A distinct prompt per request: nothing may be answered from cache.
    const body = JSON.stringify({ model: "sim/fast", max_tokens: 24, messages: [{ role: "user", content: `fault drill ${++n} ${Date.now()}` }] });
    const headers = { "content-type": "application/json", authorization: `Bearer ${key}`, "x-tollgate-cache": "no-store", ...(fault ? { "x-tollgate-sim-fault": fault } : {}) };
    const t0 = performance.now();
    try {
      const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(30_000) });
      await res.arrayBuffer();
      return { status: res.status, provider: res.headers.get("x-tollgate-provider"), ms: performance.now() - t0 };
    } catch {
      return { status: 0, provider: null, ms: performance.now() - t0 };
    }
  };
}

/** `pairs` (reference, drill) pairs from CONCURRENCY workers, each alternating the two. */
async function interleaved(send, fault, pairs) {
  const reference = [];
  const drill = [];
  let next = 0;
  const worker = async (w) => {
    while (next < pairs) {
      next++;
      // Half the workers start with the drill request, so neither kind always goes first.
      const order = w % 2 === 0 ? [null, fault] : [fault, null];
      for (const f of order) (f ? drill : reference).push(await send(f));
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  return { seconds: round((performance.now() - started) / 1000), reference: summarise(reference), drill: summarise(drill) };
}

async function breaker(gateway, key) {
  const res = await fetch(`${gateway.url}/admin/breakers`, { headers: { authorization: `Bearer ${gateway.adminToken}` } }).then((r) => r.json());
  return res.data.find((b) => b.key === key)?.state ?? "unknown";
}

/** sim-a fails every call until its breaker opens; then the fault stops, and we wait for it to heal. */
async function recovery(gateway, send) {
  const records = [];
  let sent = 0;
  let faulty = true;
  const t0 = performance.now();
  const marks = { openedAfterSent: null, openedMs: null, firstSimAAfterHealMs: null, closedAfterHealMs: null };
  let healedAt = null;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const fault = faulty ? RECOVERY_FAULT : null;
      // Counted when sent, not when answered: "requests until the breaker opened" is what went out.
      if (faulty) sent++;
      const r = await send(fault);
      records.push(r);
      if (healedAt !== null && r.provider === "sim-a" && marks.firstSimAAfterHealMs === null) marks.firstSimAAfterHealMs = round(performance.now() - healedAt);
    }
  };
  const watch = (async () => {
    const bound = performance.now() + 60_000;
    while (performance.now() < bound) {
      const state = await breaker(gateway, "sim-a:fast");
      if (faulty && (state === "open" || state === "half_open")) {
        Object.assign(marks, { openedAfterSent: sent, openedMs: round(performance.now() - t0) });
        faulty = false;
        healedAt = performance.now();
      }
      if (!faulty && state === "closed" && marks.firstSimAAfterHealMs !== null) {
        marks.closedAfterHealMs = round(performance.now() - healedAt);
        break;
      }
      await sleep(25);
    }
    stop = true;
  })();
  await Promise.all([watch, ...Array.from({ length: CONCURRENCY }, worker)]);
  return { ...marks, seconds: round((performance.now() - t0) / 1000), all: summarise(records) };
}

export default {
  name: "faults",
  description: "Fault drill: one provider failing, both failing (correlated), a slow provider, and a provider that recovers; what the client sees.",

  async run(ctx) {
    if (ctx.options.directOnly) return { skipped: "needs the gateway", failures: [] };
    const mock = await ctx.mock();
    const gateway = await startGateway({ upstreamUrl: mock.url, vars: { SIM_LATENCY_SCALE: SIM_SCALE }, log: ctx.log });
    const onSignal = () => void gateway.stop();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const pairs = ctx.options.duration >= 10 ? 1_000 : Math.max(100, Math.round(ctx.options.duration * 100));
      const { key } = await gateway.createTenantKey("bench-faults", TENANT);
      const send = client(`${gateway.url}/v1/chat/completions`, key);
      const reset = () => fetch(`${gateway.url}/admin/breakers`, { method: "DELETE", headers: { authorization: `Bearer ${gateway.adminToken}` } });
      const drills = [];
      const failures = [];
      for (const d of DRILLS) {
        await reset();
        ctx.log(`faults: ${d.name}, ${pairs} reference + ${pairs} drill requests, x-tollgate-sim-fault: ${d.fault}`);
        const result = await interleaved(send, d.fault, pairs);
        drills.push({ ...d, ...result });
        const unclean = Object.entries(result.drill.statuses).filter(([s]) => !CLEAN.has(Number(s)));
        if (unclean.length) failures.push(`${d.name}: answers other than 200/502/503/504: ${JSON.stringify(Object.fromEntries(unclean))}`);
        if (result.reference.ok !== result.reference.sent && d.name !== "both-down") failures.push(`${d.name}: ${result.reference.sent - result.reference.ok} reference requests failed`);
        if (d.goal === "success" && result.drill.successRate < 0.999) failures.push(`${d.name}: success rate ${(result.drill.successRate * 100).toFixed(2)}% is below 99.9%`);
      }
      await reset();
      ctx.log("faults: recovers, sim-a fails until its breaker opens, then heals");
      const recovers = await recovery(gateway, send);
      if (recovers.openedAfterSent === null) failures.push("recovers: the breaker for sim-a:fast never opened");
      else if (recovers.closedAfterHealMs === null) failures.push("recovers: sim-a did not serve again and close its breaker within 60 s");
      return { concurrency: CONCURRENCY, pairs, simLatencyScale: Number(SIM_SCALE), attemptMs: ATTEMPT_MS, tenantPolicy: TENANT.policy, drills, recovers, failures };
    } finally {
      await gateway.stop();
    }
  },

  toMarkdown(r) {
    if (r.skipped) return `Skipped: ${r.skipped}.`;
    const pct = (x) => (x == null ? "n/a" : `${(x * 100).toFixed(2)}%`);
    const row = (label, s) => `| ${label} | ${s.sent} | ${pct(s.successRate)} | ${JSON.stringify(s.statuses)} | ${JSON.stringify(s.providers)} | ${s.p50} | ${s.p99} | ${s.okP50} | ${s.okP99} |`;
    const lines = [
      `Non-streaming \`sim/fast\` requests (chain: sim/fast → sim-b/fast, ${r.attemptMs} ms per attempt), cache bypassed, SIM_LATENCY_SCALE=${r.simLatencyScale}, ${r.concurrency} workers each alternating a reference request and a drill request (${r.pairs} of each per drill). Breakers reset before each drill. Latency over all responses; "2xx" columns over successes only.`,
      "",
      "| drill / requests | sent | success | statuses | served by | p50 ms | p99 ms | 2xx p50 | 2xx p99 |",
      "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ];
    for (const d of r.drills) {
      lines.push(row(`${d.name}: reference (no fault)`, d.reference));
      lines.push(row(`${d.name}: \`${d.fault}\``, d.drill));
    }
    const rec = r.recovers;
    lines.push(row(`recovers: all (\`${RECOVERY_FAULT}\` until open, then none)`, rec.all));
    lines.push(
      "",
      `- one-down success rate over requests sent: **${pct(r.drills.find((d) => d.name === "one-down")?.drill.successRate)}** (goal ≥ 99.9%)`,
      `- both-down (no healthy provider left): **${pct(r.drills.find((d) => d.name === "both-down")?.drill.successRate)}** of requests succeed; the rest are the statuses above`,
      `- recovers: the sim-a:fast breaker opened after **${rec.openedAfterSent ?? "n/a"} requests sent** with the fault (${rec.openedMs ?? "n/a"} ms); after the fault stopped, sim-a answered again after ${rec.firstSimAAfterHealMs ?? "n/a"} ms and its breaker closed after ${rec.closedAfterHealMs ?? "n/a"} ms (cooldown 10 s, then 3 probes)`,
    );
    return lines.join("\n");
  },
};

// Foundation scenario: what does putting Tollgate in the path cost? The same chat request goes to a
// plain passthrough Worker (bench/passthrough: a few lines of Hono, the reference) and through Tollgate
// on each of its paths, under the same `wrangler dev` and workerd, in front of the same zero-latency
// mock. Rounds are interleaved (every path once per round and concurrency), so drift on a shared
// machine hits every path alike. It also records what Tollgate ships and how long it takes to start.
import { measureBundle } from "../bundle-size.mjs";
import { runLoad } from "../load-driver.mjs";
import { groupCpu } from "../process-cpu.mjs";
import { PATHS, compareToPassthrough, goalChecks, summarise } from "./overhead-summary.mjs";
import { renderOverhead } from "./overhead-markdown.mjs";

const MODEL = "openai/gpt-4o-mini";
const request = (stream) =>
  JSON.stringify({
    model: MODEL,
    messages: [
      { role: "system", content: "You are a terse assistant." },
      { role: "user", content: "Reply with one short sentence about toll roads." },
    ],
    max_tokens: 32,
    temperature: 0,
    ...(stream ? { stream: true } : {}),
  });
const BODY = request(false);
const STREAM_BODY = request(true);
// Generous limits so the scenario measures the path, not the tenant's rate limiter.
const TENANT = { limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 } };
const MAX_NON2XX_SHARE = 0.01;
const PROFILE_REQUESTS = 40;

async function probe(url, headers, body) {
  const t0 = performance.now();
  const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  const ms = Number((performance.now() - t0).toFixed(1));
  if (res.status !== 200) throw new Error(`probe POST ${url} -> HTTP ${res.status}: ${text.slice(0, 400)}`);
  const pick = ["x-tollgate-cache", "x-tollgate-provider", "x-tollgate-model", "server-timing"];
  return { ms, headers: Object.fromEntries(pick.map((h) => [h, res.headers.get(h)]).filter(([, v]) => v != null)) };
}

// "auth;dur=1.2, admit;dur=0.3" -> { auth: 1.2, admit: 0.3 }
function serverTiming(header) {
  const stages = {};
  for (const part of (header ?? "").split(",")) {
    const [name, ...params] = part.trim().split(";");
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith("dur="));
    if (name && dur) stages[name] = (stages[name] ?? 0) + Number(dur.slice(4));
  }
  return stages;
}

// Sequential requests, one at a time on a warm gateway: the stage breakdown of each path.
async function profileStages(url, headers, body, n) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { method: "POST", headers, body });
    await res.arrayBuffer();
    samples.push({ status: res.status, clientMs: performance.now() - t0, stages: serverTiming(res.headers.get("server-timing")) });
  }
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.stages)))];
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? Number(s[Math.floor((s.length - 1) / 2)].toFixed(2)) : null;
  };
  const p90 = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? Number(s[Math.ceil(0.9 * s.length) - 1].toFixed(2)) : null;
  };
  return {
    n,
    statuses: samples.reduce((m, s) => ((m[s.status] = (m[s.status] ?? 0) + 1), m), {}),
    clientMs: { p50: median(samples.map((s) => s.clientMs)), p90: p90(samples.map((s) => s.clientMs)) },
    stages: names.map((name) => {
      const xs = samples.map((s) => s.stages[name]).filter((v) => v != null);
      return { name, n: xs.length, p50: median(xs), p90: p90(xs) };
    }),
  };
}

// Requests still in flight when the previous row stopped (up to its concurrency) reach the mock a
// moment later; counting starts once the mock's counters have stopped moving, so they are not charged
// to the next row.
async function settledStats(mock, field) {
  let last = (await mock.stats())[field];
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = (await mock.stats())[field];
    if (now === last) return now;
    last = now;
  }
  return last;
}

export default {
  name: "overhead",
  description:
    "Tollgate's paths (miss, exact hit, streaming miss) against a plain passthrough Worker on the same wrangler dev and mock: req/s, p50/p99, CPU per request, ratios; plus bundle size and cold start.",

  async run(ctx) {
    const { duration, warmup, connections, directOnly, rounds, baseline, vars } = ctx.options;
    const mock = await ctx.mock();
    const json = { "content-type": "application/json" };
    const targets = { direct: { url: `${mock.url}/v1/chat/completions`, headers: json, cpu: null } };
    const coldStart = {};
    const failures = [];
    const notes = [];
    let sampleHeaders = null;

    if (!directOnly) {
      // One after the other, so neither boot competes with the other for the CPU it is timed on.
      const passthrough = await ctx.passthrough();
      const gateway = await ctx.gateway();
      const { key } = await gateway.createTenantKey("bench-overhead", TENANT);
      const auth = { ...json, authorization: `Bearer ${key}` };
      const noStore = { ...auth, "x-tollgate-cache": "no-store" };
      const ptCpu = () => groupCpu(passthrough.pid);
      const gwCpu = () => groupCpu(gateway.pid);
      const pt = `${passthrough.url}/v1/chat/completions`;
      const gw = `${gateway.url}/v1/chat/completions`;
      Object.assign(targets, {
        passthrough: { url: pt, headers: auth, cpu: ptCpu },
        "passthrough-stream": { url: pt, headers: auth, body: STREAM_BODY, cpu: ptCpu },
        "passthrough-js-stream": { url: `${passthrough.url}/v1/js-stream`, headers: auth, body: STREAM_BODY, cpu: ptCpu },
        floor: { url: `${passthrough.url}/v1/floor`, headers: auth, cpu: ptCpu },
        "floor-logged": { url: `${passthrough.url}/v1/floor-logged`, headers: auth, cpu: ptCpu },
        miss: { url: gw, headers: noStore, cpu: gwCpu, upstream: "chat" },
        hit: { url: gw, headers: auth, cpu: gwCpu, upstream: "chat" },
        "miss-stream": { url: gw, headers: noStore, body: STREAM_BODY, cpu: gwCpu, upstream: "chatStream" },
      });
      // The first model request each Worker serves after start (admin calls came first on Tollgate).
      const firstPt = await probe(pt, auth, BODY);
      const firstMiss = await probe(gw, noStore, BODY);
      coldStart.passthrough = { ...passthrough.coldStart, firstChatMs: firstPt.ms };
      coldStart.tollgate = { ...gateway.coldStart, firstChatMs: firstMiss.ms, firstChatServerTiming: firstMiss.headers["server-timing"] ?? null };
      // A broken route fails here in a second with its error, not after a full row of 4xx.
      sampleHeaders = (await probe(gw, noStore, BODY)).headers;
      await probe(gw, noStore, STREAM_BODY);
      await probe(gw, auth, BODY); // fills the exact cache
      const hit = await probe(gw, auth, BODY);
      // API.md: an exact-cache answer says `x-tollgate-cache: exact`.
      if (hit.headers["x-tollgate-cache"] !== "exact") failures.push(`the hit path did not hit: x-tollgate-cache=${hit.headers["x-tollgate-cache"]}`);

      // --baseline DIR: the same paths on another checkout (say, the commit before a change), booted
      // after the others and measured in the same interleaved rounds, so before and after meet the
      // same machine load. Its rows are named baseline-*.
      if (baseline) {
        const base = await ctx.baseline();
        const { key: baseKey } = await base.createTenantKey("bench-overhead", TENANT);
        const baseAuth = { ...json, authorization: `Bearer ${baseKey}` };
        const baseNoStore = { ...baseAuth, "x-tollgate-cache": "no-store" };
        const bw = `${base.url}/v1/chat/completions`;
        const baseCpu = () => groupCpu(base.pid);
        Object.assign(targets, {
          "baseline-miss": { url: bw, headers: baseNoStore, cpu: baseCpu, upstream: "chat" },
          "baseline-hit": { url: bw, headers: baseAuth, cpu: baseCpu, upstream: "chat" },
          "baseline-miss-stream": { url: bw, headers: baseNoStore, body: STREAM_BODY, cpu: baseCpu, upstream: "chatStream" },
        });
        coldStart.baseline = { ...base.coldStart, firstChatMs: (await probe(bw, baseNoStore, BODY)).ms, root: baseline };
        await probe(bw, baseAuth, BODY); // fills its exact cache
        const baseHit = await probe(bw, baseAuth, BODY);
        if (baseHit.headers["x-tollgate-cache"] !== "exact") failures.push(`the baseline hit path did not hit: x-tollgate-cache=${baseHit.headers["x-tollgate-cache"]}`);
      }
    }

    const order = PATHS.filter((p) => targets[p]);
    const rows = [];
    for (let round = 1; round <= rounds; round++) {
      for (const c of connections) {
        for (const path of order) {
          const t = targets[path];
          ctx.log(`overhead: round ${round}/${rounds} ${path.padEnd(18)} c=${c} for ${duration}s`);
          const before = t.upstream ? await settledStats(mock, t.upstream) : 0;
          const row = await runLoad({ url: t.url, headers: t.headers, body: t.body ?? BODY, connections: c, duration, warmup, cpu: t.cpu ?? undefined });
          if (t.upstream) row.upstreamCalls = (await settledStats(mock, t.upstream)) - before;
          rows.push({ path, round, ...row });
        }
      }
    }

    for (const r of rows) {
      const bad = r.non2xx + r.errors;
      const label = `${r.path} c=${r.connections} round ${r.round}`;
      if (r.requests + r.errors === 0) failures.push(`${label}: no responses at all`);
      else if (bad / (r.requests + r.errors) > MAX_NON2XX_SHARE) {
        failures.push(`${label}: ${r.non2xx} non-2xx and ${r.errors} errors out of ${r.requests} (statuses ${JSON.stringify(r.statusCounts)})`);
      }
      // Warm-up requests also reach the upstream, so only a shortfall (not a surplus) means caching.
      if ((r.path === "miss" || r.path === "miss-stream" || r.path === "baseline-miss" || r.path === "baseline-miss-stream") && r.upstreamCalls < r.ok) notes.push(`${label}: ${r.ok} successes but only ${r.upstreamCalls} upstream calls; no-store may not be honoured`);
      if ((r.path === "hit" || r.path === "baseline-hit") && r.upstreamCalls > 0) notes.push(`${label}: ${r.upstreamCalls} upstream calls during a hit row`);
    }

    const summary = summarise(rows);
    const ratios = compareToPassthrough(summary);
    let profile = null;
    if (!directOnly) {
      ctx.log(`overhead: Server-Timing profile, ${PROFILE_REQUESTS} sequential requests per path`);
      profile = {};
      for (const path of ["miss", "hit", "miss-stream"]) {
        const t = targets[path];
        profile[path] = await profileStages(t.url, t.headers, t.body ?? BODY, PROFILE_REQUESTS);
      }
    }
    ctx.log("overhead: bundle size (wrangler deploy --dry-run --env production, its metafile) and startup (wrangler check startup)");
    let bundle;
    try {
      bundle = await measureBundle();
    } catch (err) {
      bundle = { error: err?.message ?? String(err) };
      failures.push(`bundle measurement failed: ${bundle.error.slice(0, 300)}`);
    }

    return {
      config: { duration, warmup, connections, rounds, model: MODEL, body: JSON.parse(BODY), order, directOnly: !!directOnly, baseline: baseline ?? null, vars: vars ?? {} },
      sampleHeaders,
      rows,
      summary,
      ratios,
      goals: goalChecks(summary, ratios),
      profile,
      coldStart,
      bundle,
      notes,
      failures,
    };
  },

  toMarkdown: renderOverhead,
};

// Replays a seeded FAQ trace (exact repeats and paraphrases, several tenants) through a gateway with the
// local USE-lite embedder, and scores what the cache did: hit rate by kind, wrong hits (an answer whose
// source question was a different intent), cross-tenant leaks, and dollars against no cache. The mock
// upstream's answer names a digest of its prompt, which is how a hit is traced back to its source.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startGateway } from "../gateway.mjs";
import { percentile } from "../load-driver.mjs";
import { generateTrace, INTENTS, SYSTEM_PROMPT } from "./cache-replay-corpus.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SEED = Number(process.env.BENCH_REPLAY_SEED ?? 20261121);
const REQUESTS = Number(process.env.BENCH_REPLAY_REQUESTS ?? 600);
const TENANTS = 3;
// A priced model, so "saved" is in dollars one can compare; the mock answers it for free.
const MODEL = "openai/gpt-4.1";
// The shipped default (candidate cosine from verifier-weights.ts, then the verifier), a looser
// candidate cut, and the cut of the old cosine-only default (0.99), each still verified. The old
// cosine-only behaviour itself is in bench/results/2026-11-21.md (same seed and trace).
const PASSES = [
  { name: "default (candidate cut + verifier)", policy: {} },
  { name: "candidate cut 0.80 + verifier", policy: { cache: { semantic_threshold: 0.8 } } },
  { name: "candidate cut 0.99 + verifier", policy: { cache: { semantic_threshold: 0.99 } } },
];
const TENANT_LIMITS = { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 };

const digest = (text) => createHash("sha256").update(text).digest("hex").slice(0, 8);
// The mock joins message contents with "\n" and hashes that: the same here maps an answer to its question.
const SOURCES = new Map(INTENTS.flatMap((intent) => intent.phrasings.map((q) => [digest(`${SYSTEM_PROMPT}\n${q}`), { intent: intent.id, question: q }])));

async function startEmbedder(log) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, "scripts", "embed-server.mjs"), "--port", String(port)], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`embedder exited (${child.exitCode}): ${stderr}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  log(`local embedder on ${url}`);
  return {
    url: `${url}/v1/embeddings`,
    stop: () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    },
  };
}

async function ask(url, key, question) {
  const started = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: MODEL, temperature: 0, max_tokens: 128, messages: [{ role: "system", content: SYSTEM_PROMPT }, { role: "user", content: question }] }),
  });
  const json = await res.json().catch(() => null);
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
  const answer = json?.choices?.[0]?.message?.content ?? "";
  return {
    ms,
    cache: res.headers.get("x-tollgate-cache"),
    semantic: res.headers.get("x-tollgate-semantic"),
    cost: Number(res.headers.get("x-tollgate-cost-usd")),
    saved: Number(res.headers.get("x-tollgate-saved-usd")),
    source: SOURCES.get(answer.match(/Mock answer ([0-9a-f]{8})/)?.[1] ?? ""),
  };
}

async function replay(gateway, pass, trace, log) {
  const keys = [];
  for (let t = 0; t < TENANTS; t++) keys.push((await gateway.createTenantKey(`replay-${pass.name}-${t}`, { limits: TENANT_LIMITS, policy: pass.policy })).key);
  const url = `${gateway.url}/v1/chat/completions`;
  const stored = Array.from({ length: TENANTS }, () => new Set());
  const asked = Array.from({ length: TENANTS }, () => new Set());
  const seenIntents = Array.from({ length: TENANTS }, () => new Set());
  const counts = { exact: 0, semantic: 0, miss: 0, other: 0, guarded: 0, unavailable: 0 };
  const wrong = [];
  const leaks = [];
  let costWithCache = 0;
  let saved = 0;
  let paraphraseChances = 0;
  let paraphraseHits = 0;
  const latency = { exact: [], semantic: [], miss: [] };
  for (const [i, r] of trace.entries()) {
    const out = await ask(url, keys[r.tenant], r.question);
    const kind = out.cache in latency ? out.cache : "other";
    counts[kind]++;
    if (out.semantic === "guarded") counts.guarded++;
    if (out.semantic === "unavailable") counts.unavailable++;
    latency[kind]?.push(out.ms);
    costWithCache += out.cost;
    saved += out.saved;
    // A paraphrase whose intent this tenant has asked before, in other words, never in these words.
    if (seenIntents[r.tenant].has(r.intent) && !asked[r.tenant].has(r.question)) {
      paraphraseChances++;
      if (kind === "semantic") paraphraseHits++;
    }
    if (kind === "exact" || kind === "semantic") {
      if (!out.source || out.source.intent !== r.intent) wrong.push({ asked: r.question, served: out.source?.question ?? "unknown", kind });
      if (out.source && !stored[r.tenant].has(out.source.question)) leaks.push({ tenant: r.tenant, asked: r.question, served: out.source.question });
    } else {
      stored[r.tenant].add(r.question);
    }
    seenIntents[r.tenant].add(r.intent);
    asked[r.tenant].add(r.question);
    if ((i + 1) % 200 === 0) log(`cache-replay (${pass.name}): ${i + 1}/${trace.length}`);
  }
  const hits = counts.exact + counts.semantic;
  const pct = (n, d) => (d ? Number(((100 * n) / d).toFixed(2)) : null);
  const p = (xs, q) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? Number(percentile(s, q).toFixed(2)) : null;
  };
  return {
    pass: pass.name,
    policy: pass.policy,
    requests: trace.length,
    counts,
    hitRatePct: { all: pct(hits, trace.length), exact: pct(counts.exact, trace.length), semantic: pct(counts.semantic, trace.length) },
    semanticRecallPct: pct(paraphraseHits, paraphraseChances),
    paraphraseChances,
    wrongHits: wrong.length,
    wrongHitRatePct: { ofHits: pct(wrong.length, hits), ofSemanticHits: pct(wrong.filter((w) => w.kind === "semantic").length, counts.semantic) },
    wrongExamples: wrong.slice(0, 5),
    crossTenantLeaks: leaks.length,
    usd: { noCache: costWithCache + saved, withCache: costWithCache, saved, savedPct: pct(saved, costWithCache + saved) },
    latencyMs: Object.fromEntries(Object.entries(latency).map(([k, xs]) => [k, { p50: p(xs, 50), p99: p(xs, 99) }])),
  };
}

export default {
  name: "cache-replay",
  description: `Seeded FAQ replay (${REQUESTS} requests, ${TENANTS} tenants, exact repeats and paraphrases) with the local embedder: hit rate by kind, wrong hits, dollars saved vs no cache.`,

  async run(ctx) {
    if (ctx.options.directOnly) return { skipped: "needs the gateway", passes: [], failures: [] };
    const mock = await ctx.mock();
    const embedder = await startEmbedder(ctx.log);
    let gateway;
    try {
      // Its own gateway: the shared one is not pointed at this embedder.
      gateway = await startGateway({ upstreamUrl: mock.url, vars: { EMBEDDER_URL: embedder.url }, bootTimeoutMs: 120_000, log: ctx.log });
      const trace = generateTrace({ seed: SEED, requests: REQUESTS, tenants: TENANTS });
      const passes = [];
      for (const pass of PASSES) passes.push(await replay(gateway, pass, trace, ctx.log));
      const failures = [];
      for (const p of passes) {
        if (p.crossTenantLeaks) failures.push(`${p.pass}: ${p.crossTenantLeaks} answers served from another tenant's entries`);
        if (p.counts.unavailable) failures.push(`${p.pass}: the embedder was unavailable for ${p.counts.unavailable} requests`);
      }
      return { seed: SEED, model: MODEL, tenants: TENANTS, intents: INTENTS.length, passes, failures };
    } finally {
      await gateway?.stop();
      embedder.stop();
    }
  },

  toMarkdown(result) {
    if (result.skipped) return `Skipped: ${result.skipped}.`;
    const f = (v, d = 2) => (v == null ? "n/a" : Number(v).toFixed(d));
    const lines = [
      `Seed ${result.seed}; ${result.passes[0]?.requests} requests over ${result.tenants} tenants and ${result.intents} FAQ intents (half exact repeats, half paraphrases; ` +
        `near-miss families such as France/Germany, car/truck, 2/5 vehicles); model \`${result.model}\` behind the mock upstream; local USE-lite embedder.`,
      "",
      "| pass | hit rate | exact | semantic | miss | guarded | semantic recall on paraphrases | wrong hits | wrong-hit rate (of hits) | leaks | $ no cache | $ with cache | $ saved |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...result.passes.map(
        (p) =>
          `| ${p.pass} | ${f(p.hitRatePct.all)}% | ${f(p.hitRatePct.exact)}% | ${f(p.hitRatePct.semantic)}% | ${p.counts.miss} | ${p.counts.guarded} | ${f(p.semanticRecallPct)}% of ${p.paraphraseChances} | ` +
          `${p.wrongHits} | ${f(p.wrongHitRatePct.ofHits)}% | ${p.crossTenantLeaks} | ${f(p.usd.noCache, 6)} | ${f(p.usd.withCache, 6)} | ${f(p.usd.saved, 6)} (${f(p.usd.savedPct, 1)}%) |`,
      ),
      "",
      "Latency by outcome (ms, sequential requests): " +
        result.passes.map((p) => `${p.pass}: ` + Object.entries(p.latencyMs).map(([k, v]) => `${k} p50 ${f(v.p50, 1)} / p99 ${f(v.p99, 1)}`).join(", ")).join("; "),
    ];
    for (const p of result.passes) for (const w of p.wrongExamples) lines.push("", `Wrong hit (${p.pass}, ${w.kind}): asked "${w.asked}", served the answer to "${w.served}"`);
    for (const x of result.failures ?? []) lines.push("", `**Failure:** ${x}`);
    return lines.join("\n");
  },
};

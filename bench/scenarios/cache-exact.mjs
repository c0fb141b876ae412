// Exact-cache hit path: one request is answered once by the mock upstream, then the identical request
// is replayed under load. Every answer should come from KV (x-tollgate-cache: exact), so the rows show
// what a hit costs end to end (auth, validation, routing, key hashing, one KV read, the ledger) with no
// upstream in the way, next to the same request with the cache bypassed.
import { runLoad } from "../load-driver.mjs";

const MODEL = "openai/gpt-4o-mini";
const BODY = JSON.stringify({
  model: MODEL,
  messages: [
    { role: "system", content: "You are the FAQ assistant of a toll-road operator." },
    { role: "user", content: "What are the opening hours of the customer service desk?" },
  ],
  max_tokens: 64,
  temperature: 0,
});
const TENANT = { limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 } };
const MAX_NON2XX_SHARE = 0.01;

// autocannon returns while the previous row's last requests may still be in the gateway on their way
// upstream; counting from a settled mock keeps them out of the next row's "upstream calls".
async function settledChatCalls(mock) {
  let last = (await mock.stats()).chat;
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = (await mock.stats()).chat;
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function post(url, headers) {
  const res = await fetch(url, { method: "POST", headers, body: BODY, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${url} -> HTTP ${res.status}: ${text.slice(0, 400)}`);
  return { cache: res.headers.get("x-tollgate-cache"), saved: Number(res.headers.get("x-tollgate-saved-usd")), timing: res.headers.get("server-timing") };
}

export default {
  name: "cache-exact",
  description: "Exact-cache hits under load: p50/p99 latency and req/s of an identical request served from KV, against the same request with the cache bypassed.",

  async run(ctx) {
    const { duration, warmup, connections, directOnly } = ctx.options;
    if (directOnly) return { skipped: "needs the gateway", rows: [], failures: [] };
    const mock = await ctx.mock();
    const gateway = await ctx.gateway();
    const { key } = await gateway.createTenantKey("bench-cache-exact", TENANT);
    const url = `${gateway.url}/v1/chat/completions`;
    const headers = { "content-type": "application/json", authorization: `Bearer ${key}` };
    const bypass = { ...headers, "x-tollgate-cache": "no-store" };

    const first = await post(url, headers);
    // The entry is written in waitUntil; give it a moment before insisting on a hit.
    let probe = await post(url, headers);
    for (let i = 0; i < 20 && probe.cache !== "exact"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      probe = await post(url, headers);
    }
    const failures = [];
    if (first.cache !== "miss") failures.push(`first request was "${first.cache}", expected "miss"`);
    if (probe.cache !== "exact") failures.push(`repeat request was "${probe.cache}", expected "exact"`);

    const rows = [];
    for (const c of connections) {
      for (const [target, h] of [["hit", headers], ["bypass", bypass]]) {
        const before = await settledChatCalls(mock);
        ctx.log(`cache-exact: ${target} c=${c} for ${duration}s`);
        const row = await runLoad({ url, headers: h, body: BODY, connections: c, duration, warmup });
        row.upstreamCalls = (await settledChatCalls(mock)) - before;
        rows.push({ target, ...row });
        const bad = row.non2xx + row.errors;
        if (row.requests + row.errors === 0) failures.push(`${target} c=${c}: no responses`);
        else if (bad / (row.requests + row.errors) > MAX_NON2XX_SHARE) failures.push(`${target} c=${c}: ${row.non2xx} non-2xx, ${row.errors} errors (${JSON.stringify(row.statusCounts)})`);
        if (target === "hit" && row.upstreamCalls > 0) {
          const why = gateway.outputTail().split("\n").filter((l) => /"cache":"miss"|"level":"(warn|error)"/.test(l)).slice(-3).join(" | ");
          failures.push(`hit c=${c}: ${row.upstreamCalls} upstream calls during a hit-only row${why ? ` (gateway log: ${why})` : ""}`);
        }
      }
    }
    const speedup = connections.map((c) => {
      const hit = rows.find((r) => r.target === "hit" && r.connections === c);
      const miss = rows.find((r) => r.target === "bypass" && r.connections === c);
      return { connections: c, p50Ratio: hit && miss && hit.latencyMs.p50 ? Number((miss.latencyMs.p50 / hit.latencyMs.p50).toFixed(2)) : null, rpsRatio: hit && miss && miss.reqPerSec ? Number((hit.reqPerSec / miss.reqPerSec).toFixed(2)) : null };
    });
    return { config: { model: MODEL, duration, warmup, connections }, sampleHitTiming: probe.timing, savedPerHitUsd: probe.saved, rows, speedup, failures };
  },

  toMarkdown(result) {
    if (result.skipped) return `Skipped: ${result.skipped}.`;
    const f = (v, d = 2) => (v == null ? "n/a" : Number(v).toFixed(d));
    const lines = [
      `Identical non-streaming \`POST /v1/chat/completions\` (\`${result.config.model}\`, temperature 0). **hit**: served from the exact cache; ` +
        `**bypass**: the same request with \`x-tollgate-cache: no-store\` through the zero-latency mock upstream. ${result.config.duration}s per row.`,
      "",
      "| path | concurrency | req/s | p50 ms | p99 ms | max ms | 2xx | non-2xx | upstream calls |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...result.rows.map((r) => `| ${r.target} | ${r.connections} | ${f(r.reqPerSec, 1)} | ${f(r.latencyMs.p50, 3)} | ${f(r.latencyMs.p99, 3)} | ${f(r.latencyMs.max, 1)} | ${r.ok} | ${r.non2xx} | ${r.upstreamCalls} |`),
      "",
      `Saved per hit: $${f(result.savedPerHitUsd, 8)}. Sample hit \`Server-Timing\`: \`${result.sampleHitTiming ?? "n/a"}\``,
      "",
      "Hit vs bypass: " + result.speedup.map((s) => `c=${s.connections}: p50 ×${f(s.p50Ratio)} faster, req/s ×${f(s.rpsRatio)}`).join("; "),
    ];
    for (const x of result.failures ?? []) lines.push("", `**Failure:** ${x}`);
    return lines.join("\n");
  },
};

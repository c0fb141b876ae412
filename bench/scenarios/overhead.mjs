// Foundation scenario: what does putting Tollgate in the path cost? The same chat request is sent
// straight to the mock upstream and through the gateway, at several concurrencies. The upstream answers
// at once, so any difference is the gateway's own work (auth, validation, admit, routing, proxying,
// recording) plus the local runtime it runs in.
import { runLoad } from "../load-driver.mjs";

const MODEL = "openai/gpt-4o-mini";
// Fixed body and headers for both targets: the only thing that varies between rows is the URL.
const BODY = JSON.stringify({
  model: MODEL,
  messages: [
    { role: "system", content: "You are a terse assistant." },
    { role: "user", content: "Reply with one short sentence about toll roads." },
  ],
  max_tokens: 32,
  temperature: 0,
});
// Generous limits so the scenario measures the path, not the tenant's rate limiter.
const TENANT = { limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 } };
const MAX_NON2XX_SHARE = 0.01;

const delta = (a, b) => (a == null || b == null ? null : Number((a - b).toFixed(3)));

async function probe(url, headers) {
  const res = await fetch(url, { method: "POST", headers, body: BODY, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`probe POST ${url} -> HTTP ${res.status}: ${text.slice(0, 400)}`);
  const pick = ["x-tollgate-cache", "x-tollgate-provider", "x-tollgate-model", "x-tollgate-tier", "server-timing"];
  return Object.fromEntries(pick.map((h) => [h, res.headers.get(h)]).filter(([, v]) => v != null));
}

export default {
  name: "overhead",
  description: "Latency and throughput added by Tollgate over a zero-latency upstream (non-streaming chat, cache bypassed).",

  async run(ctx) {
    const { duration, warmup, connections, directOnly } = ctx.options;
    const mock = await ctx.mock();
    const directUrl = `${mock.url}/v1/chat/completions`;

    let gateway = null;
    let key = "bench-key";
    let sampleHeaders = null;
    if (!directOnly) {
      gateway = await ctx.gateway();
      ({ key } = await gateway.createTenantKey("bench-overhead", TENANT));
    }
    const headers = {
      "content-type": "application/json",
      authorization: `Bearer ${key}`,
      "x-tollgate-cache": "no-store",
    };
    const gatewayUrl = gateway && `${gateway.url}/v1/chat/completions`;
    await probe(directUrl, headers);
    // One request first so a broken route fails in a second with its error, not after a full row of 4xx.
    if (gatewayUrl) {
      await probe(gatewayUrl, headers);
      // The second answer's headers show a warm path (isolate, KV and Durable Object already touched).
      sampleHeaders = await probe(gatewayUrl, headers);
    }

    const rows = [];
    const notes = [];
    const upstreamBefore = await mock.stats();
    let gatewayOk = 0;
    // Interleave targets per concurrency, so slow drift on a shared machine hits both sides alike.
    for (const c of connections) {
      ctx.log(`overhead: direct   c=${c} for ${duration}s`);
      rows.push({ target: "direct", ...(await runLoad({ url: directUrl, headers, body: BODY, connections: c, duration, warmup })) });
      if (!gatewayUrl) continue;
      // The direct row above also hit the mock; count only what arrived while the gateway was loaded.
      const before = (await mock.stats()).chat;
      ctx.log(`overhead: tollgate c=${c} for ${duration}s`);
      const row = await runLoad({ url: gatewayUrl, headers, body: BODY, connections: c, duration, warmup });
      row.upstreamCalls = (await mock.stats()).chat - before;
      rows.push({ target: "tollgate", ...row });
      gatewayOk += row.ok;
    }

    const overhead = connections
      .map((c) => {
        const d = rows.find((r) => r.target === "direct" && r.connections === c);
        const t = rows.find((r) => r.target === "tollgate" && r.connections === c);
        if (!d || !t) return null;
        return {
          connections: c,
          p50Ms: delta(t.latencyMs.p50, d.latencyMs.p50),
          p99Ms: delta(t.latencyMs.p99, d.latencyMs.p99),
          throughputRatio: d.reqPerSec ? Number((t.reqPerSec / d.reqPerSec).toFixed(3)) : null,
        };
      })
      .filter(Boolean);

    const failures = [];
    for (const r of rows) {
      const bad = r.non2xx + r.errors;
      if (r.requests + r.errors === 0) failures.push(`${r.target} c=${r.connections}: no responses at all`);
      else if (bad / (r.requests + r.errors) > MAX_NON2XX_SHARE) {
        failures.push(`${r.target} c=${r.connections}: ${r.non2xx} non-2xx and ${r.errors} errors out of ${r.requests} (statuses ${JSON.stringify(r.statusCounts)})`);
      }
      // Warm-up requests also reach the upstream, so only a shortfall (not a surplus) means caching.
      if (r.target === "tollgate" && r.upstreamCalls < r.ok) {
        notes.push(`tollgate c=${r.connections}: ${r.ok} successes but only ${r.upstreamCalls} upstream calls; no-store may not be honoured`);
      }
    }
    const upstreamAfter = await mock.stats();

    return {
      config: { duration, warmup, connections, model: MODEL, body: JSON.parse(BODY), cacheHeader: "no-store", directOnly: !!directOnly },
      sampleHeaders,
      rows,
      overhead,
      upstreamChatCalls: upstreamAfter.chat - upstreamBefore.chat,
      gatewayOk,
      notes,
      failures,
    };
  },

  toMarkdown(result) {
    const f = (v, d = 2) => (v == null ? "n/a" : Number(v).toFixed(d));
    const lines = [
      `Non-streaming \`POST /v1/chat/completions\` (\`${result.config.model}\`), \`x-tollgate-cache: no-store\`, ` +
        `${result.config.duration}s per row after ${result.config.warmup}s warm-up. Latency percentiles over 2xx responses only.`,
      "",
      "| target | concurrency | req/s | p50 ms | p99 ms | max ms | 2xx | non-2xx | errors |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...result.rows.map(
        (r) =>
          `| ${r.target} | ${r.connections} | ${f(r.reqPerSec, 1)} | ${f(r.latencyMs.p50, 3)} | ${f(r.latencyMs.p99, 3)} | ` +
          `${f(r.latencyMs.max, 1)} | ${r.ok} | ${r.non2xx} | ${r.errors} |`,
      ),
    ];
    if (result.overhead.length) {
      lines.push(
        "",
        "Overhead (Tollgate − direct):",
        "",
        "| concurrency | Δ p50 ms | Δ p99 ms | throughput Tollgate/direct |",
        "| ---: | ---: | ---: | ---: |",
        ...result.overhead.map((o) => `| ${o.connections} | ${f(o.p50Ms, 3)} | ${f(o.p99Ms, 3)} | ${f(o.throughputRatio, 3)} |`),
      );
    }
    if (result.sampleHeaders?.["server-timing"]) lines.push("", `Sample \`Server-Timing\` (one warm request, before the load): \`${result.sampleHeaders["server-timing"]}\``);
    for (const n of result.notes ?? []) lines.push("", `Note: ${n}`);
    for (const x of result.failures ?? []) lines.push("", `**Failure:** ${x}`);
    return lines.join("\n");
  },
};

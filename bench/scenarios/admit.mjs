// Issue 4's scenario: what does budget admission cost on the hot path, for one busy tenant? Every
// request makes one Durable Object round trip (admit) before the provider call; its duration comes
// from the response's Server-Timing. The same run measures how far the reservation (the worst-case
// estimate, x-tollgate-reserved-usd) is from the settled cost (x-tollgate-cost-usd) on the sim provider.
// Every fourth request makes sim-a fail, so it is served by sim-b, the dearer fallback: a reservation
// sized for the first model only would show up there as an under-estimate. Any non-200 is counted and
// fails the scenario (an error answer has no settled cost to compare, so it would silently shrink n).
import { percentile } from "../load-driver.mjs";

const CONCURRENCY = 16;
const TENANT = {
  limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 },
  budgets: [{ scope: "tenant", period: "day", limit_usd: 1_000_000 }],
};
const MODELS = ["sim/fast", "sim/balanced", "sim/powerful"];
const PROMPTS = [
  "Hi!",
  "Summarise the attached meeting notes in three bullet points for the operations team.",
  "Write a detailed migration plan for moving our billing system to event sourcing, with risks and rollback steps for each phase.",
];

const round = (n, d = 2) => (n == null || !Number.isFinite(n) ? null : Number(n.toFixed(d)));

function body(i) {
  const withCap = i % 2 === 0;
  return {
    withCap,
    fault: i % 4 === 3 ? "500;provider=sim-a" : null,
    model: MODELS[i % MODELS.length],
    json: JSON.stringify({
      model: MODELS[i % MODELS.length],
      messages: [{ role: "user", content: `${PROMPTS[i % PROMPTS.length]} (#${i})` }],
      ...(withCap ? { max_tokens: [32, 128, 512][i % 3] } : {}),
    }),
  };
}

export default {
  name: "admit",
  description: "Budget admission on the hot path for one hot tenant: admit p50/p99, req/s, and the reservation's error against settled cost.",

  async run(ctx) {
    const gateway = await ctx.gateway();
    const { key } = await gateway.createTenantKey("bench-admit", TENANT);
    const url = `${gateway.url}/v1/chat/completions`;
    const headers = { "content-type": "application/json", authorization: `Bearer ${key}`, "x-tollgate-cache": "no-store" };
    const durationMs = ctx.options.duration * 1000;
    const admit = [];
    const errors = { capped: [], uncapped: [], fallback: [] };
    const statuses = {};
    let sent = 0;
    let n = 0;
    const until = performance.now() + durationMs;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < until) {
          const { json, withCap, fault, model } = body(n++);
          sent++;
          let res;
          try {
            res = await fetch(url, { method: "POST", headers: fault ? { ...headers, "x-tollgate-sim-fault": fault } : headers, body: json, signal: AbortSignal.timeout(30_000) });
            await res.arrayBuffer();
          } catch {
            statuses[0] = (statuses[0] ?? 0) + 1;
            continue;
          }
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status !== 200) continue;
          const timing = res.headers.get("server-timing") ?? "";
          const dur = Number(timing.match(/(?:^|,)\s*admit;dur=([\d.]+)/)?.[1]);
          if (Number.isFinite(dur)) admit.push(dur);
          const reserved = Number(res.headers.get("x-tollgate-reserved-usd"));
          const actual = Number(res.headers.get("x-tollgate-cost-usd"));
          if (!(actual > 0)) continue;
          const error = (reserved - actual) / actual;
          // Served by a model other than the one asked for: a fallback, dearer than the first choice.
          if (res.headers.get("x-tollgate-model") !== model) errors.fallback.push(error);
          else (withCap ? errors.capped : errors.uncapped).push(error);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    admit.sort((a, b) => a - b);
    const summarise = (list) => ({
      n: list.length,
      meanOverEstimate: round((list.reduce((a, b) => a + b, 0) / Math.max(1, list.length)) * 100, 1),
      worstOverEstimate: round(Math.max(...list) * 100, 1),
      underEstimates: list.filter((e) => e < 0).length,
    });
    const ok = statuses[200] ?? 0;
    // The faults above open sim-a's breakers on this shared gateway; later scenarios start from healthy.
    await fetch(`${gateway.url}/admin/breakers`, { method: "DELETE", headers: { authorization: `Bearer ${gateway.adminToken}` } });
    const failures = [];
    if (ok !== sent) failures.push(`${sent - ok} of ${sent} requests were not 200: ${JSON.stringify(statuses)}`);
    if ([...errors.capped, ...errors.uncapped, ...errors.fallback].some((e) => e < -1e-9)) failures.push("a reservation was below the settled cost");
    if (errors.fallback.length === 0) failures.push("no request was served by a fallback, so dearer fallbacks went unchecked");
    return {
      concurrency: CONCURRENCY,
      seconds: round(seconds),
      sent,
      statuses,
      reqPerSec: round(ok / seconds, 1),
      admitMs: { p50: round(percentile(admit, 50), 2), p99: round(percentile(admit, 99), 2), samples: admit.length },
      estimate: { withMaxTokens: summarise(errors.capped), withoutMaxTokens: summarise(errors.uncapped), fallback: summarise(errors.fallback) },
      failures,
    };
  },

  toMarkdown(r) {
    const row = (name, e) => `| ${name} | ${e.n} | ${e.meanOverEstimate}% | ${e.worstOverEstimate}% | ${e.underEstimates} |`;
    return [
      `One tenant, concurrency ${r.concurrency}, ${r.seconds} s, sim models (fast, balanced, powerful), cache bypassed.`,
      "",
      `Every fourth request carries \`x-tollgate-sim-fault: 500;provider=sim-a\`, so it is served by sim-b, which costs more than the first choice.`,
      "",
      `- requests/s (2xx): **${r.reqPerSec}**; ${r.sent} sent, statuses ${JSON.stringify(r.statuses)} (any non-200 fails the scenario)`,
      `- admit (one Durable Object round trip, from Server-Timing): p50 **${r.admitMs.p50} ms**, p99 **${r.admitMs.p99} ms** (${r.admitMs.samples} samples)`,
      "",
      "Reservation (worst-case estimate) against settled cost, (reserved − actual) / actual:",
      "",
      "| requests | n | mean over-estimate | worst over-estimate | under-estimates |",
      "| --- | ---: | ---: | ---: | ---: |",
      row("with max_tokens", r.estimate.withMaxTokens),
      row("without max_tokens (default allowance)", r.estimate.withoutMaxTokens),
      row("served by a dearer fallback (sim-b)", r.estimate.fallback),
    ].join("\n");
  },
};

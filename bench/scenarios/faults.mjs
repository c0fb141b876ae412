// Issue 5's fault scenario: 1,000 chat requests while the first provider (sim-a) fails half its calls.
// Retries, fallback to sim-b and the circuit breaker must keep the success rate at 99.9% or better.
// The same requests without faults give the baseline, so the added latency is Tollgate's recovery cost.
import { percentile } from "../load-driver.mjs";

const REQUESTS = 1_000;
const CONCURRENCY = 16;
const FAULT = "500@0.5;provider=sim-a";
const TENANT = { limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 } };

const round = (n) => (n == null ? null : Number(n.toFixed(2)));

async function fireAll(url, headers, total, onDone) {
  const latencies = [];
  const statuses = {};
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      // A distinct prompt per request: nothing may be answered from cache.
      const body = JSON.stringify({ model: "sim/fast", max_tokens: 24, messages: [{ role: "user", content: `fault drill ${i} ${Date.now()}` }] });
      const t0 = performance.now();
      let status = 0;
      try {
        const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = 0;
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 200) latencies.push(performance.now() - t0);
      onDone?.(i);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  latencies.sort((a, b) => a - b);
  return { statuses, ok: statuses[200] ?? 0, seconds: (performance.now() - started) / 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export default {
  name: "faults",
  description: "1,000 requests while sim-a fails 50% of calls: success rate, added latency, time for the breaker to open.",

  async run(ctx) {
    const gateway = await ctx.gateway();
    const admin = { authorization: `Bearer ${gateway.adminToken}` };
    const url = `${gateway.url}/v1/chat/completions`;
    const { key } = await gateway.createTenantKey("bench-faults", TENANT);
    const headers = { "content-type": "application/json", authorization: `Bearer ${key}`, "x-tollgate-cache": "no-store" };

    await fetch(`${gateway.url}/admin/breakers`, { method: "DELETE", headers: admin });
    ctx.log(`faults: baseline, ${REQUESTS} requests without faults`);
    const baseline = await fireAll(url, headers, REQUESTS);

    await fetch(`${gateway.url}/admin/breakers`, { method: "DELETE", headers: admin });
    let opened = null;
    let sent = 0;
    const t0 = performance.now();
    // Poll the breaker while the drill runs, to see how many requests and how long it took to open.
    const watcher = (async () => {
      while (opened === null && sent < REQUESTS) {
        const res = await fetch(`${gateway.url}/admin/breakers`, { headers: admin }).then((r) => r.json());
        const simA = res.data.find((b) => b.key === "sim-a:fast");
        if (simA?.state === "open" || simA?.state === "half_open") opened = { ms: round(performance.now() - t0), requests: sent };
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    ctx.log(`faults: drill, ${REQUESTS} requests with x-tollgate-sim-fault: ${FAULT}`);
    const drill = await fireAll(url, { ...headers, "x-tollgate-sim-fault": FAULT }, REQUESTS, () => sent++);
    await watcher;

    const successRate = drill.ok / REQUESTS;
    const failures = successRate < 0.999 ? [`success rate ${(successRate * 100).toFixed(2)}% is below 99.9%`] : [];
    return {
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      fault: FAULT,
      baseline: { ...baseline, p50: round(baseline.p50), p99: round(baseline.p99) },
      drill: { ...drill, p50: round(drill.p50), p99: round(drill.p99) },
      successRate,
      addedLatencyMs: { p50: round(drill.p50 - baseline.p50), p99: round(drill.p99 - baseline.p99) },
      breakerOpened: opened,
      failures,
    };
  },

  toMarkdown(r) {
    return [
      `${r.requests} non-streaming requests at concurrency ${r.concurrency}, \`x-tollgate-sim-fault: ${r.fault}\`, cache bypassed.`,
      "",
      "| run | 2xx | statuses | p50 ms | p99 ms | seconds |",
      "| --- | ---: | --- | ---: | ---: | ---: |",
      `| baseline (no faults) | ${r.baseline.ok} | ${JSON.stringify(r.baseline.statuses)} | ${r.baseline.p50} | ${r.baseline.p99} | ${r.baseline.seconds.toFixed(1)} |`,
      `| sim-a failing 50% | ${r.drill.ok} | ${JSON.stringify(r.drill.statuses)} | ${r.drill.p50} | ${r.drill.p99} | ${r.drill.seconds.toFixed(1)} |`,
      "",
      `- success rate under faults: **${(r.successRate * 100).toFixed(2)}%** (goal ≥ 99.9%)`,
      `- added latency: p50 ${r.addedLatencyMs.p50} ms, p99 ${r.addedLatencyMs.p99} ms`,
      `- breaker for sim-a:fast opened: ${r.breakerOpened ? `after ${r.breakerOpened.ms} ms and ${r.breakerOpened.requests} requests` : "not observed"}`,
    ].join("\n");
  },
};

// Drives one load row with autocannon and summarises it. Latency percentiles are computed here from
// autocannon's per-response timings rather than read from its histogram, because that histogram has
// 1 ms resolution, which would round a sub-millisecond direct call to 0 or 1 and make the
// "Tollgate minus direct" overhead mostly rounding noise.
import autocannon from "autocannon";

const round = (n, digits = 2) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  // Nearest-rank: the smallest sample with at least p% of samples at or below it.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function fire(opts, onResponse) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    if (onResponse) instance.on("response", onResponse);
  });
}

/**
 * @param {object} o
 * @param {string} o.url            full URL of the endpoint
 * @param {object} o.headers
 * @param {string} o.body
 * @param {number} o.connections    concurrency (one request in flight per connection)
 * @param {number} o.duration       seconds of measured load
 * @param {number} o.warmup         seconds of unmeasured load first (0 to skip)
 * @param {number} [o.timeout]      seconds before a single request counts as a timeout
 * @param {() => ({ms: number} | null)} [o.cpu]  CPU-time reader for the server, sampled around the measured window
 */
export async function runLoad({ url, headers, body, connections, duration, warmup, timeout = 10, method = "POST", cpu }) {
  const base = { url, method, headers, body, connections, pipelining: 1, timeout };
  if (warmup > 0) await fire({ ...base, duration: warmup });

  const latencies = [];
  const statusCounts = {};
  const cpuBefore = cpu?.();
  const started = process.hrtime.bigint();
  const result = await fire({ ...base, duration }, (_client, status, _bytes, ms) => {
    statusCounts[status] = (statusCounts[status] ?? 0) + 1;
    // Only successful responses count towards latency: a fast 429 would otherwise look like a speed-up.
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const ok = result["2xx"];
  const cpuAfter = cpu?.();
  const cpuMs = cpuBefore && cpuAfter ? cpuAfter.ms - cpuBefore.ms : null;
  const responses = ok + result.non2xx;
  // Which process the CPU went to (wrangler's node proxy, workerd), per response.
  const cpuSplit = cpuBefore?.byName && cpuAfter?.byName && responses
    ? Object.fromEntries(Object.entries(cpuAfter.byName).map(([n, ms]) => [n, round((ms - (cpuBefore.byName[n] ?? 0)) / responses, 3)]))
    : null;

  latencies.sort((a, b) => a - b);
  return {
    connections,
    durationS: round(elapsedS, 2),
    requests: ok + result.non2xx,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCounts,
    // Successful requests per second over the measured window: errors are not throughput.
    reqPerSec: round(ok / elapsedS, 1),
    // Server CPU (every response counted, whatever its status) per response; clock-tick resolution.
    cpuMs: cpuMs == null ? null : round(cpuMs, 0),
    cpuMsPerRequest: cpuMs == null || responses === 0 ? null : round(cpuMs / responses, 3),
    cpuMsPerRequestByProcess: cpuSplit,
    latencyMs: {
      mean: round(latencies.reduce((s, v) => s + v, 0) / (latencies.length || 1), 3),
      p50: round(percentile(latencies, 50), 3),
      p90: round(percentile(latencies, 90), 3),
      p99: round(percentile(latencies, 99), 3),
      max: round(latencies.at(-1) ?? NaN, 3),
    },
  };
}

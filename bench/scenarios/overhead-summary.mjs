// Folds the overhead scenario's interleaved rounds into one figure per path and concurrency (the
// median over rounds, with the range), the ratios to the passthrough, and issue 13's goals.

// The order the paths run in within each round; the reference comes first.
// baseline-* run only with --baseline DIR: the same paths on another checkout, for before/after.
// floor / floor-logged: the passthrough Worker answering a canned completion (without / with one log
// line), the ceiling for any path that makes no upstream call. passthrough-js-stream: the passthrough's
// stream piped through one JavaScript identity TransformStream: a stream that script touches, no more.
export const PATHS = ["passthrough", "miss", "hit", "floor", "floor-logged", "baseline-miss", "baseline-hit", "miss-stream", "baseline-miss-stream", "passthrough-stream", "passthrough-js-stream", "direct"];

const round = (n, d = 3) => (n == null || !Number.isFinite(n) ? null : Number(n.toFixed(d)));

function median(xs) {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!s.length) return null;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const range = (xs) => {
  const s = xs.filter((x) => x != null);
  return s.length ? [Math.min(...s), Math.max(...s)] : null;
};

function cpuByProcess(rs) {
  const names = [...new Set(rs.flatMap((r) => Object.keys(r.cpuMsPerRequestByProcess ?? {})))];
  if (!names.length) return null;
  return Object.fromEntries(names.map((n) => [n, round(median(rs.map((r) => r.cpuMsPerRequestByProcess?.[n] ?? null)))]));
}

export function summarise(rows) {
  const out = [];
  const keys = [...new Set(rows.map((r) => `${r.path}|${r.connections}`))];
  for (const key of keys) {
    const [path, c] = key.split("|");
    const rs = rows.filter((r) => r.path === path && r.connections === Number(c));
    const pick = (f) => rs.map(f);
    const statusCounts = {};
    for (const r of rs) for (const [s, n] of Object.entries(r.statusCounts)) statusCounts[s] = (statusCounts[s] ?? 0) + n;
    out.push({
      path,
      connections: Number(c),
      rounds: rs.length,
      reqPerSec: round(median(pick((r) => r.reqPerSec)), 1),
      reqPerSecRange: range(pick((r) => r.reqPerSec)),
      p50: round(median(pick((r) => r.latencyMs.p50))),
      p50Range: range(pick((r) => r.latencyMs.p50)),
      p99: round(median(pick((r) => r.latencyMs.p99))),
      p99Range: range(pick((r) => r.latencyMs.p99)),
      cpuMsPerRequest: round(median(pick((r) => r.cpuMsPerRequest))),
      cpuRange: range(pick((r) => r.cpuMsPerRequest)),
      cpuByProcess: cpuByProcess(rs),
      requests: rs.reduce((s, r) => s + r.requests, 0),
      ok: rs.reduce((s, r) => s + r.ok, 0),
      non2xx: rs.reduce((s, r) => s + r.non2xx, 0),
      errors: rs.reduce((s, r) => s + r.errors, 0),
      statusCounts,
    });
  }
  return out;
}

const ratio = (a, b) => (a == null || b == null || b === 0 ? null : round(a / b));

export function compareToPassthrough(summary) {
  const find = (path, c) => summary.find((s) => s.path === path && s.connections === c);
  return summary
    .filter((s) => s.path !== "passthrough")
    .map((s) => {
      const ref = find("passthrough", s.connections);
      // Streaming is also compared with its own non-streaming twin: same answer, same target.
      const twin = s.path === "miss-stream" ? find("miss", s.connections) : s.path === "baseline-miss-stream" ? find("baseline-miss", s.connections) : s.path === "passthrough-stream" || s.path === "passthrough-js-stream" ? find("passthrough", s.connections) : null;
      return {
        path: s.path,
        connections: s.connections,
        reqPerSec: ratio(s.reqPerSec, ref?.reqPerSec),
        p50: ratio(s.p50, ref?.p50),
        p50DeltaMs: ref && s.p50 != null ? round(s.p50 - ref.p50) : null,
        p99: ratio(s.p99, ref?.p99),
        cpuPerRequest: ratio(s.cpuMsPerRequest, ref?.cpuMsPerRequest),
        streamP50OverNonStream: twin ? ratio(s.p50, twin.p50) : null,
      };
    });
}

/** Issue 13's goals, each with the figures it was judged on. Reported, not enforced: they are targets. */
export function goalChecks(summary, ratios) {
  const get = (path, c) => summary.find((s) => s.path === path && s.connections === c);
  const rat = (path, c) => ratios.find((r) => r.path === path && r.connections === c);
  const checks = [];
  const cs = [...new Set(summary.map((s) => s.connections))];
  for (const c of cs) {
    const miss = rat("miss", c);
    if (miss?.cpuPerRequest != null) checks.push({ goal: `miss CPU/request ≤ passthrough's (c=${c})`, value: `${miss.cpuPerRequest}×`, met: miss.cpuPerRequest <= 1 });
    const hit = rat("hit", c);
    const floor = rat("floor", c);
    if (hit?.reqPerSec != null) {
      const ceiling = floor?.reqPerSec != null ? ` (a canned answer with no work at all: ${floor.reqPerSec}×)` : "";
      checks.push({ goal: `hit req/s ≥ 2× passthrough's (c=${c})`, value: `${hit.reqPerSec}×${ceiling}`, met: hit.reqPerSec >= 2 });
    }
    const stream = rat("miss-stream", c);
    const jsStream = rat("passthrough-js-stream", c);
    if (stream?.streamP50OverNonStream != null) {
      const floorNote = jsStream?.p50DeltaMs != null ? ` (a passthrough whose stream goes through one JS TransformStream: +${jsStream.p50DeltaMs} ms p50, ${jsStream.cpuPerRequest}× CPU)` : "";
      checks.push({ goal: `streaming miss p50 ≤ 1.2× non-streaming miss p50 (c=${c})`, value: `${stream.streamP50OverNonStream}×${floorNote}`, met: stream.streamP50OverNonStream <= 1.2 });
    }
  }
  const miss1 = rat("miss", 1);
  if (miss1?.p50DeltaMs != null) checks.push({ goal: "miss p50 at c=1 ≤ passthrough p50 + 3 ms", value: `+${miss1.p50DeltaMs} ms`, met: miss1.p50DeltaMs <= 3 });
  const hit16 = get("hit", 16);
  const pt16 = get("passthrough", 16);
  if (hit16 && pt16) checks.push({ goal: "hit p99 at c=16 ≤ passthrough p99", value: `${hit16.p99} vs ${pt16.p99} ms`, met: hit16.p99 <= pt16.p99 });
  return checks;
}

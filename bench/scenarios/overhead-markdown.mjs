// The overhead scenario's report section: paths against the passthrough, goals, stage profile,
// cold start and bundle.
const f = (v, d = 2) => (v == null ? "n/a" : Number(v).toFixed(d));
const span = (r, d = 1) => (r ? `${f(r[0], d)}–${f(r[1], d)}` : "n/a");
const BUNDLE_GOAL_GZIP_KIB = 300;

export function renderOverhead(result) {
  const c = result.config;
  const lines = [
    `\`POST /v1/chat/completions\` (\`${c.model}\`, temperature 0, max_tokens 32) against a zero-latency mock. ` +
      `${c.rounds} interleaved round(s) (order per round and concurrency: ${c.order.join(", ")}), ${c.duration}s per row after ${c.warmup}s warm-up.`,
    "",
    "- **passthrough**: bench/passthrough (Hono, forwards to the mock) under the same `wrangler dev`; **miss**: Tollgate with `x-tollgate-cache: no-store`; " +
      "**hit**: Tollgate, the same request answered from the exact cache; **miss-stream** / **passthrough-stream**: the same request with `stream: true`; **passthrough-js-stream**: the passthrough's stream piped through one JavaScript identity TransformStream (a stream that script touches, with no other work); **direct**: the mock itself; **floor** / **floor-logged**: the passthrough Worker answering a canned completion without any upstream call, without / with one `console.log` line the size of Tollgate's request log (the ceiling for a path that calls nothing)." +
      (c.baseline ? ` **baseline-miss** / **baseline-hit** / **baseline-miss-stream**: the same on the checkout in \`${c.baseline}\` (\`--baseline\`), under its own \`wrangler dev\`, in the same rounds.` : ""),
    "- Median over rounds (range in brackets). Latency over 2xx responses, from autocannon; CPU per request = user+system CPU of the target's whole process group " +
      "(wrangler and its workerd processes, from /proc/<pid>/stat) during the measured window, divided by every response (any status). Clock ticks are 10 ms, so short rows are coarse.",
    "",
    "| path | c | req/s | p50 ms | p99 ms | CPU ms/req | responses | non-2xx | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.summary.map(
      (s) =>
        `| ${s.path} | ${s.connections} | ${f(s.reqPerSec, 1)} (${span(s.reqPerSecRange)}) | ${f(s.p50)} (${span(s.p50Range)}) | ${f(s.p99)} (${span(s.p99Range)}) | ` +
        `${f(s.cpuMsPerRequest)} (${span(s.cpuRange, 2)}) | ${s.requests} | ${s.non2xx} | ${s.errors} |`,
    ),
  ];
  const split = result.summary.filter((s) => s.cpuByProcess);
  if (split.length) {
    const names = [...new Set(split.flatMap((s) => Object.keys(s.cpuByProcess)))].sort();
    lines.push(
      "",
      "CPU ms per request by process of the group (median over rounds; `node` is wrangler's dev proxy, `workerd` the runtime, summed over its processes):",
      "",
      `| path | c | ${names.join(" | ")} |`,
      `| --- | ---: | ${names.map(() => "---:").join(" | ")} |`,
      ...split.map((s) => `| ${s.path} | ${s.connections} | ${names.map((n) => f(s.cpuByProcess[n])).join(" | ")} |`),
    );
  }
  if (result.ratios.some((r) => r.reqPerSec != null)) {
    lines.push(
      "",
      "Ratios to the passthrough at the same concurrency (of the medians):",
      "",
      "| path | c | req/s × | p50 × | Δ p50 ms | p99 × | CPU/req × | stream p50 / non-stream p50 |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...result.ratios
        .filter((r) => r.path !== "direct")
        .map((r) => `| ${r.path} | ${r.connections} | ${f(r.reqPerSec)} | ${f(r.p50)} | ${f(r.p50DeltaMs)} | ${f(r.p99)} | ${f(r.cpuPerRequest)} | ${f(r.streamP50OverNonStream)} |`),
    );
  }
  const bundleGzip = result.bundle?.deployed?.gzipKiB;
  const goals = [...(result.goals ?? [])];
  if (bundleGzip != null) goals.push({ goal: `bundle ≤ ${BUNDLE_GOAL_GZIP_KIB} KiB gzipped`, value: `${bundleGzip} KiB`, met: bundleGzip <= BUNDLE_GOAL_GZIP_KIB });
  if (goals.length) {
    lines.push("", "Issue 13's goals on this run:", "", "| goal | measured | met |", "| --- | ---: | :---: |", ...goals.map((g) => `| ${g.goal} | ${g.value} | ${g.met ? "yes" : "**no**"} |`));
  }
  if (result.profile) {
    lines.push("", "Server-Timing stages, sequential requests on the warm gateway (ms, p50 / p90):", "");
    for (const [path, p] of Object.entries(result.profile)) {
      const stages = p.stages.map((s) => `${s.name} ${f(s.p50)} / ${f(s.p90)}`).join("; ");
      lines.push(`- **${path}** (${p.n} requests, statuses ${JSON.stringify(p.statuses)}, client p50 ${f(p.clientMs.p50)} / p90 ${f(p.clientMs.p90)}): ${stages || "no Server-Timing"}`);
    }
  }
  const cs = result.coldStart ?? {};
  if (cs.tollgate || cs.passthrough) {
    lines.push(
      "",
      "Cold start under `wrangler dev` (spawn → first 200 from `/health`; that request's own latency; then the first chat request):",
      "",
      "| worker | spawn → healthy ms | first /health ms | first chat ms |",
      "| --- | ---: | ---: | ---: |",
      ...Object.entries(cs).map(([name, s]) => `| ${name} | ${s.bootMs} | ${f(s.firstHealthMs, 1)} | ${f(s.firstChatMs, 1)} |`),
    );
    if (cs.tollgate?.firstChatServerTiming) lines.push("", `First Tollgate chat request's Server-Timing: \`${cs.tollgate.firstChatServerTiming}\``);
  }
  const b = result.bundle;
  if (b?.deployed) {
    lines.push(
      "",
      `Bundle (\`wrangler deploy --dry-run --env production --outdir <tmp>\`): **${f(b.deployed.rawKiB, 1)} KiB raw, ${f(b.deployed.gzipKiB, 1)} KiB gzipped** ` +
        `(${b.deployed.files.join(", ")}; wrangler says "${b.deployed.wranglerReports ?? "n/a"}").`,
      "",
      `Largest contributors (that build's esbuild metafile, bytes in its minified output, of ${f(b.metafile.totalKiB, 1)} KiB):`,
      "",
      "| package | KiB | share |",
      "| --- | ---: | ---: |",
      ...b.metafile.packages.slice(0, 12).map((p) => `| ${p.name} | ${f(p.kib, 1)} | ${(p.share * 100).toFixed(1)}% |`),
    );
    const st = b.startup;
    if (st) {
      lines.push(
        "",
        `Startup (${st.measures}, ${st.tollgate.runs} runs each):`,
        "",
        "| worker | startup CPU ms, median | min | per run | profile window ms, median |",
        "| --- | ---: | ---: | --- | ---: |",
        ...["tollgate", "passthrough"].map((w) => `| ${w} | ${f(st[w].activeMsMedian, 1)} | ${f(st[w].activeMsMin, 1)} | ${st[w].samples.map((s) => f(s.activeMs, 1)).join(", ")} | ${f(st[w].windowMsMedian, 1)} |`),
      );
    }
  } else if (b?.error) lines.push("", `Bundle measurement failed: ${b.error}`);
  if (result.sampleHeaders?.["server-timing"]) lines.push("", `Sample \`Server-Timing\` of a warm miss before the load: \`${result.sampleHeaders["server-timing"]}\``);
  for (const n of result.notes ?? []) lines.push("", `Note: ${n}`);
  for (const x of result.failures ?? []) lines.push("", `**Failure:** ${x}`);
  return lines.join("\n");
}

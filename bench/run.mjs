// `npm run bench [-- flags]`: boots what the selected scenarios need (mock upstream, gateway), runs
// them, writes bench/results/<date>.{json,md}, prints the markdown, and always tears everything down.
// See bench/README.md for the flags and what each number means.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { startGateway, startPassthrough } from "./gateway.mjs";
import { spawnMockUpstream } from "./mock-upstream.mjs";
import { describeMachine, describeRun, localDate, renderMarkdown, writeReport } from "./report-writer.mjs";
import { scenarios } from "./scenarios/index.mjs";
import { PATHS as OVERHEAD_PATHS } from "./scenarios/overhead-summary.mjs";

const USAGE = `usage: npm run bench -- [--duration S] [--warmup S] [--connections 1,16,64] [--only a,b]
                          [--rounds N] [--direct-only] [--port N] [--boot-timeout S] [--no-write] [--list]
                          [--baseline DIR]   (overhead: also runs the checkout in DIR, e.g. an older commit, interleaved)
                          [--var KEY=VALUE]  (a wrangler var for the gateway and the baseline, e.g. REQUEST_LOG=errors; repeatable)`;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "10" },
      warmup: { type: "string", default: "1" },
      connections: { type: "string", default: "1,16,64" },
      rounds: { type: "string", default: "2" },
      only: { type: "string" },
      "direct-only": { type: "boolean", default: false },
      port: { type: "string" },
      baseline: { type: "string" },
      var: { type: "string", multiple: true, default: [] },
      "boot-timeout": { type: "string", default: "90" },
      "no-write": { type: "boolean", default: false },
      list: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const num = (name, v, min) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got "${v}"`);
    return n;
  };
  const connections = values.connections.split(",").map((c) => num("connections", c.trim(), 1));
  const vars = Object.fromEntries(
    values.var.map((kv) => {
      const eq = kv.indexOf("=");
      if (eq < 1) throw new Error(`--var wants KEY=VALUE, got "${kv}"`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
  return {
    help: values.help,
    list: values.list,
    write: !values["no-write"],
    only: values.only ? values.only.split(",").map((s) => s.trim()).filter(Boolean) : null,
    port: values.port ? num("port", values.port, 1) : undefined,
    bootTimeoutS: num("boot-timeout", values["boot-timeout"], 1),
    scenario: {
      duration: num("duration", values.duration, 1),
      warmup: num("warmup", values.warmup, 0),
      connections,
      rounds: num("rounds", values.rounds, 1),
      directOnly: values["direct-only"],
      baseline: values.baseline ? resolve(values.baseline) : null,
      vars,
    },
  };
}

const log = (msg) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

// Shared, lazily started infrastructure: a scenario that never asks for the gateway doesn't pay
// wrangler's boot time, and two scenarios share one gateway and one mock.
function createContext(opts) {
  let mockP = null;
  let gatewayP = null;
  let passthroughP = null;
  let baselineP = null;
  // With --port N the run stays in N..N+4: gateway and its inspector, passthrough and its inspector, mock
  // (and N+5..N+6 for a --baseline gateway and its inspector).
  const port = (offset) => (opts.port ? opts.port + offset : undefined);
  const ctx = {
    options: opts.scenario,
    log,
    mock: () => (mockP ??= spawnMockUpstream({ port: port(4) ?? 0 }).then((m) => (log(`mock upstream on ${m.url}`), m))),
    gateway: () =>
      (gatewayP ??= ctx.mock().then((m) =>
        startGateway({ upstreamUrl: m.url, port: port(0), bootTimeoutMs: opts.bootTimeoutS * 1000, log, vars: opts.scenario.vars }),
      )),
    baseline: () =>
      (baselineP ??= ctx.mock().then((m) =>
        startGateway({ upstreamUrl: m.url, port: port(5), bootTimeoutMs: opts.bootTimeoutS * 1000, log, root: opts.scenario.baseline, vars: opts.scenario.vars }),
      )),
    passthrough: () =>
      (passthroughP ??= ctx.mock().then((m) =>
        startPassthrough({ upstreamUrl: m.url, port: port(2), bootTimeoutMs: opts.bootTimeoutS * 1000, log }),
      )),
    async teardown() {
      // Each part is attempted even if another failed to start or fails to stop.
      const pt = passthroughP && (await passthroughP.catch(() => null));
      if (pt) await pt.stop().catch((e) => log(`passthrough stop failed: ${e.message}`));
      const gw = gatewayP && (await gatewayP.catch(() => null));
      if (gw) await gw.stop().catch((e) => log(`gateway stop failed: ${e.message}`));
      const base = baselineP && (await baselineP.catch(() => null));
      if (base) await base.stop().catch((e) => log(`baseline gateway stop failed: ${e.message}`));
      const mock = mockP && (await mockP.catch(() => null));
      if (mock) await mock.close().catch((e) => log(`mock stop failed: ${e.message}`));
    },
  };
  return ctx;
}

// An upper bound on the whole run, so a hung request or boot can't keep a CI job alive forever.
function watchdogSeconds(opts, selected) {
  // overhead is the widest: every one of its paths per round and concurrency, plus two more wranglers and a bundle build.
  const rowsPerScenario = opts.scenario.connections.length * OVERHEAD_PATHS.length * opts.scenario.rounds;
  const perRow = opts.scenario.duration + opts.scenario.warmup + 20;
  return 2 * opts.bootTimeoutS + 60 + 60 + 180 + selected.length * rowsPerScenario * perRow;
}

async function main() {
  let opts;
  try {
    opts = parseOptions();
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (opts.list) {
    for (const s of scenarios) console.log(`${s.name.padEnd(16)} ${s.description}`);
    return 0;
  }
  const byName = new Map(scenarios.map((s) => [s.name, s]));
  const unknown = (opts.only ?? []).filter((n) => !byName.has(n));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(", ")}; known: ${[...byName.keys()].join(", ")}`);
    return 2;
  }
  const selected = opts.only ? opts.only.map((n) => byName.get(n)) : scenarios;

  const ctx = createContext(opts);
  let tearingDown = null;
  const teardownOnce = () => (tearingDown ??= ctx.teardown());
  const abort = (why, code) => {
    log(why);
    teardownOnce().finally(() => process.exit(code));
  };
  process.once("SIGINT", () => abort("interrupted; stopping gateway and mock", 130));
  process.once("SIGTERM", () => abort("terminated; stopping gateway and mock", 143));
  const limitS = watchdogSeconds(opts, selected);
  const watchdog = setTimeout(() => abort(`run exceeded its ${limitS}s bound; aborting`, 124), limitS * 1000);
  watchdog.unref();

  const startedAt = new Date();
  const report = {
    date: localDate(startedAt),
    startedAt: startedAt.toISOString(),
    machine: describeMachine(),
    ...describeRun(),
    options: opts.scenario,
    scenarios: [],
    ok: true,
  };
  try {
    for (const scenario of selected) {
      log(`scenario ${scenario.name}: ${scenario.description}`);
      const t0 = Date.now();
      const entry = { name: scenario.name, description: scenario.description };
      try {
        entry.result = await scenario.run(ctx);
        if (entry.result?.failures?.length) report.ok = false;
      } catch (err) {
        entry.error = err?.stack ?? String(err);
        report.ok = false;
        log(`scenario ${scenario.name} failed: ${err?.message ?? err}`);
      }
      entry.seconds = Number(((Date.now() - t0) / 1000).toFixed(1));
      report.scenarios.push(entry);
    }
  } finally {
    await teardownOnce();
    clearTimeout(watchdog);
  }
  report.totalSeconds = Number(((Date.now() - startedAt.getTime()) / 1000).toFixed(1));

  const markdown = renderMarkdown(report, byName);
  console.log(markdown);
  if (opts.write) {
    const paths = await writeReport(report, markdown);
    log(`wrote ${paths.json} and ${paths.md}`);
  }
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err?.stack ?? err);
    process.exit(1);
  },
);

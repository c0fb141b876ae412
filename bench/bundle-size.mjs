// What Tollgate ships and how long it takes to start. The production bundle wrangler would upload (raw
// and gzipped, from a dry run, with wrangler.toml's `[alias]` applied), which packages fill it (from the
// same build's esbuild metafile), and the Worker's startup: `wrangler check startup` runs the built
// bundle in a local workerd and profiles its startup phase (compiling the script and running its top
// level, which is what Cloudflare's startup-time limit counts), several times, reported as the median
// CPU time that was not idle. The same for bench/passthrough, the reference.
//
//   node bench/bundle-size.mjs [--startup-runs N]
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { gzipSync } from "node:zlib";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(ROOT, "node_modules", ".bin");
const NODE = existsSync(join(BIN, "node")) ? join(BIN, "node") : process.execPath;
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const run = promisify(execFile);
const ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" };
const STARTUP_RUNS = 5;

const kib = (bytes) => Number((bytes / 1024).toFixed(1));

// "node_modules/@scope/pkg/..." -> "@scope/pkg"; the project's own files group by top folder.
function owner(path) {
  const at = path.lastIndexOf("node_modules/");
  if (at < 0) return `(tollgate) ${path.split("/")[0]}/`;
  const parts = path.slice(at + "node_modules/".length).split("/");
  return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

async function wranglerBundle(dir) {
  const out = join(dir, "wrangler");
  const { stdout } = await run(
    NODE,
    [WRANGLER, "deploy", "--dry-run", "--env", "production", "--outdir", out, "--metafile", join(dir, "meta.json")],
    { cwd: ROOT, env: ENV, maxBuffer: 16 * 2 ** 20, timeout: 180_000 },
  );
  const files = (await readdir(out)).filter((f) => f.endsWith(".js") || f.endsWith(".mjs") || f.endsWith(".wasm"));
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const bytes = await readFile(join(out, f));
    raw += bytes.length;
    gzip += gzipSync(bytes).length;
  }
  // Wrangler's own line, e.g. "Total Upload: 3230.06 KiB / gzip: 844.55 KiB", for comparison.
  const reported = stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").match(/Total Upload:[^\n]*/)?.[0] ?? null;
  return { files, rawKiB: kib(raw), gzipKiB: kib(gzip), wranglerReports: reported };
}

// Per package, from the metafile of the very build measured above (aliases applied): bytes each one
// contributes to that (minified) output.
async function packageShares(dir) {
  const { outputs } = JSON.parse(await readFile(join(dir, "meta.json"), "utf8"));
  const output = Object.values(outputs).find((o) => o.entryPoint);
  const byOwner = new Map();
  for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
    byOwner.set(owner(path), (byOwner.get(owner(path)) ?? 0) + bytesInOutput);
  }
  const total = output.bytes;
  const packages = [...byOwner]
    .sort((a, b) => b[1] - a[1])
    .map(([name, bytes]) => ({ name, kib: kib(bytes), share: Number((bytes / total).toFixed(3)) }));
  return { totalKiB: kib(total), packages };
}

// A V8 CPU profile of the startup phase: wall window, and sampled time split into idle, GC and the rest.
function summariseProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]));
  let idle = 0;
  let gc = 0;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const ms = profile.timeDeltas[i] / 1000;
    const name = byId.get(id);
    if (name === "(idle)") idle += ms;
    else if (name === "(garbage collector)") gc += ms;
    else busy += ms;
  });
  const r = (x) => Number(x.toFixed(1));
  return { windowMs: r((profile.endTime - profile.startTime) / 1000), activeMs: r(busy + gc), gcMs: r(gc), idleMs: r(idle), samples: profile.samples.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};

// `wrangler check startup` on a bundle built once (`deploy --dry-run --outfile`), `runs` times.
async function startupProfile(dir, name, args, runs) {
  const bundle = join(dir, `${name}.bundle`);
  await run(NODE, [WRANGLER, "deploy", "--dry-run", ...args, "--outfile", bundle], { cwd: ROOT, env: ENV, maxBuffer: 16 * 2 ** 20, timeout: 180_000 });
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const file = join(dir, `${name}-${i}.cpuprofile`);
    await run(NODE, [WRANGLER, "check", "startup", ...args, "--worker", bundle, "--outfile", file], { cwd: ROOT, env: ENV, maxBuffer: 16 * 2 ** 20, timeout: 120_000 });
    samples.push(summariseProfile(JSON.parse(await readFile(file, "utf8"))));
  }
  return {
    runs,
    activeMsMedian: median(samples.map((s) => s.activeMs)),
    // On a loaded machine other processes only ever add time: the least-disturbed run is the minimum.
    activeMsMin: Math.min(...samples.map((s) => s.activeMs)),
    windowMsMedian: median(samples.map((s) => s.windowMs)),
    samples,
  };
}

export const STARTUP_MEASURES =
  "`wrangler check startup` (local workerd, the built bundle): CPU time of the startup phase (compile + top-level run), sampled by V8 at ~1 ms, idle excluded; median (and minimum) of the runs";

export async function measureBundle({ startupRuns = STARTUP_RUNS } = {}) {
  const dir = await mkdtemp(join(os.tmpdir(), "tollgate-bundle-"));
  try {
    const deployed = await wranglerBundle(dir);
    const metafile = await packageShares(dir);
    // One after the other: two profiles at once would time each other.
    const startup = startupRuns > 0
      ? {
          measures: STARTUP_MEASURES,
          tollgate: await startupProfile(dir, "tollgate", ["--env", "production"], startupRuns),
          passthrough: await startupProfile(dir, "passthrough", ["--config", "bench/passthrough/wrangler.toml"], startupRuns),
        }
      : null;
    return { deployed, metafile, startup };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { "startup-runs": { type: "string", default: String(STARTUP_RUNS) } }, strict: true });
  const r = await measureBundle({ startupRuns: Number(values["startup-runs"]) });
  const { startup } = r;
  console.log(JSON.stringify({ ...r, metafile: { ...r.metafile, packages: r.metafile.packages.slice(0, 15) } }, null, 2));
  console.log(`\nbundle: ${r.deployed.rawKiB} KiB raw, ${r.deployed.gzipKiB} KiB gzipped (goal <= 300 KiB gzipped)`);
  if (startup) {
    const ms = (w) => `${startup[w].activeMsMedian} ms (min ${startup[w].activeMsMin})`;
    console.log(`startup: Tollgate ${ms("tollgate")}, passthrough ${ms("passthrough")}; ${STARTUP_MEASURES}, ${startup.tollgate.runs} runs each`);
  }
}

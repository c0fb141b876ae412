// What Tollgate ships: the production bundle wrangler would upload (raw and gzipped, from a dry run),
// and which packages fill it (from an esbuild metafile of the same entry with the same conditions).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(ROOT, "node_modules", ".bin");
const NODE = existsSync(join(BIN, "node")) ? join(BIN, "node") : process.execPath;
const run = promisify(execFile);
const ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" };

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
    [join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), "deploy", "--dry-run", "--env", "production", "--outdir", out],
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

async function packageShares(dir) {
  const meta = join(dir, "meta.json");
  await run(
    join(BIN, "esbuild"),
    [
      "src/index.ts", "--bundle", "--format=esm", "--platform=neutral", "--conditions=workerd,worker,browser",
      "--main-fields=browser,module,main", "--external:cloudflare:*", "--external:node:*",
      `--metafile=${meta}`, `--outfile=${join(dir, "esbuild.js")}`, "--log-level=error",
    ],
    { cwd: ROOT, env: ENV, timeout: 120_000 },
  );
  const { outputs } = JSON.parse(await readFile(meta, "utf8"));
  const output = Object.values(outputs).find((o) => o.entryPoint);
  const byOwner = new Map();
  for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
    byOwner.set(owner(path), (byOwner.get(owner(path)) ?? 0) + bytesInOutput);
  }
  const total = output.bytes;
  const packages = [...byOwner]
    .sort((a, b) => b[1] - a[1])
    .map(([name, bytes]) => ({ name, kib: kib(bytes), share: Number((bytes / total).toFixed(3)) }));
  return { totalKiB: kib(total), gzipKiB: kib(gzipSync(await readFile(join(dir, "esbuild.js"))).length), packages };
}

export async function measureBundle() {
  const dir = await mkdtemp(join(os.tmpdir(), "tollgate-bundle-"));
  try {
    const [deployed, metafile] = await Promise.all([wranglerBundle(dir), packageShares(dir)]);
    return { deployed, metafile };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await measureBundle();
  console.log(JSON.stringify({ ...r, metafile: { ...r.metafile, packages: r.metafile.packages.slice(0, 15) } }, null, 2));
}

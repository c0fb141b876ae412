// Boots Tollgate under `wrangler dev` for one bench run, on a fresh local state directory, so that no
// run inherits tenants, caches or budget counters from an earlier one.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
// Wrangler 4.16x needs Node 22; the `node` package provides it even when the shell's node is older.
const NODE = existsSync(join(ROOT, "node_modules", ".bin", "node")) ? join(ROOT, "node_modules", ".bin", "node") : process.execPath;
const ADMIN_TOKEN = "bench-admin";
const TAIL_LINES = 40;
// Wrangler colours its output even through a pipe; escapes make error messages unreadable in logs.
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
// In dev mode wrangler keeps watching after a failed build instead of exiting, so waiting out the whole
// boot timeout would only delay the same error.
const FATAL_OUTPUT = /Build failed|not exported in your entrypoint/;

// Offline and non-interactive: no telemetry calls, no prompts, no interactive dev-session UI.
const CHILD_ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" };

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

// Keeps the last lines of a child's output, for error messages that say what wrangler said, and notes
// whether wrangler ever reported a fatal build or load error (which may since have scrolled away).
function outputTail(child) {
  const lines = [];
  let fatal = false;
  const push = (chunk) => {
    for (const line of chunk.toString("utf8").replace(ANSI, "").split("\n")) {
      if (!line.trim()) continue;
      lines.push(line);
      if (FATAL_OUTPUT.test(line)) fatal = true;
    }
    if (lines.length > TAIL_LINES * 4) lines.splice(0, lines.length - TAIL_LINES);
  };
  child.stdout?.on("data", push);
  child.stderr?.on("data", push);
  const tail = () => lines.slice(-TAIL_LINES).join("\n");
  tail.sawFatal = () => fatal;
  return tail;
}

const exited = (child) => child.exitCode !== null || child.signalCode !== null;

function waitForExit(child, ms) {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((ok) => {
    const timer = setTimeout(() => ok(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      ok(true);
    });
  });
}

// wrangler starts workerd as its own child; killing only wrangler would orphan workerd, which keeps the
// port. The process was spawned detached, so its pid is also its process group id: signal the group.
async function killTree(child) {
  const signalGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // ESRCH: the group is already gone.
    }
  };
  signalGroup("SIGTERM");
  if (!(await waitForExit(child, 5_000))) signalGroup("SIGKILL");
  await waitForExit(child, 2_000);
  // Members of the group may outlive the leader briefly; make sure none survive.
  signalGroup("SIGKILL");
}

function runWrangler(args, { timeoutMs, cwd = ROOT }) {
  const child = spawn(NODE, [WRANGLER, ...args], { cwd, env: CHILD_ENV, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const tail = outputTail(child);
  return new Promise((ok, fail) => {
    const timer = setTimeout(async () => {
      await killTree(child);
      fail(new Error(`wrangler ${args.slice(0, 3).join(" ")} timed out after ${timeoutMs} ms\n${tail()}`));
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) ok(tail());
      else fail(new Error(`wrangler ${args.slice(0, 3).join(" ")} exited with code ${code}\n${tail()}`));
    });
  });
}

// Returns how long the successful /health request itself took: the first request the Worker served.
async function waitForHealth(url, child, tail, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`wrangler dev exited (code ${child.exitCode ?? child.signalCode}) before /health answered\n${tail()}`);
    if (tail.sawFatal()) throw new Error(`wrangler dev could not build or load the Worker\n--- wrangler output tail ---\n${tail()}`);
    try {
      const t0 = performance.now();
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - t0;
      last = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`gateway /health did not answer 200 within ${timeoutMs} ms (last: ${last})\n--- wrangler output tail ---\n${tail()}`);
}

async function adminPost(url, path, body) {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path} -> HTTP ${res.status}: ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`POST ${path} -> HTTP ${res.status} but the body is not JSON: ${text.slice(0, 300)}`);
  }
}

/**
 * @param {object} o
 * @param {string} o.upstreamUrl   base URL of the mock upstream (without /v1)
 * @param {number} [o.port]        gateway port (default: a free one)
 * @param {number} [o.bootTimeoutMs]
 * @param {Record<string,string>} [o.vars]  extra --var bindings
 * @param {string} [o.root]        the checkout to run (default: this one); `--baseline` runs another
 *                                 commit's checkout with this one's wrangler, beside this one
 */
export async function startGateway({ upstreamUrl, port, bootTimeoutMs = 90_000, vars = {}, log = () => {}, root = ROOT } = {}) {
  const stateDir = join(".wrangler", `bench-state-${Date.now()}`);
  const cleanupState = () => rm(join(root, stateDir), { recursive: true, force: true });
  try {
    log(`applying D1 migrations into ${root === ROOT ? "" : `${root}/`}${stateDir}`);
    await runWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", stateDir], { timeoutMs: 60_000, cwd: root });
  } catch (err) {
    await cleanupState();
    throw err;
  }

  const gatewayPort = port ?? (await freePort());
  // With a fixed port the inspector takes the next one, so a run stays inside the ports it was given.
  const inspectorPort = port ? port + 1 : await freePort();
  const allVars = {
    OPENAI_BASE_URL: `${upstreamUrl}/v1`,
    OPENAI_API_KEY: "bench-key",
    ADMIN_TOKEN,
    SIM_LATENCY_SCALE: "0",
    ...vars,
  };
  const args = [
    "dev",
    "--port", String(gatewayPort),
    "--ip", "127.0.0.1",
    "--inspector-port", String(inspectorPort),
    "--persist-to", stateDir,
    "--show-interactive-dev-session=false",
    ...Object.entries(allVars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  log(`starting wrangler dev on 127.0.0.1:${gatewayPort}${root === ROOT ? "" : ` from ${root}`}`);
  const spawnedAt = performance.now();
  const child = spawn(NODE, [WRANGLER, ...args], { cwd: root, env: CHILD_ENV, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const tail = outputTail(child);
  const url = `http://127.0.0.1:${gatewayPort}`;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await killTree(child);
    await cleanupState();
  };

  let coldStart;
  try {
    coldStart = await timeBoot(spawnedAt, url, child, tail, bootTimeoutMs);
    log(`gateway healthy after ${(coldStart.bootMs / 1000).toFixed(1)} s`);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    adminToken: ADMIN_TOKEN,
    stateDir,
    /** wrangler's pid (also its process group); workerd runs below it (the soak samples its memory). */
    pid: child.pid,
    outputTail: tail,
    coldStart,
    /** Creates a tenant (extra fields in `body`, e.g. limits) and one key for it. */
    async createTenantKey(name, body = {}) {
      const tenant = await adminPost(url, "/admin/tenants", { ...body, name });
      if (!tenant?.id) throw new Error(`POST /admin/tenants returned no id: ${JSON.stringify(tenant).slice(0, 300)}`);
      const key = await adminPost(url, `/admin/tenants/${encodeURIComponent(tenant.id)}/keys`, {});
      if (!key?.key) throw new Error(`POST /admin/tenants/${tenant.id}/keys returned no key`);
      return { tenantId: tenant.id, keyId: key.id, key: key.key };
    },
    stop,
  };
}

// Cold start as `wrangler dev` gives it: spawn to the first 200 from /health (build, workerd start,
// Worker load), and how long that first request took by itself.
async function timeBoot(spawnedAt, url, child, tail, timeoutMs) {
  const firstRequestMs = await waitForHealth(url, child, tail, timeoutMs);
  return { bootMs: Math.round(performance.now() - spawnedAt), firstHealthMs: Number(firstRequestMs.toFixed(1)) };
}

/**
 * The overhead bench's reference: bench/passthrough (a few lines of Hono) under the same `wrangler
 * dev`, forwarding to the same mock. No state, so no migrations and no persistence directory.
 */
export async function startPassthrough({ upstreamUrl, port, bootTimeoutMs = 90_000, log = () => {} } = {}) {
  const listenPort = port ?? (await freePort());
  const inspectorPort = port ? port + 1 : await freePort();
  const args = [
    "dev",
    "--config", join(ROOT, "bench", "passthrough", "wrangler.toml"),
    "--port", String(listenPort),
    "--ip", "127.0.0.1",
    "--inspector-port", String(inspectorPort),
    "--show-interactive-dev-session=false",
    "--var", `UPSTREAM_URL:${upstreamUrl}`,
  ];
  log(`starting passthrough wrangler dev on 127.0.0.1:${listenPort}`);
  const spawnedAt = performance.now();
  const child = spawn(NODE, [WRANGLER, ...args], { cwd: ROOT, env: CHILD_ENV, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const tail = outputTail(child);
  const url = `http://127.0.0.1:${listenPort}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await killTree(child);
  };
  let coldStart;
  try {
    coldStart = await timeBoot(spawnedAt, url, child, tail, bootTimeoutMs);
    log(`passthrough healthy after ${(coldStart.bootMs / 1000).toFixed(1)} s`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, pid: child.pid, coldStart, outputTail: tail, stop };
}

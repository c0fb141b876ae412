// `npm start` as a new user runs it: the embedder follows --port (port + 1), a second checkout reuses an
// embedder it finds instead of failing over it, and `npm run key` reaches the gateway on its port.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import { freePort, ROOT } from "../../scripts/local-gateway.mjs";

const started = [];
const dirs = [];

const canBind = (port) =>
  new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/** A free port whose successor is free too, for the embedder. */
async function freePair() {
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    if (port < 65535 && (await canBind(port + 1))) return port;
  }
  throw new Error("no two adjacent free ports");
}

async function poll(probe, what, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// What a new user's shell has: no embedder switches, no URL overrides.
const { TOLLGATE_NO_EMBEDDER: _off, EMBED_PORT: _embed, TOLLGATE_URL: _url, ...inherited } = process.env;

/** `node scripts/start.mjs` (what `npm start` runs) in its own process group, with its own state. */
async function start(port, env = {}) {
  const state = mkdtempSync(path.join(tmpdir(), "tollgate-start-"));
  dirs.push(state);
  const inspector = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, "scripts", "start.mjs"), "--port", String(port), "--inspector-port", String(inspector), "--persist-to", state, "--show-interactive-dev-session=false"], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...inherited, PATH: `${path.join(ROOT, "node_modules", ".bin")}:${process.env.PATH}`, CI: "1", NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", ...env },
  });
  started.push(child);
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  await poll(async () => (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) })).ok, `the gateway on ${port}`);
  return { state, output: () => output };
}

after(async () => {
  for (const child of started.reverse()) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      continue;
    }
    await exited;
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("npm start on another port", () => {
  it("moves the embedder to port + 1, reuses it from a second checkout, and npm run key follows the port", async () => {
    const port = await freePair();
    const first = await start(port);
    const health = await poll(async () => (await fetch(`http://127.0.0.1:${port + 1}/health`)).json(), `the embedder on ${port + 1}`);
    assert.equal(health.ok, true);
    assert.match(first.output(), new RegExp(`local embedder: starting on http://127.0.0.1:${port + 1}`));
    assert.equal(readFileSync(path.join(first.state, "tollgate-url"), "utf8").trim(), `http://127.0.0.1:${port}`);

    // A second gateway pointed at the same embedder says it reuses it rather than reporting a failure.
    const second = await start(await freePort(), { EMBED_PORT: String(port + 1) });
    assert.match(second.output(), new RegExp(`local embedder: reusing the one already on http://127.0.0.1:${port + 1}`));
    assert.doesNotMatch(second.output(), /local embedder exited/);

    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, "scripts", "create-key.mjs"), "--port", String(port), "start-test"], {
      env: { ...inherited, ADMIN_TOKEN: "dev-admin-token" },
    });
    assert.match(stdout, new RegExp(`gateway: http://127.0.0.1:${port}`));
    assert.match(stdout, /export OPENAI_BASE_URL=http:\/\/127\.0\.0\.1:\d+\/v1 OPENAI_API_KEY=tg_/);
  });
});

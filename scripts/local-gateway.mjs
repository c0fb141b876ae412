// Boots `npm start` on spare ports with its own local state (the browser test, the report benchmark).
// The whole process group (npm, start.mjs, wrangler, workerd) is stopped at the end, so no port or
// file lock outlives it.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function startGateway({ persistTo, adminToken, bootTimeoutMs = 300_000, vars = {} }) {
  const port = await freePort();
  const inspector = await freePort();
  const args = ["start", "--", "--port", String(port), "--inspector-port", String(inspector), "--persist-to", persistTo, "--show-interactive-dev-session=false"];
  for (const [k, v] of Object.entries({ ADMIN_TOKEN: adminToken, ...vars })) args.push("--var", `${k}:${v}`);
  const child = spawn("npm", args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PATH: `${path.join(ROOT, "node_modules", ".bin")}:${process.env.PATH}`, TOLLGATE_NO_EMBEDDER: "1", CI: "1", NO_COLOR: "1", WRANGLER_SEND_METRICS: "false" },
  });
  const output = [];
  const keep = (chunk) => {
    output.push(...chunk.toString("utf8").replace(ANSI, "").split("\n").filter(Boolean));
    if (output.length > 400) output.splice(0, output.length - 200);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, 5_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + bootTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}\n${output.slice(-40).join("\n")}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`gateway did not answer /health within ${bootTimeoutMs} ms\n${output.slice(-40).join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { url, stop, output: () => output.slice(-60).join("\n") };
}

#!/usr/bin/env node
// `npm start`: the whole gateway, locally and offline. Copies .dev.vars from the example when absent,
// applies D1 migrations to the local database, starts the local embedder, then `wrangler dev`.
// Extra arguments go to wrangler (e.g. `npm start -- --port 8790`).
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
const args = process.argv.slice(2);
const embedPort = process.env.EMBED_PORT ?? "8788";

if (!existsSync(path.join(root, ".dev.vars"))) {
  copyFileSync(path.join(root, ".dev.vars.example"), path.join(root, ".dev.vars"));
  console.log("created .dev.vars from .dev.vars.example (admin token: dev-admin-token)");
}

const persist = args.includes("--persist-to") ? ["--persist-to", args[args.indexOf("--persist-to") + 1]] : [];
const migrate = spawnSync(bin("wrangler"), ["d1", "migrations", "apply", "DB", "--local", ...persist], { cwd: root, stdio: "inherit", env: { ...process.env, CI: "true" } });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const children = [];
const stopAll = (code) => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  process.exit(code);
};
process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));

if (process.env.TOLLGATE_NO_EMBEDDER !== "1") {
  const embedder = spawn(process.execPath, [path.join(root, "scripts", "embed-server.mjs"), "--port", embedPort], { cwd: root, stdio: "inherit" });
  embedder.on("exit", (code) => code && console.error(`local embedder exited (${code}); semantic cache lookups will be skipped`));
  children.push(embedder);
}

const defaults = [...(args.includes("--ip") ? [] : ["--ip", "127.0.0.1"]), ...(args.includes("--port") ? [] : ["--port", "8787"])];
const wrangler = spawn(bin("wrangler"), ["dev", ...defaults, "--var", `EMBEDDER_URL:http://127.0.0.1:${embedPort}/v1/embeddings`, ...args], {
  cwd: root,
  stdio: "inherit",
});
children.push(wrangler);
wrangler.on("exit", (code) => stopAll(code ?? 0));

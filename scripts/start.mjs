#!/usr/bin/env node
// `npm start`: the whole gateway, locally and offline. Copies .dev.vars from the example when absent,
// applies D1 migrations to the local database, starts the local embedder, then `wrangler dev`.
// Extra arguments go to wrangler (e.g. `npm start -- --port 8790`).
//
// Ports: the gateway on --port (default 8787), the embedder on EMBED_PORT or the gateway's port + 1, so
// two checkouts run side by side with `--port`. An embedder already answering on that port is reused
// (and left running when this stops); anything else on it is reported, never mistaken for one.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
const args = process.argv.slice(2);
const argValue = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const port = Number(argValue("--port") ?? 8787);
const embedPort = Number(process.env.EMBED_PORT || port + 1);
const host = argValue("--ip") ?? "127.0.0.1";

if (!existsSync(path.join(root, ".dev.vars"))) {
  copyFileSync(path.join(root, ".dev.vars.example"), path.join(root, ".dev.vars"));
  console.log("created .dev.vars from .dev.vars.example (admin token: dev-admin-token)");
}

const persist = argValue("--persist-to") ? ["--persist-to", argValue("--persist-to")] : [];
const migrate = spawnSync(bin("wrangler"), ["d1", "migrations", "apply", "DB", "--local", ...persist], { cwd: root, stdio: "inherit", env: { ...process.env, CI: "true" } });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

// Where `npm run key` finds this gateway. Beside the state it serves, so a test gateway started with
// its own --persist-to never redirects the developer's `npm run key`.
const urlFile = path.join(argValue("--persist-to") ?? path.join(root, ".wrangler"), "tollgate-url");

const children = [];
const stopAll = (code) => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  rmSync(urlFile, { force: true });
  process.exit(code);
};
process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));

/** What answers on the embedder's port: our embedder (its /health says so), something else, or nothing. */
async function probeEmbedder() {
  try {
    const res = await fetch(`http://127.0.0.1:${embedPort}/health`, { signal: AbortSignal.timeout(1_500) });
    const body = await res.json().catch(() => null);
    return res.ok && body?.ok === true && typeof body.model === "string" ? { kind: "embedder", model: body.model, dims: body.dims } : { kind: "other" };
  } catch (error) {
    const code = error?.cause?.code;
    return code === "ECONNREFUSED" ? { kind: "free" } : { kind: "other" };
  }
}

if (process.env.TOLLGATE_NO_EMBEDDER === "1") {
  console.log("local embedder: off (TOLLGATE_NO_EMBEDDER=1); semantic cache lookups will be skipped");
} else {
  const found = await probeEmbedder();
  if (found.kind === "embedder") {
    console.log(`local embedder: reusing the one already on http://127.0.0.1:${embedPort} (${found.model}, ${found.dims} dims); it is not ours, so it keeps running after this stops`);
  } else if (found.kind === "other") {
    console.error(`local embedder: port ${embedPort} is taken by something that is not an embedder; semantic cache lookups will be skipped (set EMBED_PORT to a free port)`);
  } else {
    const embedder = spawn(process.execPath, [path.join(root, "scripts", "embed-server.mjs"), "--port", String(embedPort)], { cwd: root, stdio: "inherit" });
    embedder.on("exit", (code) => code && console.error(`local embedder exited (${code}); semantic cache lookups will be skipped`));
    children.push(embedder);
    console.log(`local embedder: starting on http://127.0.0.1:${embedPort}`);
  }
}

const defaults = [...(args.includes("--ip") ? [] : ["--ip", host]), ...(args.includes("--port") ? [] : ["--port", String(port)])];
const wrangler = spawn(bin("wrangler"), ["dev", ...defaults, "--var", `EMBEDDER_URL:http://127.0.0.1:${embedPort}/v1/embeddings`, ...args], {
  cwd: root,
  stdio: "inherit",
});
children.push(wrangler);
wrangler.on("exit", (code) => stopAll(code ?? 0));
mkdirSync(path.dirname(urlFile), { recursive: true });
writeFileSync(urlFile, `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}\n`);

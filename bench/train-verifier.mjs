// Trains the semantic-cache verifier (src/cache/semantic-verifier.ts) on QQP train only and writes
// its weights to src/cache/verifier-weights.ts. Everything is chosen by 5-fold cross-validation on
// train: the candidate cosine, the L2 strength, the decision threshold and which hand-written
// vetoes stay. qqp-dev is never read here. Deterministic: fixed seed, full-batch Newton steps.
//
//   node bench/train-verifier.mjs [--train FILE.jsonl] [--target 0.98] [--seed 14]

import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FEATURE_NAMES } from "../src/cache/pair-features.ts";
import { featurisedPairs } from "./verifier-data.mjs";
import { mulberry32 } from "./seeded-random.mjs";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    train: { type: "string", default: path.resolve(repoRoot, "../shared/data/semantic-cache/qqp-train.jsonl") },
    // Tuned above the 0.97 acceptance target: the threshold is picked on the same folds it is scored on.
    target: { type: "string", default: "0.98" },
    seed: { type: "string", default: "14" },
    // The first N pairs of the file only (0: all), when embedding all of them does not fit the time.
    pairs: { type: "string", default: "0" },
    "min-recall": { type: "string", default: "0.05" },
    out: { type: "string", default: path.join(repoRoot, "src/cache/verifier-weights.ts") },
  },
  strict: true,
});
const TARGET = Number(args.target);
const FOLDS = 5;
const CANDIDATES = [0.7, 0.75, 0.8, 0.85, 0.9];
const L2S = [0.1, 1, 10];
const VETOES = { numbers: "numbers_differ", entities: "entities_differ", negation: "negation_differs", direction: "direction_swap", antonym: "antonym_swap" };
// A veto stays unless the model alone is precise on the pairs it fires on, with enough of them to tell.
const VETO_MIN_EVIDENCE = 30;


function standardiser(rows) {
  const d = rows[0].length;
  const mean = new Array(d).fill(0);
  const std = new Array(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j] / rows.length;
  for (const r of rows) for (let j = 0; j < d; j++) std[j] += (r[j] - mean[j]) ** 2 / rows.length;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) || 1;
  return { mean, std };
}

function solve(A, b) {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[piv][c])) piv = r;
    [M[c], M[piv]] = [M[piv], M[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  return M.map((row, i) => row[n] / row[i]);
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

// Monotone in every feature: more overlap never lowers the probability, another difference never
// raises it. Unconstrained, the fit learns QQP's quirk that near-identical questions are often
// labelled different (its hard negatives differ in one word), and scores a question against itself
// lower than against a rewording.
const MORE_SIMILAR = new Set([
  "cosine", "cosine_above_090", "word_jaccard", "content_jaccard", "content_cover_min", "char3_jaccard",
  "length_ratio", "same_text", "cosine_x_content_jaccard", "idf_jaccard",
]);
const SIGNS = FEATURE_NAMES.map((f) => (MORE_SIMILAR.has(f) ? 1 : -1));

/**
 * L2-regularised logistic regression with sign constraints, by Newton's method on the free
 * weights; a weight that takes the wrong sign is pinned at 0 and the rest refitted. Returns weights
 * on the raw feature scale.
 */
function fitLogistic(X, y, l2) {
  const pinned = new Set();
  for (;;) {
    const fit = fitFree(X, y, l2, pinned);
    const wrong = fit.weights.map((w, j) => (w * SIGNS[j] < 0 ? j : -1)).filter((j) => j >= 0);
    if (wrong.length === 0) return fit;
    for (const j of wrong) pinned.add(j);
  }
}

function fitFree(X, y, l2, pinned) {
  const { mean, std } = standardiser(X);
  const Z = X.map((r) => [1, ...r.map((v, j) => (pinned.has(j) ? 0 : (v - mean[j]) / std[j]))]);
  const d = Z[0].length;
  let w = new Array(d).fill(0);
  for (let iter = 0; iter < 25; iter++) {
    const H = Array.from({ length: d }, () => new Array(d).fill(0));
    const g = new Array(d).fill(0);
    for (let i = 0; i < Z.length; i++) {
      const z = Z[i];
      let s = 0;
      for (let j = 0; j < d; j++) s += w[j] * z[j];
      const p = sigmoid(s);
      const r = p - y[i];
      const h = Math.max(p * (1 - p), 1e-9);
      for (let j = 0; j < d; j++) {
        g[j] += r * z[j];
        const hz = h * z[j];
        for (let k = j; k < d; k++) H[j][k] += hz * z[k];
      }
    }
    for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) H[j][k] = H[k][j];
    for (let j = 1; j < d; j++) {
      g[j] += l2 * w[j];
      H[j][j] += l2;
    }
    const step = solve(H, g);
    w = w.map((v, j) => v - step[j]);
    if (Math.max(...step.map(Math.abs)) < 1e-7) break;
  }
  const weights = w.slice(1).map((v, j) => v / std[j]);
  const bias = w[0] - w.slice(1).reduce((s, v, j) => s + (v * mean[j]) / std[j], 0);
  return { weights, bias };
}

const predict = (m, x) => sigmoid(x.reduce((s, v, j) => s + m.weights[j] * v, m.bias));

/** Out-of-fold probabilities for the pairs at or above the candidate cosine. */
function outOfFold(pairs, folds, candidate, l2) {
  const p = new Map();
  for (let f = 0; f < FOLDS; f++) {
    const train = pairs.filter((q, i) => folds[i] !== f && q.cosine >= candidate);
    const model = fitLogistic(train.map((q) => q.features), train.map((q) => (q.duplicate ? 1 : 0)), l2);
    pairs.forEach((q, i) => {
      if (folds[i] === f && q.cosine >= candidate) p.set(q, predict(model, q.features));
    });
  }
  return p;
}

const vetoed = (q, vetoes) => vetoes.some((v) => q.features[FEATURE_NAMES.indexOf(VETOES[v])] > 0);

function scoreAt(pairs, probs, t, vetoes) {
  let tp = 0;
  let fp = 0;
  for (const q of pairs) {
    const p = probs.get(q);
    if (p === undefined || p < t || vetoed(q, vetoes)) continue;
    if (q.duplicate) tp++;
    else fp++;
  }
  const positives = pairs.filter((q) => q.duplicate).length;
  return { tp, fp, precision: tp + fp ? tp / (tp + fp) : 0, recall: tp / positives };
}

// The lowest threshold whose hits, and every stricter threshold's, reach the target: a threshold
// that only reaches it by luck at one point of the curve is not kept.
// The lowest threshold whose hits, and every stricter threshold's with at least MIN_RECALL of the
// duplicates, reach the precision target. When the target is out of reach, the next lower target
// of FALLBACK_TARGETS that is reached. Below 5% recall a threshold is picked on a few dozen hits,
// i.e. for noise (QQP's own label errors dominate the top of the ranking), and saves next to nothing.
const MIN_RECALL = Number(args["min-recall"]);
const FALLBACK_TARGETS = [0.95, 0.94, 0.93, 0.92, 0.91, 0.9, 0.85, 0.8];
function tuneThreshold(pairs, probs, vetoes) {
  const grid = Array.from({ length: 199 }, (_, i) => (i + 1) / 200);
  const curve = grid.map((t) => ({ threshold: t, ...scoreAt(pairs, probs, t, vetoes) })).filter((s) => s.recall >= MIN_RECALL);
  for (const target of [TARGET, ...FALLBACK_TARGETS.filter((t) => t < TARGET)]) {
    let best = null;
    for (let i = curve.length - 1; i >= 0; i--) {
      if (curve[i].precision < target) break;
      best = curve[i];
    }
    if (best) return { ...best, target, reached: target === TARGET };
  }
  return null;
}

async function main() {
  const { pairs, idf } = await featurisedPairs([args.train], undefined, {}, Number(args.pairs));
  const rand = mulberry32(Number(args.seed));
  const folds = pairs.map(() => Math.floor(rand() * FOLDS));
  const allVetoes = Object.keys(VETOES);

  // Model selection: candidate cosine x L2, all vetoes on, best CV recall at the target precision.
  let chosen = null;
  for (const candidate of CANDIDATES) {
    for (const l2 of L2S) {
      const probs = outOfFold(pairs, folds, candidate, l2);
      const tuned = tuneThreshold(pairs, probs, allVetoes);
      const curve = [0.5, 0.7, 0.8, 0.9, 0.95].map((t) => {
        const c = scoreAt(pairs, probs, t, allVetoes);
        return `${t}:${c.precision.toFixed(3)}/${c.recall.toFixed(3)}`;
      });
      console.log(`candidate ${candidate} l2 ${l2}: P/R ${curve.join(" ")}; ${tuned ? `P>=${tuned.target}: t ${tuned.threshold} P ${tuned.precision.toFixed(4)} R ${tuned.recall.toFixed(4)}` : "no threshold"}`);
      const better = tuned && (!chosen || tuned.target > chosen.tuned.target || (tuned.target === chosen.tuned.target && tuned.recall > chosen.tuned.recall));
      if (better) chosen = { candidate, l2, probs, tuned };
    }
  }
  if (!chosen) throw new Error("no setting gives any hits in cross-validation");
  if (!chosen.tuned.reached) console.log(`WARNING: no setting reaches CV precision ${TARGET} at recall >= ${MIN_RECALL}; shipping the best at P >= ${chosen.tuned.target}`);

  // Which vetoes the model already covers: among pairs it accepts on its own where the rule fires,
  // precision at the target with enough evidence means the rule adds nothing but lost recall.
  const vetoReport = {};
  const kept = [];
  for (const v of allVetoes) {
    const idx = FEATURE_NAMES.indexOf(VETOES[v]);
    let tp = 0;
    let fp = 0;
    for (const q of pairs) {
      const p = chosen.probs.get(q);
      if (p === undefined || p < chosen.tuned.threshold || q.features[idx] === 0) continue;
      if (q.duplicate) tp++;
      else fp++;
    }
    const covered = tp + fp >= VETO_MIN_EVIDENCE && tp / (tp + fp) >= TARGET;
    vetoReport[v] = { fires_on_accepted: tp + fp, duplicates_among_them: tp, kept: !covered };
    if (!covered) kept.push(v);
  }
  const finalTuned = tuneThreshold(pairs, chosen.probs, kept);
  // What the model still gets wrong at that threshold, for the report.
  const wrong = pairs.filter((q) => !q.duplicate && (chosen.probs.get(q) ?? 0) >= finalTuned.threshold && !vetoed(q, kept));
  for (const q of wrong.sort((x, y) => chosen.probs.get(y) - chosen.probs.get(x)).slice(0, 12)) console.log(`  FP p=${chosen.probs.get(q).toFixed(3)} cos=${q.cosine.toFixed(3)}: ${q.a} | ${q.b}`);
  const train = pairs.filter((q) => q.cosine >= chosen.candidate);
  const model = fitLogistic(train.map((q) => q.features), train.map((q) => (q.duplicate ? 1 : 0)), chosen.l2);

  const meta = {
    trained_on: `${path.relative(repoRoot, args.train)}${Number(args.pairs) ? ` (first ${args.pairs} pairs)` : ""}`,
    pairs: pairs.length,
    candidates: train.length,
    seed: Number(args.seed),
    cv_target_precision: TARGET,
    l2: chosen.l2,
    cv: { target_reached: finalTuned.reached, precision_target_met: finalTuned.target, threshold: finalTuned.threshold, tp: finalTuned.tp, fp: finalTuned.fp, precision: Number(finalTuned.precision.toFixed(4)), recall: Number(finalTuned.recall.toFixed(4)) },
    vetoes: vetoReport,
  };
  const round = (x) => Number(x.toPrecision(8));
  const body = {
    features: [...FEATURE_NAMES],
    weights: model.weights.map(round),
    bias: round(model.bias),
    threshold: finalTuned.threshold,
    vetoes: kept,
    candidate_cosine: { "local/use-lite": chosen.candidate },
    idf,
  };
  const text = `// Written by \`npm run train:verifier\` (bench/train-verifier.mjs): do not edit by hand.
// Logistic regression over pairFeatures on the raw feature scale, trained on QQP train only.
// candidate_cosine lists the embedders the verifier was trained for; any other embedder keeps its
// own calibrated cosine threshold as the candidate cut and the verifier only narrows it.
// Training: ${JSON.stringify(meta)}
import type { VerifierWeights } from "./semantic-verifier";

export const VERIFIER: VerifierWeights = ${JSON.stringify(body)};
`;
  await fs.writeFile(args.out, text);
  console.log(`chosen: candidate ${chosen.candidate}, l2 ${chosen.l2}, vetoes ${kept.join(",") || "none"}`);
  console.log(`CV on train: t ${finalTuned.threshold} P ${finalTuned.precision.toFixed(4)} (${finalTuned.tp}/${finalTuned.tp + finalTuned.fp}) R ${finalTuned.recall.toFixed(4)}`);
  console.log(`wrote ${path.relative(process.cwd(), args.out)}`);
}

await main();

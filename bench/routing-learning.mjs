// The learned router's two questions, on RouteLLM's per-prompt labels (weak Mixtral, strong GPT-4):
// (a) how well it routes prompts from subjects it never saw, over several random subject splits;
// (b) how many labels from the same kind of traffic it needs before it beats the complexity score.
// The learned model is a logistic regression over [complexity score, kNN P(weak fails), mean
// neighbour similarity], fitted on out-of-fold kNN votes so its probability is calibrated on
// votes it did not see its own label in. Used by eval-routing.mjs; labels only ever score routers
// or train on the labelled side of a split.

import { estimateTier, topK } from "../src/routing/knn-router.ts";

import { mulberry32 as rng } from "./seeded-random.mjs";

export const LEARNED_FEATURES = ["complexity", "knn_fail", "knn_similarity"];


function shuffle(items, seed) {
  const rand = rng(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** kNN features of each query against a labelled pool: P(weak fails) and mean similarity of the k nearest. */
function knnFeatures(queries, pool, k) {
  const base = pool.reduce((a, r) => a + r.weak, 0) / Math.max(1, pool.length);
  return queries.map((q) => {
    const near = topK(q.vector, pool, k, { normalized: true });
    const neighbours = near.map((n) => ({ vector: [], tier: "fast", good: n.weak === 1, similarity: n.similarity }));
    const { pGood } = estimateTier(null, neighbours, "fast", { k, prior: { fast: base }, priorStrength: 2 });
    const sim = near.reduce((a, n) => a + n.similarity, 0) / Math.max(1, near.length);
    return { knnFail: 1 - pGood, sim };
  });
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

/** Logistic regression by Newton steps on [1, ...x]; small L2 so a constant column cannot diverge. */
export function fitLogistic(X, y, l2 = 1e-2) {
  const d = X[0].length + 1;
  let w = new Array(d).fill(0);
  for (let it = 0; it < 30; it++) {
    const H = Array.from({ length: d }, () => new Array(d).fill(0));
    const g = new Array(d).fill(0);
    X.forEach((x, i) => {
      const z = [1, ...x];
      const p = sigmoid(z.reduce((s, v, j) => s + v * w[j], 0));
      const h = Math.max(p * (1 - p), 1e-9);
      for (let a = 0; a < d; a++) {
        g[a] += (p - y[i]) * z[a];
        for (let b = 0; b < d; b++) H[a][b] += h * z[a] * z[b];
      }
    });
    for (let a = 1; a < d; a++) (g[a] += l2 * w[a]), (H[a][a] += l2);
    // Gaussian elimination on the small system.
    const M = H.map((row, i) => [...row, g[i]]);
    for (let c = 0; c < d; c++) {
      let p = c;
      for (let r = c + 1; r < d; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
      [M[c], M[p]] = [M[p], M[c]];
      for (let r = 0; r < d; r++) {
        if (r === c || M[c][c] === 0) continue;
        const f = M[r][c] / M[c][c];
        for (let k = c; k <= d; k++) M[r][k] -= f * M[c][k];
      }
    }
    const step = M.map((row, i) => (row[i] === 0 ? 0 : row[d] / row[i]));
    w = w.map((v, j) => v - step[j]);
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { bias: w[0], weights: w.slice(1) };
}

const predict = (m, x) => sigmoid(x.reduce((s, v, j) => s + v * m.weights[j], m.bias));
const row = (r, f) => [r.complexity, f.knnFail, f.sim];

/**
 * Fits the learned router on a labelled set: kNN features out of fold (folds given per row), then
 * the logistic regression on them with the label "weak failed".
 */
export function fitLearned(labelled, foldOf, k) {
  const foldIds = labelled.map((r, i) => foldOf(r, i));
  const X = new Array(labelled.length);
  for (const f of new Set(foldIds)) {
    const idx = foldIds.map((g, i) => (g === f ? i : -1)).filter((i) => i >= 0);
    const pool = labelled.filter((_, i) => foldIds[i] !== f);
    const feats = knnFeatures(idx.map((i) => labelled[i]), pool, k);
    idx.forEach((i, j) => (X[i] = row(labelled[i], feats[j])));
  }
  return fitLogistic(X, labelled.map((r) => 1 - r.weak));
}

/** Scores for test rows (higher: send to strong): complexity, kNN and learned. */
export function routerScores(test, labelled, model, k) {
  const feats = knnFeatures(test, labelled, k);
  return {
    complexity: test.map((r) => r.complexity),
    knn: feats.map((f) => f.knnFail),
    learned: feats.map((f, i) => predict(model, row(test[i], f))),
  };
}

const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs), runs: xs };
};

/** (a) Unseen subjects: each seed holds out a random quarter of the files. */
export function unseenSubjects(rows, apgr, { seeds, k }) {
  const files = [...new Set(rows.map((r) => r.source))].sort();
  const out = { random: [], complexity: [], knn: [], learned: [], models: [] };
  for (const seed of seeds) {
    const held = new Set(shuffle(files, seed).slice(0, Math.round(files.length / 4)));
    const train = rows.filter((r) => !held.has(r.source));
    const test = rows.filter((r) => held.has(r.source));
    const fileFold = new Map([...new Set(train.map((r) => r.source))].map((s, i) => [s, i % 5]));
    const model = fitLearned(train, (r) => fileFold.get(r.source), k);
    const scores = routerScores(test, train, model, k);
    const rand = rng(1000 + seed);
    out.random.push(apgr(test, test.map(() => rand())));
    for (const name of ["complexity", "knn", "learned"]) out[name].push(apgr(test, scores[name]));
    out.models.push(model);
  }
  return { seeds, heldOutFiles: Math.round(files.length / 4), ...Object.fromEntries(["random", "complexity", "knn", "learned"].map((n) => [n, stats(out[n])])), models: out.models };
}

/** (b) In-domain learning curve: n labels drawn from the same traffic, scored on a fixed held-out 30%. */
export function learningCurve(rows, apgr, { seeds, sizes, k, isTest }) {
  const test = rows.filter(isTest);
  const pool = rows.filter((r) => !isTest(r));
  const curve = [];
  const complexity = apgr(test, test.map((r) => r.complexity));
  for (const n of sizes) {
    const knn = [];
    const learned = [];
    for (const seed of seeds) {
      const labelled = shuffle(pool, seed * 7919 + n).slice(0, n);
      const kk = Math.min(k, Math.max(5, Math.floor(n / 10)));
      const model = fitLearned(labelled, (_, i) => i % 5, kk);
      const scores = routerScores(test, labelled, model, kk);
      knn.push(apgr(test, scores.knn));
      learned.push(apgr(test, scores.learned));
    }
    curve.push({ labels: n, complexity, knn: stats(knn), learned: stats(learned) });
  }
  return { testPrompts: test.length, poolPrompts: pool.length, curve };
}

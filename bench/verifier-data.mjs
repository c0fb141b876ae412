// Shared by train-verifier.mjs and eval-semantic.mjs: pairs with their cosine (local USE-lite,
// cached on disk) and the verifier's features, computed by the same code the Worker runs.

import { nearMissFlags } from "../src/cache/near-miss-guard.ts";
import { contentWords, pairFeatures } from "../src/cache/pair-features.ts";
import { embedTexts, loadPairs } from "./embedding-cache.mjs";

function dot(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

// Only the commonest words are listed: a word outside the table is rare, and rare words are the
// ones whose mismatch matters. Rounded so the table stays small in the Worker bundle.
export function buildIdf(texts, size = 6000) {
  const unique = [...new Set(texts)];
  const df = new Map();
  for (const t of unique) for (const w of contentWords(t)) df.set(w, (df.get(w) ?? 0) + 1);
  const n = unique.length;
  const top = [...df.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).slice(0, size);
  const words = {};
  for (const [w, d] of top) words[w] = Number(Math.log(n / d).toFixed(2));
  const floor = top.at(-1)?.[1] ?? 1;
  return { words, unknown: Number(Math.log(n / Math.max(1, floor / 2)).toFixed(2)) };
}

/**
 * Pairs from JSONL files, each with cosine, guard flags and features (idf from the training texts).
 * With `embedding.cachedOnly`, only the pairs whose two vectors are already cached (none embedded).
 */
export async function featurisedPairs(files, idf, embedding = {}, limit = 0) {
  let pairs = [];
  for (const file of files) pairs.push(...(await loadPairs(file)));
  if (limit > 0) pairs = pairs.slice(0, limit);
  const vectors = await embedTexts(pairs.flatMap((p) => [p.a, p.b]), embedding);
  if (embedding.cachedOnly) pairs = pairs.filter((p) => vectors.has(p.a) && vectors.has(p.b));
  idf ??= buildIdf(pairs.flatMap((p) => [p.a, p.b]));
  for (const p of pairs) {
    p.cosine = p.a === p.b ? 1 : dot(vectors.get(p.a), vectors.get(p.b));
    p.flags = nearMissFlags(p.a, p.b);
    p.features = pairFeatures(p.a, p.b, p.cosine, p.flags, idf);
  }
  return { pairs, idf, vectors };
}

// The cosine a semantic match needs, per embedder, when a tenant's policy sets none and no learned
// verifier was trained for it: for an embedder the verifier knows (local/use-lite), the cut comes from
// its weights (`candidate_cosine` in src/cache/verifier-weights.ts) and the number here only serves
// the eval as the old cosine-only default. Cosine scales
// differ between models, so one number cannot serve them all. No imports on purpose: the Worker
// bundles it and bench/eval-semantic.mjs reads it directly (Node type stripping), so the curve
// always reports how the shipped default performs.
//
// local/use-lite: `npm run eval:semantic`, qqp-dev, near-miss guard on. The target is precision
// >= 0.97; 0.99 is the most precise threshold of the 0.80-0.99 grid (P 0.970, 32/33, whose one
// false positive is a pair of identical questions labelled non-duplicate: the exact cache answers
// that pair before the semantic stage is asked). Recall there is 2%: USE-lite cannot reach that
// precision any lower. The other two are not calibrated here (no network): they are set high and
// must be recalibrated with the same script (docs/caching.md) before they are trusted.
export const DEFAULT_THRESHOLDS: Readonly<Record<string, number>> = {
  "local/use-lite": 0.99,
  "workers-ai/bge-base-en-v1.5": 0.95,
  "openai/text-embedding-3-small": 0.92,
};

/** For an embedder nobody has calibrated yet. */
export const UNCALIBRATED_THRESHOLD = 0.97;

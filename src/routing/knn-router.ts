// Learned router: "prompts like this one were (or were not) handled well by the cheap tier".
// Pure logic only. Retrieval happens elsewhere (Vectorize in production, `topK` offline), so this
// file can run in the request path and in the offline eval unchanged.
import type { Tier } from "./complexity-score";

export const TIER_ORDER: readonly Tier[] = ["fast", "balanced", "powerful"];

export interface LabelledNeighbour {
  vector: number[];
  /** The tier that answered this past prompt. */
  tier: Tier;
  /** Whether that tier's answer was good enough (graded, validated, or not escalated). */
  good: boolean;
  /** Cosine similarity to the query, when the vector store already returned it. */
  similarity?: number;
}

export interface KnnRouterOptions {
  /**
   * The single cost/quality knob: accept a cheaper tier only when its estimated probability of being
   * good enough is at least this. Higher sends more traffic to stronger tiers.
   */
  threshold: number;
  /** Use at most this many of the most similar neighbours. */
  k?: number;
  /** Neighbours less similar than this say nothing about the query and are ignored. */
  minSimilarity?: number;
  /** Fewer informative neighbours than this for a tier and it is not judged at all. */
  minEvidence?: number;
  /** Prior P(good) per tier, e.g. the tier's overall success rate; shrinks thin evidence towards it. */
  prior?: Partial<Record<Tier, number>>;
  /** Weight of the prior, in neighbours. */
  priorStrength?: number;
  /**
   * Treat "a cheaper tier was good" as "stronger tiers would be good too" and "a stronger tier
   * failed" as "cheaper tiers would fail too", so sparse per-tier labels still inform every tier.
   */
  assumeMonotone?: boolean;
}

export interface TierEstimate {
  /** Smoothed estimate of P(this tier is good enough for the query). */
  pGood: number;
  /** How many informative neighbours back the estimate. */
  evidence: number;
}

export interface KnnDecision {
  tier: Tier;
  /** Estimated probability that the decision is right (the chosen tier suffices, or cheaper ones do not). */
  confidence: number;
  estimates: Partial<Record<Tier, TierEstimate>>;
}

const DEFAULTS = {
  k: 20,
  minSimilarity: 0,
  minEvidence: 3,
  priorStrength: 2,
  prior: 0.5,
  assumeMonotone: true,
} as const;

function tierRank(tier: Tier): number {
  return TIER_ORDER.indexOf(tier);
}

export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

function dotProduct(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) dot += (a[i] as number) * (b[i] as number);
  return dot;
}

/**
 * Brute-force cosine top-k, most similar first. For offline evaluation and the local vector store;
 * `normalized` skips the norms when every vector is already unit length (a 2x saving in the eval).
 */
export function topK<T extends { vector: ArrayLike<number> }>(
  query: ArrayLike<number>,
  items: readonly T[],
  k: number,
  options: { normalized?: boolean } = {},
): (T & { similarity: number })[] {
  const similarity = options.normalized ? dotProduct : cosineSimilarity;
  const best: { item: T; similarity: number }[] = [];
  if (k <= 0) return [];
  for (const item of items) {
    const s = similarity(query, item.vector);
    if (best.length === k && s <= (best[k - 1] as { similarity: number }).similarity) continue;
    // Insertion into a short sorted list beats a heap for the k (<= a few hundred) used here.
    let at = best.length < k ? best.length : k - 1;
    while (at > 0 && (best[at - 1] as { similarity: number }).similarity < s) at--;
    best.splice(at, 0, { item, similarity: s });
    if (best.length > k) best.pop();
  }
  return best.map(({ item, similarity: s }) => ({ ...item, similarity: s }));
}

function withSimilarity(
  query: ArrayLike<number> | null,
  neighbours: readonly LabelledNeighbour[],
): { tier: Tier; good: boolean; similarity: number }[] {
  return neighbours.map((n) => ({
    tier: n.tier,
    good: n.good,
    similarity: n.similarity ?? (query === null ? 0 : cosineSimilarity(query, n.vector)),
  }));
}

/** Estimates P(`tier` is good enough) from labelled neighbours, similarity-weighted and smoothed. */
export function estimateTier(
  query: ArrayLike<number> | null,
  neighbours: readonly LabelledNeighbour[],
  tier: Tier,
  options: Omit<KnnRouterOptions, "threshold"> = {},
): TierEstimate {
  const k = options.k ?? DEFAULTS.k;
  const minSimilarity = options.minSimilarity ?? DEFAULTS.minSimilarity;
  const monotone = options.assumeMonotone ?? DEFAULTS.assumeMonotone;
  const prior = options.prior?.[tier] ?? DEFAULTS.prior;
  const priorStrength = options.priorStrength ?? DEFAULTS.priorStrength;
  const rank = tierRank(tier);

  const nearest = withSimilarity(query, neighbours)
    .filter((n) => n.similarity >= minSimilarity)
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, k);

  let goodWeight = 0;
  let totalWeight = 0;
  let evidence = 0;
  for (const n of nearest) {
    const nRank = tierRank(n.tier);
    const informative =
      nRank === rank || (monotone && ((n.good && nRank < rank) || (!n.good && nRank > rank)));
    if (!informative) continue;
    // Similarity weighting, floored so that weakly similar but still top-k neighbours count a little.
    const weight = Math.max(n.similarity, 0.05);
    totalWeight += weight;
    if (n.good) goodWeight += weight;
    evidence++;
  }
  // Weight is rescaled to neighbour units so the prior strength means "this many neighbours".
  const scale = evidence > 0 ? evidence / totalWeight : 0;
  const pGood = (goodWeight * scale + prior * priorStrength) / (evidence + priorStrength);
  return { pGood, evidence };
}

/**
 * Picks the cheapest tier whose estimated success probability reaches `options.threshold`. Returns
 * null when no tier has enough evidence, so the caller falls back to the complexity score.
 */
export function decideTier(
  query: ArrayLike<number> | null,
  neighbours: readonly LabelledNeighbour[],
  options: KnnRouterOptions,
): KnnDecision | null {
  const minEvidence = options.minEvidence ?? DEFAULTS.minEvidence;
  const estimates: Partial<Record<Tier, TierEstimate>> = {};
  let judged = false;
  // Chance that every cheaper tier judged so far falls short, i.e. that skipping them was right.
  let cheaperFail = 1;
  for (const tier of TIER_ORDER) {
    const estimate = estimateTier(query, neighbours, tier, options);
    estimates[tier] = estimate;
    if (estimate.evidence < minEvidence) continue;
    judged = true;
    if (estimate.pGood >= options.threshold) {
      return { tier, confidence: estimate.pGood, estimates };
    }
    if (tier !== "powerful") cheaperFail = Math.min(cheaperFail, 1 - estimate.pGood);
  }
  if (!judged) return null;
  // Nothing cheap reached the bar: the strongest tier is the only safe answer, even if no
  // neighbour shows it succeeding.
  return { tier: "powerful", confidence: cheaperFail, estimates };
}

// The second stage of a semantic lookup: the vector search proposes a cached question, this
// decides whether it asks the same thing. A logistic regression over pairFeatures, trained and
// tuned on QQP train only by bench/train-verifier.mjs, which writes verifier-weights.ts. A dot
// product over a few dozen numbers: microseconds, no model call. No value imports, so the bench
// runs this very code (Node type stripping) to score the shipped verifier.

export type VerifierVeto = "numbers" | "entities" | "negation" | "direction" | "antonym";

export interface VerifierWeights {
  /** pairFeatures' FEATURE_NAMES when the weights were trained. */
  features: readonly string[];
  weights: readonly number[];
  bias: number;
  /** The probability a match needs, chosen by cross-validation on train. */
  threshold: number;
  /** Hand-written near-miss rules kept because the model does not cover them. */
  vetoes: readonly VerifierVeto[];
  /** The cosine a vector match needs to reach the verifier, per embedder it was trained for. */
  candidate_cosine: Readonly<Record<string, number>>;
  idf: { words: Readonly<Record<string, number>>; unknown: number };
  /**
   * Weights on the two embeddings themselves, |u-v| and u*v element-wise (the InferSent pair
   * classifier), for the one embedder they were trained on. Without them the model is lexical only.
   */
  vector?: { embedder: string; abs_diff: readonly number[]; product: readonly number[] };
}

/** The two questions' unit vectors from the embedder the weights' `vector` part was trained on. */
export interface PairVectors {
  query: ArrayLike<number>;
  cached: ArrayLike<number>;
}

export interface Verdict {
  /** The model's probability that the two questions are the same. */
  p: number;
  /** The probability a match needs: the shipped threshold moved by the entry's feedback. */
  needed: number;
  veto?: VerifierVeto;
  accept: boolean;
}

const VETO_FEATURE: Record<VerifierVeto, string> = {
  numbers: "numbers_differ",
  entities: "entities_differ",
  negation: "negation_differs",
  direction: "direction_swap",
  antonym: "antonym_swap",
};

/** Throws when the weights were trained on other features than the code computes. */
export function checkWeights(model: VerifierWeights, names: readonly string[]): void {
  if (model.features.length !== names.length || model.weights.length !== names.length || model.features.some((f, i) => f !== names[i])) {
    throw new Error("verifier-weights.ts was trained on other features: rerun npm run train:verifier");
  }
}

/**
 * The decision on one pair's features; `shift` moves the needed probability (bounded by the caller).
 * A model with vector weights needs both vectors: without them it cannot score, and rejects.
 */
export function verdictFor(x: readonly number[], model: VerifierWeights, shift = 0, vectors?: PairVectors): Verdict {
  let z = model.bias;
  for (let i = 0; i < x.length; i++) z += (model.weights[i] ?? 0) * (x[i] ?? 0);
  const vw = model.vector;
  if (vw) {
    const d = vw.abs_diff.length;
    if (!vectors || vectors.query.length !== d || vectors.cached.length !== d) {
      return { p: 0, needed: model.threshold, accept: false };
    }
    // 2 x d multiply-adds: a few microseconds for USE-lite's 512 dimensions.
    for (let i = 0; i < d; i++) {
      const u = vectors.query[i] ?? 0;
      const v = vectors.cached[i] ?? 0;
      z += (vw.abs_diff[i] ?? 0) * Math.abs(u - v) + (vw.product[i] ?? 0) * u * v;
    }
  }
  const p = 1 / (1 + Math.exp(-z));
  const needed = Math.min(0.999, Math.max(0.01, model.threshold + shift));
  const veto = model.vetoes.find((v) => (x[model.features.indexOf(VETO_FEATURE[v])] ?? 0) > 0);
  return { p, needed, veto, accept: !veto && p >= needed };
}

// Written by `npm run eval:routing` (bench/eval-routing.mjs, bench/routing-learning.mjs): do not edit by hand.
// P(the cheaper tier fails) = sigmoid(bias + weights . [complexity score, kNN P(fail), mean neighbour similarity]),
// fitted on RouteLLM's MMLU + GSM8K labels. Evidence: {"unseen_learned":0.531234,"unseen_complexity":0.502028,"curve":[{"labels":100,"complexity":0.462792,"learned":0.487157,"learned_min":0.443777},{"labels":500,"complexity":0.462792,"learned":0.50338,"learned_min":0.481779},{"labels":2000,"complexity":0.462792,"learned":0.529264,"learned_min":0.517207}]}
export const LEARNED_ROUTER = {
  features: ["complexity","knn_fail","knn_similarity"],
  bias: -2.12781,
  weights: [2.01242,2.88342,-0.156533],
  k: 20,
  /** Labelled samples a tenant needs before the learned router decides (null: it never beat the complexity score). */
  min_labelled: 500,
} as const;

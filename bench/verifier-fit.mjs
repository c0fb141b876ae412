// Fitting code for bench/train-verifier.mjs: L2-regularised logistic regression over the pair's
// lexical features plus the InferSent-style vector features |u-v| and u*v of the two embeddings,
// by L-BFGS on standardised columns. Lexical weights can be sign-constrained (a weight that takes
// the wrong sign is pinned at 0 and the rest refitted); vector weights are free.

/** One row: lexical features, then |u-v| and u*v of the two (unit) vectors. */
export function pairRow(features, u, v) {
  const d = u.length;
  const row = new Float64Array(features.length + 2 * d);
  row.set(features, 0);
  const off = features.length;
  for (let i = 0; i < d; i++) {
    row[off + i] = Math.abs(u[i] - v[i]);
    row[off + d + i] = u[i] * v[i];
  }
  return row;
}

function standardiser(rows) {
  const d = rows[0].length;
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j];
  for (let j = 0; j < d; j++) mean[j] /= rows.length;
  for (const r of rows) for (let j = 0; j < d; j++) std[j] += (r[j] - mean[j]) ** 2;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j] / rows.length) || 1;
  return { mean, std };
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

// Loss and gradient of sum(logloss) + l2/2 |w|^2 (bias unpenalised) on standardised rows Z (w[0] bias).
function lossGrad(Z, y, w, l2, active) {
  const d = w.length;
  const g = new Float64Array(d);
  let loss = 0;
  for (let i = 0; i < Z.length; i++) {
    const z = Z[i];
    let s = w[0];
    for (let j = 1; j < d; j++) s += w[j] * z[j - 1];
    // Stable log(1+e^s) - y*s.
    loss += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - y[i] * s;
    const r = sigmoid(s) - y[i];
    g[0] += r;
    for (let j = 1; j < d; j++) g[j] += r * z[j - 1];
  }
  for (let j = 1; j < d; j++) {
    if (!active[j]) {
      g[j] = 0;
      continue;
    }
    loss += 0.5 * l2 * w[j] * w[j];
    g[j] += l2 * w[j];
  }
  return { loss, g };
}

const dotv = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

function lbfgs(Z, y, l2, active, w0, maxIter = 150) {
  let w = Float64Array.from(w0);
  let { loss, g } = lossGrad(Z, y, w, l2, active);
  const S = [];
  const Y = [];
  for (let it = 0; it < maxIter; it++) {
    // Two-loop recursion.
    const q = Float64Array.from(g);
    const alphas = [];
    for (let k = S.length - 1; k >= 0; k--) {
      const rho = 1 / dotv(Y[k], S[k]);
      const a = rho * dotv(S[k], q);
      alphas.push(a);
      for (let j = 0; j < q.length; j++) q[j] -= a * Y[k][j];
    }
    let gamma = 1 / Math.max(1, Z.length);
    if (S.length) gamma = dotv(S.at(-1), Y.at(-1)) / dotv(Y.at(-1), Y.at(-1));
    for (let j = 0; j < q.length; j++) q[j] *= gamma;
    for (let k = 0; k < S.length; k++) {
      const rho = 1 / dotv(Y[k], S[k]);
      const b = rho * dotv(Y[k], q);
      const a = alphas[S.length - 1 - k];
      for (let j = 0; j < q.length; j++) q[j] += S[k][j] * (a - b);
    }
    for (let j = 0; j < q.length; j++) if (!active[j]) q[j] = 0;
    const slope = -dotv(g, q);
    if (slope >= 0) break;
    let step = 1;
    let next;
    for (let ls = 0; ls < 30; ls++) {
      const wn = w.map((v, j) => v - step * q[j]);
      next = { w: wn, ...lossGrad(Z, y, wn, l2, active) };
      if (next.loss <= loss + 1e-4 * step * slope) break;
      step /= 2;
    }
    const s = next.w.map((v, j) => v - w[j]);
    const yy = next.g.map((v, j) => v - g[j]);
    const improvement = loss - next.loss;
    w = next.w;
    g = next.g;
    loss = next.loss;
    if (dotv(s, yy) > 1e-12) {
      S.push(s);
      Y.push(yy);
      if (S.length > 10) {
        S.shift();
        Y.shift();
      }
    }
    if (improvement < 1e-7 * Math.max(1, Math.abs(loss))) break;
  }
  return w;
}

/**
 * Fits weights on the raw feature scale. `signs[j]` is +1 / -1 for a constrained column, 0 for free.
 * Returns { weights, bias }.
 */
export function fitLogistic(rows, y, l2, signs) {
  const { mean, std } = standardiser(rows);
  const Z = rows.map((r) => r.map((v, j) => (v - mean[j]) / std[j]));
  const d = rows[0].length + 1;
  const active = new Uint8Array(d).fill(1);
  let w = new Float64Array(d);
  for (;;) {
    w = lbfgs(Z, y, l2, active, w);
    let changed = false;
    for (let j = 0; j < signs.length; j++) {
      if (signs[j] !== 0 && active[j + 1] && w[j + 1] * signs[j] < 0) {
        active[j + 1] = 0;
        w[j + 1] = 0;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const weights = Array.from(w.slice(1), (v, j) => v / std[j]);
  let bias = w[0];
  for (let j = 0; j < weights.length; j++) bias -= weights[j] * mean[j];
  return { weights, bias };
}

export function predict(model, row) {
  let s = model.bias;
  for (let j = 0; j < row.length; j++) s += model.weights[j] * row[j];
  return sigmoid(s);
}

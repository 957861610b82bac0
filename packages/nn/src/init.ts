import { normal } from '@nerflow/core';

/** Keras' defaults, seeded: glorot_uniform kernels, orthogonal recurrent kernels, uniform(±0.05) embeddings. */
export function glorotUniform(fanIn: number, fanOut: number, n: number, rand: () => number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * limit);
}

export function uniform(n: number, limit: number, rand: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * limit);
}

/**
 * Keras' Orthogonal for a (rows × cols) kernel with rows < cols: QR of a (cols × rows) normal matrix,
 * transposed, so the rows of the result are orthonormal. Gram–Schmidt gives QR with a positive diagonal.
 */
export function orthogonal(rows: number, cols: number, rand: () => number): Float32Array {
  const gauss = normal(rand);
  const long = Math.max(rows, cols);
  const short = Math.min(rows, cols);
  const vecs: Float64Array[] = Array.from({ length: short }, () => Float64Array.from({ length: long }, gauss));
  for (let i = 0; i < short; i++) {
    const v = vecs[i];
    for (let j = 0; j < i; j++) {
      const u = vecs[j];
      let d = 0;
      for (let k = 0; k < long; k++) d += v[k] * u[k];
      for (let k = 0; k < long; k++) v[k] -= d * u[k];
    }
    let norm = 0;
    for (let k = 0; k < long; k++) norm += v[k] * v[k];
    norm = Math.sqrt(norm);
    for (let k = 0; k < long; k++) v[k] /= norm;
  }
  const out = new Float32Array(rows * cols);
  // rows < cols: row i of the result is vecs[i]; rows ≥ cols: column j is vecs[j]
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[r * cols + c] = rows < cols ? vecs[r][c] : vecs[c][r];
  return out;
}

// Gradient checks for the fused kernel: central finite differences of the loss against the analytic gradients
// that FusedBiLstm.compute returns (one loop for every head and feature: softmax, CRF, char CNN), and the
// comparisons with the tf.layers reference model.
import assert from 'node:assert/strict';
import { tf } from '../backend.js';
import type { Batch } from '../data.js';
import type { FusedBiLstm } from '../fused.js';
import type { LayersBiLstm } from '../layers.js';

/** The names of every weight of m: the BiLSTM's and dense layer's (shapes()), then the head's (the CRF's). */
export function weightNames(m: FusedBiLstm): string[] {
  return [...m.shapes(), ...m.headShapes()].map(([name]) => name);
}

/** ||a − n|| / ||a + n|| over the checked entries, the usual gradient-check measure. */
export function relError(a: ArrayLike<number>, n: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - n[i]) ** 2;
    den += (a[i] + n[i]) ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

/**
 * Weights less tame than the init, so every path matters: every weight (the head's too) moves by a uniform
 * draw in [−0.3, 0.3), the CRF's (zeros at init) by five times that; the char embedding's padding row stays 0.
 */
export function roughen(m: FusedBiLstm, seed: number): void {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 0.6 - 0.3;
  for (const name of weightNames(m)) {
    const w = m.view('param', name);
    for (let i = 0; i < w.length; i++) w[i] += name.startsWith('crf/') ? 5 * rand() : rand();
  }
  if (m.spec.chars) m.view('param', 'char_embedding/embeddings').fill(0, 0, m.spec.chars.dim);
}

/** The gradient of each embedding row: the kernel's per-token input gradient dx summed over the real tokens. */
export function embeddingRowGrads(batch: Batch, dx: Float32Array, vocabSize: number, E: number): Float32Array {
  const demb = new Float32Array(vocabSize * E);
  for (let r = 0; r < batch.size; r++)
    for (let t = 0; t < batch.lengths[r]; t++) {
      const pos = r * batch.steps + t;
      for (let k = 0; k < E; k++) demb[batch.tokens[pos] * E + k] += dx[pos * E + k];
    }
  return demb;
}

export interface GradCheckOptions {
  /** Finite-difference step (default 1e-2). */
  eps?: number;
  /** Weights whose every entry is checked; the others are sampled (about 23 entries each). */
  everyEntry?: (name: string) => boolean;
  /** A step other than eps for some weights (e.g. near max-pooling's kinks). */
  stepOf?: (name: string) => number | undefined;
  /** The first entry checked of a weight (e.g. past a padding row that is never read; default 0). */
  firstEntry?: (name: string) => number;
  /** Embedding entries checked as [token position in the batch, dimension]: the JS table is perturbed. */
  embedding?: [number, number][];
}

export interface GradCheck {
  analytic: number[];
  numeric: number[];
  /** relError(analytic, numeric) */
  err: number;
  /** The analytic gradients of every weight. */
  grads: Record<string, Float32Array>;
}

/**
 * Compares the analytic gradient of every weight of m (shapes() then headShapes()) with the central difference
 * (L(w + h) − L(w − h)) / 2h of the loss on batch. With dropout, every pass sees the same masks: the model's
 * random stream is replayed from one fixed list of draws.
 */
export function gradCheck(m: FusedBiLstm, batch: Batch, o: GradCheckOptions = {}): GradCheck {
  const eps = o.eps ?? 1e-2;
  const draws = Array.from({ length: 4096 }, m.rand);
  const fixed = () => {
    let k = 0;
    m.rand = () => draws[k++];
  };
  fixed();
  const { grads, dx } = m.compute(batch, true);
  const analytic: number[] = [];
  const numeric: number[] = [];
  const lossAt = () => {
    fixed();
    return m.compute(batch, false, { dropout: true }).loss;
  };
  for (const name of weightNames(m)) {
    const w = m.view('param', name);
    const every = o.everyEntry?.(name) ? 1 : Math.max(1, Math.floor(w.length / 23));
    const h = o.stepOf?.(name) ?? eps;
    for (let j = o.firstEntry?.(name) ?? 0; j < w.length; j += every) {
      const v = w[j];
      w[j] = v + h;
      const up = lossAt();
      w[j] = v - h;
      const down = lossAt();
      w[j] = v;
      analytic.push(grads![name][j]);
      numeric.push((up - down) / (2 * h));
    }
  }
  // embedding rows: perturb the JS table; a row's gradient is the sum over every position of that word
  const E = m.spec.embeddingDim;
  for (const [pos, k] of o.embedding ?? []) {
    const id = batch.tokens[pos];
    m.emb[id * E + k] += eps;
    const up = lossAt();
    m.emb[id * E + k] -= 2 * eps;
    const down = lossAt();
    m.emb[id * E + k] += eps;
    let sum = 0;
    for (let p = 0; p < batch.tokens.length; p++)
      if (batch.tokens[p] === id && p % batch.steps < batch.lengths[Math.floor(p / batch.steps)]) sum += dx![p * E + k];
    analytic.push(sum);
    numeric.push((up - down) / (2 * eps));
  }
  return { analytic, numeric, err: relError(analytic, numeric), grads: grads! };
}

/**
 * m's word embedding, then its BiLSTM and dense weights, into the tf.layers reference model (its weight order);
 * with the CRF head, the transition, start and end scores into the reference's TF.js-ops CRF too.
 */
export function copyIntoReference(m: FusedBiLstm, ref: LayersBiLstm): void {
  ref.model.setWeights([
    tf.tensor(m.emb, [m.spec.vocabSize, m.spec.embeddingDim]),
    ...m.shapes().map(([name, shape]) => tf.tensor(m.view('param', name).slice(), shape)),
  ]);
  if (ref.crf) {
    const K = m.spec.numTags;
    ref.crf.transitions.assign(tf.tensor(m.view('param', 'crf/transitions').slice(), [K, K]));
    ref.crf.start.assign(tf.tensor(m.view('param', 'crf/start').slice()));
    ref.crf.end.assign(tf.tensor(m.view('param', 'crf/end').slice()));
  }
}

/**
 * The fused model's loss and gradients against the reference's on the same batch: the loss to 1e-5 (relative),
 * the embedding rows' gradient and every weight's (weightNames order, the reference's after its embedding) to a
 * relative error of 1e-4.
 */
export function assertSameAsReference(
  batch: Batch,
  m: FusedBiLstm,
  ours: { loss: number; grads?: Record<string, Float32Array>; dx?: Float32Array },
  theirs: { loss: number; grads: Float32Array[] },
  what: string,
): void {
  assert.ok(
    Math.abs(ours.loss - theirs.loss) < 1e-5 * Math.abs(theirs.loss),
    `loss ${ours.loss} vs ${what} ${theirs.loss}`,
  );
  // embedding gradient: ours per token (dx), summed into rows
  const demb = embeddingRowGrads(batch, ours.dx!, m.spec.vocabSize, m.spec.embeddingDim);
  const embErr = relError(demb, theirs.grads[0]);
  assert.ok(embErr < 1e-4, `embedding gradient: relative error ${embErr}`);
  weightNames(m).forEach((name, i) => {
    const err = relError(ours.grads![name], theirs.grads[i + 1]);
    assert.ok(err < 1e-4, `${name}: relative error ${err} against ${what}`);
  });
}

/** Two passes of m: the same loss and every weight's gradients (weightNames) to 1e-6, absolute, entry by entry. */
export function assertSameGrads(
  m: FusedBiLstm,
  a: { loss: number; grads?: Record<string, Float32Array> },
  b: { loss: number; grads?: Record<string, Float32Array> },
): void {
  assert.ok(Math.abs(a.loss - b.loss) < 1e-6, `${a.loss} vs ${b.loss}`);
  for (const name of weightNames(m)) {
    const x = a.grads![name];
    const y = b.grads![name];
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-6, `${name}[${i}]`);
  }
}

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend, tf } from './backend.js';
import type { Batch } from './data.js';
import { FusedBiLstm, GATES } from './fused.js';
import type { TaggerSpec } from './spec.js';

before(async () => {
  await initBackend('wasm');
});

const spec: TaggerSpec = { kind: 'fused', vocabSize: 12, numTags: 5, embeddingDim: 4, lstmUnits: 3, dropout: 0, recurrentDropout: 0, learningRate: 1e-3, seed: 3 };
// three rows of lengths 4, 2, 3 padded to 4 steps
const batch: Batch = {
  size: 3, steps: 4, lengths: Int32Array.from([4, 2, 3]),
  tokens: Int32Array.from([2, 5, 7, 3, 9, 4, 0, 0, 11, 6, 2, 0]),
  tags: Int32Array.from([0, 1, 2, 0, 3, 4, 0, 0, 1, 1, 0, 0]),
  index: Int32Array.from([0, 1, 2]),
};

/** ||a − n|| / ||a + n|| over the checked entries, the usual gradient-check measure. */
function relError(a: number[], n: number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - n[i]) ** 2;
    den += (a[i] + n[i]) ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

test('fused BiLSTM gradients match finite differences (every weight, and the embedding rows)', () => {
  const m = new FusedBiLstm(spec);
  // make the weights less tame than the init so every path matters
  tf.tidy(() => {
    for (const [k, v] of Object.entries(m.vars)) {
      const noise = tf.mul(tf.randomUniform(v.shape, -0.3, 0.3, 'float32', 7), k.startsWith('W_') ? 1 : 1);
      v.assign(tf.add(v, k === 'bo' ? noise : tf.mul(noise, (m as unknown as { masks: Record<string, tf.Tensor> }).masks[k])));
    }
  });
  const { grads, dx } = m.compute(batch, true);
  const eps = 1e-2;
  const analytic: number[] = [];
  const numeric: number[] = [];
  for (const [name, v] of Object.entries(m.vars)) {
    const g = grads![name].dataSync();
    const values = v.dataSync().slice();
    // a spread of entries, including ones on the zero off-blocks (their gradient must be 0)
    for (let j = 0; j < values.length; j += Math.max(1, Math.floor(values.length / 23))) {
      const at = (delta: number) => {
        const copy = values.slice();
        copy[j] += delta;
        v.assign(tf.tensor(copy, v.shape));
        return m.compute(batch, false).loss;
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      v.assign(tf.tensor(values, v.shape));
      const masked = name !== 'bo' && (m as unknown as { masks: Record<string, tf.Tensor> }).masks[name].dataSync()[j] === 0;
      if (masked) {
        assert.ok(g[j] === 0, `${name}[${j}] is on a zero block and must get no gradient (got ${g[j]})`);
        continue;
      }
      analytic.push(g[j]);
      numeric.push(fd);
    }
  }
  // embedding rows: perturb the JS table
  const E = spec.embeddingDim;
  for (const [pos, k] of [[0, 0], [1, 2], [4, 3], [9, 1]]) {
    const id = batch.tokens[pos];
    const at = (delta: number) => {
      m.emb[id * E + k] += delta;
      const l = m.compute(batch, false).loss;
      m.emb[id * E + k] -= delta;
      return l;
    };
    let sum = 0; // the row's gradient is the sum over every position holding that word
    for (let p = 0; p < batch.tokens.length; p++) if (batch.tokens[p] === id && p % batch.steps < batch.lengths[Math.floor(p / batch.steps)]) sum += dx![p * E + k];
    analytic.push(sum);
    numeric.push((at(eps) - at(-eps)) / (2 * eps));
  }
  tf.dispose(Object.values(grads!));
  const err = relError(analytic, numeric);
  assert.ok(analytic.length > 100, `${analytic.length} entries checked`);
  assert.ok(err < 1e-3, `relative error ${err}`);
  m.dispose();
});

test('padding never matters: extra padded steps change neither loss nor gradients', () => {
  const m = new FusedBiLstm(spec);
  const a = m.compute(batch, true);
  const wider: Batch = { ...batch, steps: 6, tokens: new Int32Array(18), tags: new Int32Array(18) };
  for (let r = 0; r < 3; r++) for (let t = 0; t < 4; t++) {
    wider.tokens[r * 6 + t] = batch.tokens[r * 4 + t];
    wider.tags[r * 6 + t] = batch.tags[r * 4 + t];
  }
  const b = m.compute(wider, true);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-6, `${a.loss} vs ${b.loss}`);
  for (const g of GATES) {
    const x = a.grads![`W_${g}`].dataSync();
    const y = b.grads![`W_${g}`].dataSync();
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-6, `W_${g}[${i}]`);
  }
  tf.dispose([...Object.values(a.grads!), ...Object.values(b.grads!)]);
  m.dispose();
});

test('training is bit-identical on a rerun with the same seed, and memory stays flat', () => {
  const run = () => {
    const m = new FusedBiLstm({ ...spec, dropout: 0.2, recurrentDropout: 0.2 });
    const losses: number[] = [];
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) losses.push(m.train(batch));
    const after = tf.memory().numTensors;
    const w = m.vars.W_i.dataSync().slice();
    const emb = m.emb.slice();
    m.dispose();
    return { losses, w, emb, grew: after - before };
  };
  const a = run();
  const b = run();
  assert.deepEqual(a.losses, b.losses);
  assert.deepEqual(a.w, b.w);
  assert.deepEqual(a.emb, b.emb);
  assert.equal(a.grew, 0, 'no tensor leaks across batches');
  assert.ok(a.losses[4] < a.losses[0], `the loss falls: ${a.losses.join(', ')}`);
});

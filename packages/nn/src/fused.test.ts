import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend, tf } from './backend.js';
import type { Batch } from './data.js';
import { FusedBiLstm } from './fused.js';
import { LayersBiLstm } from './layers.js';
import type { TaggerSpec } from './spec.js';

before(async () => {
  await initBackend('wasm');
});

const spec: TaggerSpec = {
  kind: 'fused',
  vocabSize: 12,
  numTags: 5,
  embeddingDim: 4,
  lstmUnits: 3,
  dropout: 0,
  recurrentDropout: 0,
  learningRate: 1e-3,
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  seed: 3,
};
// three rows of lengths 4, 2, 3 padded to 4 steps
const batch: Batch = {
  size: 3,
  steps: 4,
  lengths: Int32Array.from([4, 2, 3]),
  tokens: Int32Array.from([2, 5, 7, 3, 9, 4, 0, 0, 11, 6, 2, 0]),
  tags: Int32Array.from([0, 1, 2, 0, 3, 4, 0, 0, 1, 1, 0, 0]),
  index: Int32Array.from([0, 1, 2]),
};

/** ||a − n|| / ||a + n|| over the checked entries, the usual gradient-check measure. */
function relError(a: ArrayLike<number>, n: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - n[i]) ** 2;
    den += (a[i] + n[i]) ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

/** Weights less tame than the init, so every path matters. */
function roughen(m: FusedBiLstm, seed: number): void {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 0.6 - 0.3;
  for (const [name] of m.shapes()) {
    const w = m.view('param', name);
    for (let i = 0; i < w.length; i++) w[i] += rand();
  }
}

for (const kernel of ['exact', 'fma'] as const)
  test(`fused BiLSTM gradients match finite differences (every weight, and the embedding rows; ${kernel} kernel, 2 threads)`, () => {
    for (const s of [spec, { ...spec, lstmUnits: 4, embeddingDim: 5, recurrentDropout: 0.3, dropout: 0.2 }]) {
      const m = new FusedBiLstm(s, { kernel, threads: 2 });
      roughen(m, 7);
      // with dropout, every pass must see the same masks: fix the mask stream for the check
      const draws = Array.from({ length: 4096 }, m.rand);
      const fixed = () => {
        let k = 0;
        m.rand = () => draws[k++];
      };
      fixed();
      const { grads, dx } = m.compute(batch, true);
      const eps = 1e-2;
      const analytic: number[] = [];
      const numeric: number[] = [];
      const lossAt = () => {
        fixed();
        return m.compute(batch, false, { dropout: true }).loss;
      };
      for (const [name] of m.shapes()) {
        const w = m.view('param', name);
        for (let j = 0; j < w.length; j += Math.max(1, Math.floor(w.length / 23))) {
          const v = w[j];
          w[j] = v + eps;
          const up = lossAt();
          w[j] = v - eps;
          const down = lossAt();
          w[j] = v;
          analytic.push(grads![name][j]);
          numeric.push((up - down) / (2 * eps));
        }
      }
      // embedding rows: perturb the JS table; a row's gradient is the sum over every position of that word
      const E = s.embeddingDim;
      for (const [pos, k] of [
        [0, 0],
        [1, 2],
        [4, 3],
        [9, 1],
      ]) {
        const id = batch.tokens[pos];
        m.emb[id * E + k] += eps;
        const up = lossAt();
        m.emb[id * E + k] -= 2 * eps;
        const down = lossAt();
        m.emb[id * E + k] += eps;
        let sum = 0;
        for (let p = 0; p < batch.tokens.length; p++)
          if (batch.tokens[p] === id && p % batch.steps < batch.lengths[Math.floor(p / batch.steps)])
            sum += dx![p * E + k];
        analytic.push(sum);
        numeric.push((up - down) / (2 * eps));
      }
      const err = relError(analytic, numeric);
      assert.ok(analytic.length > 100, `${analytic.length} entries checked`);
      assert.ok(err < 1e-3, `relative error ${err} (units ${s.lstmUnits}, dropout ${s.dropout})`);
    }
  });

for (const kernel of ['exact', 'fma'] as const)
  test(`the fused kernel (${kernel}) computes what the stock tf.layers BiLSTM computes: same loss, same gradient for every weight`, () => {
    const s: TaggerSpec = { ...spec, lstmUnits: 6, embeddingDim: 5 };
    const m = new FusedBiLstm(s, { kernel });
    roughen(m, 11);
    const ref = new LayersBiLstm({ ...s, kind: 'layers' });
    const E = s.embeddingDim;
    const shapes = m.shapes();
    ref.model.setWeights([
      tf.tensor(m.emb, [s.vocabSize, E]),
      ...shapes.map(([name, shape]) => tf.tensor(m.view('param', name).slice(), shape)),
    ]);
    const ours = m.compute(batch, true);
    const theirs = ref.gradients(batch);
    assert.ok(
      Math.abs(ours.loss - theirs.loss) < 1e-5 * Math.abs(theirs.loss),
      `loss ${ours.loss} vs tf.layers ${theirs.loss}`,
    );
    // embedding gradient: ours per token (dx), summed into rows
    const demb = new Float32Array(s.vocabSize * E);
    for (let r = 0; r < batch.size; r++)
      for (let t = 0; t < batch.lengths[r]; t++) {
        const pos = r * batch.steps + t;
        for (let k = 0; k < E; k++) demb[batch.tokens[pos] * E + k] += ours.dx![pos * E + k];
      }
    assert.ok(
      relError(demb, theirs.grads[0]) < 1e-4,
      `embedding gradient: relative error ${relError(demb, theirs.grads[0])}`,
    );
    shapes.forEach(([name], i) => {
      const err = relError(ours.grads![name], theirs.grads[i + 1]);
      assert.ok(err < 1e-4, `${name}: relative error ${err} against tf.layers`);
    });
    assert.deepEqual(
      Array.from(m.evaluate(batch).predictions).filter((_, p) => p % 4 < batch.lengths[Math.floor(p / 4)]),
      Array.from(ref.evaluate(batch).predictions).filter((_, p) => p % 4 < batch.lengths[Math.floor(p / 4)]),
      'same predictions',
    );
    ref.dispose();
  });

test('padding never matters: extra padded steps change neither loss nor gradients', () => {
  const m = new FusedBiLstm(spec);
  roughen(m, 5);
  const a = m.compute(batch, true);
  const wider: Batch = { ...batch, steps: 6, tokens: new Int32Array(18), tags: new Int32Array(18) };
  for (let r = 0; r < 3; r++)
    for (let t = 0; t < 4; t++) {
      wider.tokens[r * 6 + t] = batch.tokens[r * 4 + t];
      wider.tags[r * 6 + t] = batch.tags[r * 4 + t];
    }
  const b = m.compute(wider, true);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-6, `${a.loss} vs ${b.loss}`);
  for (const [name] of m.shapes()) {
    const x = a.grads![name];
    const y = b.grads![name];
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-6, `${name}[${i}]`);
  }
});

test('training is bit-identical on a rerun with the same seed, the loss falls, and memory stays flat', () => {
  const run = () => {
    const m = new FusedBiLstm({ ...spec, dropout: 0.2, recurrentDropout: 0.2 });
    const kernelBytes = () => (m as unknown as { kern: { mark(): number } }).kern.mark();
    const losses: number[] = [];
    losses.push(m.train(batch));
    const after1 = kernelBytes();
    for (let i = 0; i < 4; i++) losses.push(m.train(batch));
    assert.equal(
      kernelBytes(),
      after1,
      'per-batch scratch is released: the kernel heap does not grow batch after batch',
    );
    return { losses, w: m.view('param', 'forward_lstm/kernel').slice(), emb: m.emb.slice() };
  };
  const a = run();
  const b = run();
  assert.deepEqual(a.losses, b.losses);
  assert.deepEqual(a.w, b.w);
  assert.deepEqual(a.emb, b.emb);
  assert.ok(a.losses[4] < a.losses[0], `the loss falls: ${a.losses.join(', ')}`);
});

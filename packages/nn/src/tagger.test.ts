import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { initBackend, tf } from './backend.js';
import type { Batch } from './data.js';
import { registerKernels, unsortedSegmentSum } from './kernels.js';
import type { TaggerSpec } from './spec.js';
import { createTagger, loadTagger } from './tagger.js';

before(async () => {
  await initBackend('wasm');
});

const spec: TaggerSpec = {
  kind: 'fused',
  vocabSize: 40,
  numTags: 5,
  embeddingDim: 6,
  lstmUnits: 5,
  dropout: 0.1,
  recurrentDropout: 0.1,
  learningRate: 0.01,
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  seed: 9,
};
const batch: Batch = {
  size: 3,
  steps: 5,
  lengths: Int32Array.from([5, 2, 4]),
  tokens: Int32Array.from([2, 5, 7, 3, 8, 9, 4, 0, 0, 0, 11, 6, 2, 30, 0]),
  tags: Int32Array.from([0, 1, 2, 0, 3, 4, 0, 0, 0, 0, 1, 1, 0, 2, 0]),
  index: Int32Array.from([0, 1, 2]),
};

for (const kind of ['fused', 'layers'] as const) {
  test(`${kind}: learns a batch, saves model.json + weights.bin and loads back to the same predictions (with optimizer state)`, async () => {
    const t = createTagger({ ...spec, kind });
    const first = t.trainBatch(batch);
    let last = first;
    for (let i = 0; i < 60; i++) last = t.trainBatch(batch);
    assert.ok(last < first * 0.5, `${kind}: loss ${first} → ${last}`);
    const before = t.evaluateBatch(batch);
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-nn-')), 'model');
    await t.save(dir, { withOptimizer: true });
    const u = await loadTagger(dir, { withOptimizer: true });
    const after = u.evaluateBatch(batch);
    assert.deepEqual(after.predictions, before.predictions);
    assert.ok(Math.abs(after.loss - before.loss) < 1e-6);
    // the padded positions' predictions are there but never count: real positions were learned
    let correct = 0;
    for (let r = 0; r < batch.size; r++)
      for (let s = 0; s < batch.lengths[r]; s++)
        correct += Number(after.predictions[r * batch.steps + s] === batch.tags[r * batch.steps + s]);
    assert.equal(correct, 11);
    t.dispose();
    u.dispose();
  });
}

test('the linear-time UnsortedSegmentSum kernel equals the stock cpu kernel on random inputs', async () => {
  const x = tf.randomNormal([200, 7], 0, 1, 'float32', 1);
  const ids = tf.randomUniform([200], 0, 50, 'int32', 2);
  const xs = x.dataSync() as Float32Array;
  const is = ids.dataSync() as Int32Array;
  await tf.setBackend('cpu');
  const stock = tf.unsortedSegmentSum(tf.tensor(xs, [200, 7]), tf.tensor(is, [200], 'int32'), 50).dataSync();
  const ours = new Float32Array(50 * 7);
  unsortedSegmentSum(xs, is, 50, 7, ours);
  for (let i = 0; i < ours.length; i++)
    assert.ok(Math.abs(ours[i] - stock[i]) < 1e-5, `${i}: ${ours[i]} vs ${stock[i]}`);
  registerKernels();
  const registered = tf.unsortedSegmentSum(tf.tensor(xs, [200, 7]), tf.tensor(is, [200], 'int32'), 50).dataSync();
  assert.deepEqual(Array.from(registered), Array.from(ours));
  await tf.setBackend('wasm');
  const onWasm = tf.unsortedSegmentSum(tf.tensor(xs, [200, 7]), tf.tensor(is, [200], 'int32'), 50).dataSync();
  assert.deepEqual(Array.from(onWasm), Array.from(ours), 'wasm has the kernel now');
});

for (const kind of ['fused', 'layers'] as const) {
  test(`${kind}: Adam's beta1/beta2/epsilon come from the spec (the train config), not constants in the model`, () => {
    const losses = (adam: TaggerSpec['adam']) => {
      const t = createTagger({ ...spec, kind, dropout: 0, recurrentDropout: 0, adam });
      const out = Array.from({ length: 4 }, () => t.trainBatch(batch));
      t.dispose();
      return out;
    };
    const keras = losses({ beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    assert.deepEqual(losses({ beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }), keras, 'the same spec trains the same');
    assert.notDeepEqual(losses({ beta1: 0.5, beta2: 0.9, epsilon: 1e-3 }), keras);
  });
}

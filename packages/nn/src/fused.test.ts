import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend } from './backend.js';
import { FusedBiLstm } from './fused.js';
import { LayersBiLstm } from './layers.js';
import type { TaggerSpec } from './spec.js';
import {
  assertSameAsReference,
  assertSameGrads,
  copyIntoReference,
  gradCheck,
  roughen,
} from './test-helpers/grad-check.js';
import { padSteps, TINY_EMBEDDING_CHECKS, tinyBatch, tinySpec } from './test-helpers/tiny.js';

before(async () => {
  await initBackend('wasm');
});

const spec = tinySpec;
const batch = tinyBatch;

for (const kernel of ['exact', 'fma'] as const)
  test(`fused BiLSTM gradients match finite differences (every weight, and the embedding rows; ${kernel} kernel, 2 threads)`, () => {
    for (const s of [
      spec,
      { ...spec, lstmUnits: 4, embeddingDim: 5, recurrentDropout: 0.3, dropout: 0.2 },
      // output dropout (the BiLSTM's output, before the dense layer), alone and with the other two
      { ...spec, lstmUnits: 4, embeddingDim: 5, outputDropout: 0.5 },
      { ...spec, lstmUnits: 4, embeddingDim: 5, recurrentDropout: 0.3, dropout: 0.2, outputDropout: 0.4 },
    ]) {
      const m = new FusedBiLstm(s, { kernel, threads: 2 });
      roughen(m, 7);
      const { analytic, err } = gradCheck(m, batch, { embedding: TINY_EMBEDDING_CHECKS });
      assert.ok(analytic.length > 100, `${analytic.length} entries checked`);
      assert.ok(
        err < 1e-3,
        `relative error ${err} (units ${s.lstmUnits}, dropout ${s.dropout}, output dropout ${s.outputDropout ?? 0})`,
      );
    }
  });

for (const kernel of ['exact', 'fma'] as const)
  test(`the fused kernel (${kernel}) computes what the stock tf.layers BiLSTM computes: same loss, same gradient for every weight`, () => {
    const s: TaggerSpec = { ...spec, lstmUnits: 6, embeddingDim: 5 };
    const m = new FusedBiLstm(s, { kernel });
    roughen(m, 11);
    const ref = new LayersBiLstm({ ...s, kind: 'layers' });
    copyIntoReference(m, ref);
    const ours = m.compute(batch, true);
    const theirs = ref.gradients(batch);
    assertSameAsReference(batch, m, ours, theirs, 'tf.layers');
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
  const b = m.compute(padSteps(batch, 6), true);
  assertSameGrads(m, a, b);
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

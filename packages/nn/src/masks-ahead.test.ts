import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend } from './backend.js';
import { FusedBiLstm } from './fused.js';
import type { TaggerSpec } from './spec.js';
import { tinyBatch, tinySpec } from './test-helpers/tiny.js';

before(async () => {
  await initBackend('wasm');
});

// the next batch's dropout masks, drawn ahead while the worker ends a job (fused.ts drawAhead), must be the very
// masks drawn on the spot: same weights and generator state as one thread; and ignored when they no longer fit.
// JavaScript draws them ahead where the worker's job has no detached step (here: frozen embeddings; char models)
test('dropout masks drawn ahead in JavaScript (2 threads) give the same training as masks drawn on the spot (1 thread)', () => {
  const s: TaggerSpec = { ...tinySpec, lstmUnits: 4, embeddingDim: 5, dropout: 0.2, recurrentDropout: 0.3 };
  const spec: TaggerSpec = { ...s, outputDropout: 0.4, freezeEmbeddings: true };
  const one = new FusedBiLstm(spec, { threads: 1 });
  const two = new FusedBiLstm(spec, { threads: 2 });
  const B = tinyBatch.size;
  const want: [number, number][] = [
    [0.2, B * 2 * 5],
    [0.3, B * 2 * 4],
    [0.4, B * 2 * 4],
  ];
  const ahead = (w: [number, number][]) => (two as unknown as { drawAhead(w: [number, number][]): void }).drawAhead(w);
  // masks drawn on the spot, per batch
  const inner = two as unknown as { dropMask(n: number, p: number): Float32Array };
  const draw = inner.dropMask.bind(two);
  let drawn = 0;
  inner.dropMask = (n, p) => (drawn++, draw(n, p));
  for (let i = 0; i < 6; i++) {
    if (i === 1) ahead(want); // fits: used
    if (i === 2) ahead(want.map(([p, n]) => [p, n + 8])); // other sizes: drawn again
    if (i === 3) ahead(want.map(([p, n]) => [p / 2, n])); // other rates: drawn again
    if (i === 4) {
      ahead(want);
      // the generator moved (a restored training state): drawn again from the new state
      one.dropoutRng.state = 12345;
      two.dropoutRng.state = 12345;
    }
    drawn = 0;
    assert.equal(one.train(tinyBatch), two.train(tinyBatch), `batch ${i}: same loss`);
    if (i >= 1 && i <= 4) assert.equal(drawn, i === 1 ? 0 : 3, `batch ${i}: masks drawn on the spot`);
    assert.equal(two.dropoutRng.state, one.dropoutRng.state, `batch ${i}: same generator state`);
  }
  for (const [w] of one.shapes()) assert.deepEqual(two.view('param', w), one.view('param', w), w);
  assert.deepEqual(two.emb, one.emb);
  one.dispose();
  two.dispose();
});

// words-only models on 2 threads: the worker draws the next batch's masks in the kernel (maskDraws) after its job
test('dropout masks the worker draws in the kernel give the same training and generator state as one thread, and are dropped when they no longer fit', () => {
  const spec: TaggerSpec = {
    ...tinySpec,
    lstmUnits: 4,
    embeddingDim: 5,
    dropout: 0.2,
    recurrentDropout: 0.3,
    outputDropout: 0.4,
  };
  const one = new FusedBiLstm(spec, { threads: 1 });
  const two = new FusedBiLstm(spec, { threads: 2 });
  const inner = two as unknown as { dropMask(n: number, p: number): Float32Array };
  const draw = inner.dropMask.bind(two);
  let drawn = 0;
  inner.dropMask = (n, p) => (drawn++, draw(n, p));
  for (let i = 0; i < 8; i++) {
    // an evaluation between two training batches (no dropout): the masks drawn ahead are dropped
    if (i === 3) assert.deepEqual(two.evaluate(tinyBatch), one.evaluate(tinyBatch), 'evaluation');
    // the generator moved (a restored training state): drawn again from the new state
    if (i === 5) {
      one.dropoutRng.state = 12345;
      two.dropoutRng.state = 12345;
    }
    drawn = 0;
    assert.equal(two.train(tinyBatch), one.train(tinyBatch), `batch ${i}: same loss`);
    assert.equal(drawn, i === 0 || i === 3 || i === 5 ? 3 : 0, `batch ${i}: masks drawn in JavaScript on the spot`);
    assert.equal(two.dropoutRng.state, one.dropoutRng.state, `batch ${i}: same generator state`);
  }
  for (const [w] of one.shapes()) assert.deepEqual(two.view('param', w), one.view('param', w), w);
  assert.deepEqual(two.emb, one.emb);
  one.dispose();
  two.dispose();
});

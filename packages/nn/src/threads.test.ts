import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeBatches, type SplitData } from './data.js';
import { FusedBiLstm } from './fused.js';
import { mulberry32 } from '@nerflow/core';
import type { TaggerSpec } from './spec.js';
import { resolveThreads } from './threads.js';

const spec: TaggerSpec = {
  kind: 'fused',
  vocabSize: 300,
  numTags: 9,
  embeddingDim: 13,
  lstmUnits: 10,
  dropout: 0.2,
  recurrentDropout: 0.1,
  learningRate: 3e-3,
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  seed: 5,
};

/** A small random corpus: 200 sentences of 1–30 tokens, vocabulary of spec.vocabSize. */
function corpus(): SplitData {
  const rand = mulberry32(11);
  const n = 200;
  const maxLen = 30;
  const tokens = new Int32Array(n * maxLen);
  const tags = new Int8Array(n * maxLen);
  const lengths = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    lengths[s] = 1 + Math.floor(rand() * maxLen);
    for (let t = 0; t < lengths[s]; t++) {
      tokens[s * maxLen + t] = 1 + Math.floor(rand() * (spec.vocabSize - 1));
      tags[s * maxLen + t] = Math.floor(rand() * spec.numTags);
    }
  }
  const ids = Int32Array.from({ length: n }, (_, i) => i);
  // the chars column (featurize README): 1–8 characters per token, ids 1..charSpec.vocabSize−1
  const rowOffsets = new Int32Array(n + 1);
  const tokenOffsets: number[] = [0];
  const charIds: number[] = [];
  for (let s = 0; s < n; s++) {
    rowOffsets[s + 1] = rowOffsets[s] + lengths[s];
    for (let t = 0; t < lengths[s]; t++) {
      const w = 1 + Math.floor(rand() * 8);
      for (let c = 0; c < w; c++) charIds.push(1 + Math.floor(rand() * (charSpec.chars!.vocabSize - 1)));
      tokenOffsets.push(charIds.length);
    }
  }
  const chars = { rowOffsets, tokenOffsets: Int32Array.from(tokenOffsets), ids: Uint8Array.from(charIds) };
  return { n, maxLen, sentenceIds: ids, chunks: new Int32Array(n), lengths, tokens, tags, meta: {}, chars };
}

/** Every weight, gradient-free: the embedding, its Adam moments, and each dense weight with its moments. */
function snapshot(m: FusedBiLstm): Float32Array[] {
  return [
    m.emb,
    m.embM,
    m.embV,
    ...m.shapes().flatMap(([name]) => (['param', 'm', 'v'] as const).map((r) => m.view(r, name).slice())),
  ].map((a) => a.slice());
}

// the CRF head: tags B-X/I-X/O of 4 types (9 tags), constrained
const crfSpec: TaggerSpec = {
  ...spec,
  head: 'crf',
  crf: { constrain: true, tags: ['O', ...['A', 'B', 'C', 'D'].flatMap((t) => [`B-${t}`, `I-${t}`])] },
};
// a char CNN: its features join the kernel's embedding lookup as the LSTM input; it runs once, before the directions split
const charSpec: TaggerSpec = { ...spec, chars: { type: 'cnn', vocabSize: 20, dim: 4, filters: 6, width: 3 } };

for (const [kernel, s] of [
  ['exact', spec],
  ['fma', spec],
  ['fma', crfSpec],
  ['exact', charSpec],
  ['fma', charSpec],
  // output dropout: hcat's and d hcat's rows are masked by the thread that owns them (softmax and CRF paths)
  ['fma', { ...spec, outputDropout: 0.4 }],
  ['exact', { ...crfSpec, outputDropout: 0.4 }],
] as const)
  test(`2 threads train bit-identical weights to 1 thread (${kernel} kernel, ${s.head ?? 'softmax'} head${s.chars ? ', char CNN' : ''}${s.outputDropout ? ', output dropout' : ''}, dropout on, 2 epochs), and evaluate and give tag probabilities identically`, () => {
    const split = corpus();
    const one = new FusedBiLstm(s, { threads: 1, kernel });
    const two = new FusedBiLstm(s, { threads: 2, kernel });
    assert.equal(one.threads, 1);
    assert.equal(two.threads, 2);
    try {
      let batches = 0;
      for (const epoch of [1, 2]) {
        for (const b of makeBatches(split, { batchSize: 16, seed: 1, epoch, shuffle: true })) {
          const l1 = one.train(b);
          const l2 = two.train(b);
          assert.equal(l2, l1, `loss of batch ${batches}`);
          batches++;
        }
      }
      assert.ok(batches >= 20, `${batches} batches`);
      const a = snapshot(one);
      const b = snapshot(two);
      for (let i = 0; i < a.length; i++) {
        assert.ok(
          Buffer.from(a[i].buffer).equals(Buffer.from(b[i].buffer)),
          `weight array ${i} differs between 1 and 2 threads`,
        );
      }
      // the weights moved (the comparison is not between two untouched inits)
      assert.notDeepEqual(a[3], new FusedBiLstm(s).view('param', one.shapes()[0][0]));
      for (const bt of makeBatches(split, { batchSize: 64, seed: 1, epoch: 1, shuffle: false })) {
        const e1 = one.evaluate(bt);
        const e2 = two.evaluate(bt);
        assert.equal(e2.loss, e1.loss);
        assert.deepEqual(e2.predictions, e1.predictions);
        // tag probabilities (softmax of the emissions, or the CRF's marginals): bit-identical, each real token's summing to 1
        const p1 = one.probabilities(bt);
        const p2 = two.probabilities(bt);
        assert.equal(p1.length, bt.size * bt.steps * s.numTags);
        assert.ok(
          Buffer.from(p1.buffer).equals(Buffer.from(p2.buffer)),
          'probabilities differ between 1 and 2 threads',
        );
        for (let r = 0; r < bt.size; r++) {
          for (let t = 0; t < bt.lengths[r]; t++) {
            let sum = 0;
            for (let j = 0; j < s.numTags; j++) sum += p1[(r * bt.steps + t) * s.numTags + j];
            assert.ok(Math.abs(sum - 1) < 1e-4, `row ${r} step ${t}: probabilities sum to ${sum}`);
          }
        }
      }
    } finally {
      one.dispose();
      two.dispose();
    }
  });

test('an error inside the second thread surfaces on the main thread, and the model stays usable', () => {
  const m = new FusedBiLstm(spec, { threads: 2 });
  try {
    const b = makeBatches(corpus(), { batchSize: 8, seed: 1, epoch: 1, shuffle: false })[0];
    const before = m.evaluate(b);
    // an out-of-bounds pointer for the backward direction only: its call traps in the worker
    const thread = (m as unknown as { thread: { pair: (n: string, a: number[], b: number[]) => void } }).thread;
    assert.throws(
      () => thread.pair('fillRows', [0, 0, 0, 0], [2 ** 31, 0, 1, 4]),
      /second thread failed in fillRows: .*out of bounds/i,
    );
    assert.deepEqual(m.evaluate(b), before);
  } finally {
    m.dispose();
  }
});

test('threads: auto takes the cores left free by parallel trials, at most 2; an explicit setting never oversubscribes', () => {
  assert.deepEqual(resolveThreads('auto', 1, 2), { threads: 2, capped: false });
  assert.deepEqual(resolveThreads('auto', 2, 2), { threads: 1, capped: false });
  assert.deepEqual(resolveThreads('auto', 1, 1), { threads: 1, capped: false });
  assert.deepEqual(resolveThreads('auto', 2, 8), { threads: 2, capped: false });
  assert.deepEqual(resolveThreads('auto', 3, 4), { threads: 1, capped: false });
  assert.deepEqual(resolveThreads(2, 2, 2), { threads: 1, capped: true });
  assert.deepEqual(resolveThreads(2, 1, 2), { threads: 2, capped: false });
  assert.deepEqual(resolveThreads(1, 1, 2), { threads: 1, capped: false });
  // parallel × threads ≤ cores, whatever the setting
  for (const cores of [1, 2, 3, 4, 8]) {
    for (const parallel of [1, 2, 3, 4]) {
      for (const s of ['auto', 1, 2] as const) {
        const { threads } = resolveThreads(s, parallel, cores);
        assert.ok(threads * parallel <= Math.max(cores, parallel), `${s} ${parallel} ${cores}`);
      }
    }
  }
});

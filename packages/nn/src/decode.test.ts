import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend } from './backend.js';
import type { Batch } from './data.js';
import { FusedBiLstm } from './fused.js';
import type { TaggerSpec } from './spec.js';
import { roughen } from './test-helpers/grad-check.js';

// decode(): prediction's one pass gives exactly evaluate()'s tags and probabilities()'s values.

before(async () => {
  await initBackend('wasm');
});

const TAGS = ['O', 'B-a', 'I-a', 'E-a', 'S-a', 'B-b', 'I-b', 'E-b', 'S-b'];
const base: TaggerSpec = {
  kind: 'fused',
  vocabSize: 30,
  numTags: TAGS.length,
  embeddingDim: 6,
  lstmUnits: 5,
  dropout: 0.3,
  recurrentDropout: 0.2,
  learningRate: 1e-3,
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  seed: 11,
};

/** Rows of lengths 7, 3, 5 padded to 7 steps, random token ids. */
function batch(): Batch {
  let s = 5;
  const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const lengths = Int32Array.from([7, 3, 5]);
  const tokens = new Int32Array(3 * 7);
  lengths.forEach((n, r) => {
    for (let t = 0; t < n; t++) tokens[r * 7 + t] = 1 + Math.floor(rand() * 29);
  });
  return { size: 3, steps: 7, lengths, tokens, tags: new Int32Array(21), index: Int32Array.from([0, 1, 2]) };
}

for (const head of ['softmax', 'crf'] as const) {
  test(`decode (${head} head): the same tags as evaluate and the same probabilities as probabilities(), bit for bit`, () => {
    const spec: TaggerSpec = { ...base, head, ...(head === 'crf' ? { crf: { constrain: true, tags: TAGS } } : {}) };
    const m = new FusedBiLstm(spec);
    roughen(m, 7);
    const b = batch();
    const d = m.decode(b);
    assert.deepEqual(Array.from(d.probabilities), Array.from(m.probabilities(b)));
    const { predictions } = m.evaluate(b);
    for (let r = 0; r < b.size; r++)
      for (let t = 0; t < b.lengths[r]; t++)
        assert.equal(d.predictions[r * b.steps + t], predictions[r * b.steps + t], `row ${r} step ${t}`);
    m.dispose();
  });
}

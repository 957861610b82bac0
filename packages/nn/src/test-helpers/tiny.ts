// The tiny model and batch the kernel's gradient tests share (fused.test.ts, fused-crf.test.ts, chars.test.ts):
// small enough that a finite-difference check over every weight takes well under a second.
import type { Batch } from '../data.js';
import type { TaggerSpec } from '../spec.js';

/** A fused softmax BiLSTM: 12 words, 5 tags, embedding 4, 3 units, no dropout. */
export const tinySpec: TaggerSpec = {
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

/** Tag names for tinySpec's 5 tags, a valid IOB2 scheme (the CRF tests constrain transitions by it). */
export const TINY_TAGS = ['O', 'B-a', 'I-a', 'B-b', 'I-b'];

/** Three rows of lengths 4, 2, 3 padded to 4 steps; the gold paths are valid IOB2 under TINY_TAGS. */
export const tinyBatch: Batch = {
  size: 3,
  steps: 4,
  lengths: Int32Array.from([4, 2, 3]),
  tokens: Int32Array.from([2, 5, 7, 3, 9, 4, 0, 0, 11, 6, 2, 0]),
  tags: Int32Array.from([0, 1, 2, 0, 3, 4, 0, 0, 1, 1, 0, 0]),
  index: Int32Array.from([0, 1, 2]),
};

/** Embedding entries the gradient checks perturb, as [token position in tinyBatch, dimension]. */
export const TINY_EMBEDDING_CHECKS: [number, number][] = [
  [0, 0],
  [1, 2],
  [4, 3],
  [9, 1],
];

/** The same rows with more padded steps (tokens and tags only: a batch without characters). */
export function padSteps(batch: Batch, steps: number): Batch {
  const wider: Batch = {
    ...batch,
    steps,
    tokens: new Int32Array(batch.size * steps),
    tags: new Int32Array(batch.size * steps),
  };
  for (let r = 0; r < batch.size; r++)
    for (let t = 0; t < batch.steps; t++) {
      wider.tokens[r * steps + t] = batch.tokens[r * batch.steps + t];
      wider.tags[r * steps + t] = batch.tags[r * batch.steps + t];
    }
  return wider;
}

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

/** A sentence of a char test batch: word ids, tag ids, and each token's word (its characters). */
export interface CharRow {
  tokens: number[];
  tags: number[];
  words: string[];
}

/** Three sentences of 4, 2, 3 tokens; words of 1 to 6 characters (shorter and longer than a CNN window), 'z' unknown. */
export const tinyCharRows: CharRow[] = [
  { tokens: [2, 5, 7, 3], tags: [0, 1, 2, 0], words: ['Abc', 'd', 'efgab', 'cc'] },
  { tokens: [9, 1], tags: [3, 4], words: ['gz', 'bcbdba'] },
  { tokens: [11, 6, 2], tags: [1, 1, 0], words: ['a', 'fed', 'ag'] },
];

/**
 * A batch whose token slots carry the characters of `words` (row-major [size, steps]); char id 0 is padding,
 * 1 unknown (a char not in the alphabet), then the alphabet's characters from 2.
 */
export function charBatch(rows: CharRow[], steps: number, alphabet = 'abcdefg'): Batch {
  const size = rows.length;
  const tokens = new Int32Array(size * steps);
  const tags = new Int32Array(size * steps);
  const offsets = new Int32Array(size * steps + 1);
  const ids: number[] = [];
  rows.forEach((row, r) => {
    for (let t = 0; t < steps; t++) {
      const slot = r * steps + t;
      if (t < row.tokens.length) {
        tokens[slot] = row.tokens[t];
        tags[slot] = row.tags[t];
        for (const ch of row.words[t]) ids.push(alphabet.indexOf(ch) + 2);
      }
      offsets[slot + 1] = ids.length;
    }
  });
  return {
    size,
    steps,
    tokens,
    tags,
    lengths: Int32Array.from(rows.map((r) => r.tokens.length)),
    index: Int32Array.from(rows.map((_, i) => i)),
    chars: { offsets, ids: Int32Array.from(ids) },
  };
}

import { mulberry32 } from '@nerflow/core';

export type SplitName = 'train' | 'val' | 'test';
export const SPLITS: SplitName[] = ['train', 'val', 'test'];

/**
 * Split sentence ids into train/val/test: a seeded Fisher–Yates shuffle of the ids in ascending order,
 * then train = round(n·train), val = round(n·val), test = the rest. Same result on every machine.
 */
export function splitSentences(
  ids: Int32Array,
  fractions: { train: number; val: number; test: number },
  seed: number,
): Record<SplitName, Int32Array> {
  const order = Int32Array.from(ids).sort();
  const rand = mulberry32(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const nTrain = Math.round(order.length * fractions.train);
  const nVal = Math.min(order.length - nTrain, Math.round(order.length * fractions.val));
  const sorted = (a: Int32Array) => Int32Array.from(a).sort();
  return {
    train: sorted(order.subarray(0, nTrain)),
    val: sorted(order.subarray(nTrain, nTrain + nVal)),
    test: sorted(order.subarray(nTrain + nVal)),
  };
}

/**
 * A corpus's own split without a val file: `fraction` of the train sentences (seeded shuffle, as above)
 * become val; test stays the corpus's own.
 */
export function valFromTrain(
  own: Record<SplitName, Int32Array>,
  fraction: number,
  seed: number,
): Record<SplitName, Int32Array> {
  const cut = splitSentences(own.train, { train: 1 - fraction, val: fraction, test: 0 }, seed);
  return { train: cut.train, val: cut.val, test: own.test };
}

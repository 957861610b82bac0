// A tiny featurize split for train's tests (trial.test.ts, features.test.ts), made in memory.
import type { SplitData } from '@nerflow/nn';

/**
 * n sentences of lengths 2..4 (padded to 4) over word ids 2..9, tag = word id % 2 (O / B-x). With `chars`, a
 * chars column too: word id k is spelled with k % 4 + 1 characters of ids 2..5.
 */
export function tinySplit(n: number, seed: number, { chars = false } = {}): SplitData {
  const maxLen = 4;
  const tokens = new Int32Array(n * maxLen);
  const tags = new Int8Array(n * maxLen).fill(-1);
  const lengths = new Int32Array(n);
  const rowOffsets = new Int32Array(n + 1);
  const tokenOffsets: number[] = [0];
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    lengths[i] = 2 + ((i + seed) % 3);
    rowOffsets[i + 1] = rowOffsets[i] + lengths[i];
    for (let t = 0; t < lengths[i]; t++) {
      const id = 2 + ((i * 3 + t + seed) % 8);
      tokens[i * maxLen + t] = id;
      tags[i * maxLen + t] = id % 2;
      for (let c = 0; c <= id % 4; c++) ids.push(2 + ((id + c) % 4));
      tokenOffsets.push(ids.length);
    }
  }
  return {
    n,
    maxLen,
    sentenceIds: Int32Array.from({ length: n }, (_, i) => i + 1),
    chunks: new Int32Array(n),
    lengths,
    tokens,
    tags,
    meta: {},
    ...(chars ? { chars: { rowOffsets, tokenOffsets: Int32Array.from(tokenOffsets), ids: Uint8Array.from(ids) } } : {}),
  };
}

import { readFileSync } from 'node:fs';
import { tableFromIPC } from 'apache-arrow';
import { mulberry32, type SplitRows } from '@nerflow/core';

/** One split as written by featurize (packages/featurize/README.md), as flat zero-copy views, with the schema metadata. */
export interface SplitData extends SplitRows {
  meta: Record<string, string>;
  /** The chars column (featurize README): row r's tokens are tokens rowOffsets[r]..; token k's ids are ids[tokenOffsets[k]..tokenOffsets[k+1]). */
  chars?: { rowOffsets: Int32Array; tokenOffsets: Int32Array; ids: Uint8Array | Uint16Array };
}

function values<T>(
  col: { data: { values: T; children: { values: T }[] }[] } | null,
  name: string,
  file: string,
  nested = false,
): T {
  if (!col) throw new Error(`${file}: no column ${name} (is it a featurize output?)`);
  if (col.data.length !== 1) throw new Error(`${file}: expected one record batch`);
  return nested ? col.data[0].children[0].values : col.data[0].values;
}

export function readSplit(file: string): SplitData {
  const table = tableFromIPC(readFileSync(file));
  const meta = Object.fromEntries(table.schema.metadata);
  const maxLen = Number(meta.max_len);
  const get = <T>(name: string, nested = false) => values<T>(table.getChild(name) as never, name, file, nested);
  const charsCol = table.getChild('chars') as unknown as {
    data: {
      valueOffsets: Int32Array;
      children: { valueOffsets: Int32Array; children: { values: Uint8Array | Uint16Array }[] }[];
    }[];
  } | null;
  let chars: SplitData['chars'];
  if (charsCol) {
    if (charsCol.data.length !== 1) throw new Error(`${file}: expected one record batch`);
    const rows = charsCol.data[0];
    chars = {
      rowOffsets: rows.valueOffsets,
      tokenOffsets: rows.children[0].valueOffsets,
      ids: rows.children[0].children[0].values,
    };
  }
  // Arrow pads each buffer to 8 bytes: a view can hold more values than rows (57 Int32 rows → 58 values), so cut to size.
  const n = table.numRows;
  return {
    n,
    maxLen,
    meta,
    chars,
    sentenceIds: get<Int32Array>('sentence_id').subarray(0, n),
    chunks: get<Int32Array>('chunk').subarray(0, n),
    lengths: get<Int32Array>('length').subarray(0, n),
    tokens: get<Int32Array>('tokens', true).subarray(0, n * maxLen),
    tags: get<Int8Array>('tags', true).subarray(0, n * maxLen),
  };
}

/** A batch padded to its own longest row; row-major [size, steps]. */
export interface Batch {
  size: number;
  steps: number;
  tokens: Int32Array;
  /** Tag ids; padding positions hold 0 and are excluded through `lengths`. */
  tags: Int32Array;
  lengths: Int32Array;
  /** The split rows in this batch. */
  index: Int32Array;
  /** Character ids per token slot (row-major like tokens): slot i's are ids[offsets[i]..offsets[i+1]); padding slots have none. */
  chars?: { offsets: Int32Array; ids: Int32Array };
}

/**
 * An all-padding batch for rows of these lengths, padded to `steps` (default: the longest row, at least 1): tokens and
 * tags 0, index 0..size−1 (rows of their own, not of a split). The caller writes row r's tokens at r·steps.
 */
export function paddedBatch(lengths: ArrayLike<number>, steps = 0): Batch {
  const size = lengths.length;
  for (let r = 0; r < size; r++) steps = Math.max(steps, lengths[r]);
  steps = Math.max(1, steps);
  return {
    size,
    steps,
    tokens: new Int32Array(size * steps),
    tags: new Int32Array(size * steps),
    lengths: Int32Array.from(lengths),
    index: Int32Array.from({ length: size }, (_, r) => r),
  };
}

/**
 * Length-bucketed batches: rows sorted by length (stable, then shuffled within equal lengths when
 * shuffling), cut into batches of `batchSize`, each padded only to its own longest row; the batch order is
 * shuffled with a PRNG seeded by seed and epoch, so every epoch differs and every run is the same.
 * `chars: false`: no character ids in the batches, although the split has them (a model without char features
 * never reads them, and for the baseline they are ~17 MiB per epoch of batches).
 */
export function makeBatches(
  split: SplitData,
  o: { batchSize: number; seed: number; epoch: number; shuffle: boolean; chars?: boolean },
): Batch[] {
  const rand = mulberry32((o.seed * 1000003 + o.epoch * 7919) >>> 0);
  const order = Int32Array.from({ length: split.n }, (_, i) => i);
  const key = new Float64Array(split.n);
  for (let i = 0; i < split.n; i++) key[i] = split.lengths[i] + (o.shuffle ? rand() * 0.999 : 0);
  order.sort((a, b) => key[a] - key[b] || a - b);
  const batches: Batch[] = [];
  for (let start = 0; start < split.n; start += o.batchSize) {
    const index = order.slice(start, Math.min(split.n, start + o.batchSize));
    const size = index.length;
    let steps = 1;
    for (const r of index) steps = Math.max(steps, split.lengths[r]);
    const tokens = new Int32Array(size * steps);
    const tags = new Int32Array(size * steps);
    const lengths = new Int32Array(size);
    for (let b = 0; b < size; b++) {
      const r = index[b];
      const len = split.lengths[r];
      lengths[b] = len;
      tokens.set(split.tokens.subarray(r * split.maxLen, r * split.maxLen + len), b * steps);
      for (let t = 0; t < len; t++) tags[b * steps + t] = split.tags[r * split.maxLen + t];
    }
    batches.push({
      size,
      steps,
      tokens,
      tags,
      lengths,
      index,
      chars: split.chars && o.chars !== false ? batchChars(split.chars, index, lengths, steps) : undefined,
    });
  }
  if (o.shuffle) {
    for (let i = batches.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [batches[i], batches[j]] = [batches[j], batches[i]];
    }
  }
  return batches;
}

/** A batch's character ids, slot by slot (row-major [size, steps]), from a split's chars column. */
function batchChars(
  c: NonNullable<SplitData['chars']>,
  index: Int32Array,
  lengths: Int32Array,
  steps: number,
): NonNullable<Batch['chars']> {
  const offsets = new Int32Array(index.length * steps + 1);
  for (let b = 0; b < index.length; b++) {
    const first = c.rowOffsets[index[b]];
    for (let t = 0; t < steps; t++) {
      const slot = b * steps + t;
      offsets[slot + 1] =
        offsets[slot] + (t < lengths[b] ? c.tokenOffsets[first + t + 1] - c.tokenOffsets[first + t] : 0);
    }
  }
  const ids = new Int32Array(offsets[offsets.length - 1]);
  for (let b = 0; b < index.length; b++) {
    const first = c.rowOffsets[index[b]];
    for (let t = 0; t < lengths[b]; t++)
      ids.set(c.ids.subarray(c.tokenOffsets[first + t], c.tokenOffsets[first + t + 1]), offsets[b * steps + t]);
  }
  return { offsets, ids };
}

/**
 * Character ids for sentences given as words (prediction on raw text), in a batch's layout: rows padded to
 * `steps` slots, row-major. `chars` is chars.json's list (id → character); each word keeps its first
 * maxWordLen characters; a character not in the list is 1.
 */
export function encodeChars(
  sentences: string[][],
  steps: number,
  chars: string[],
  maxWordLen: number,
): NonNullable<Batch['chars']> {
  const index = new Map(chars.map((c, i) => [c, i]));
  const offsets = new Int32Array(sentences.length * steps + 1);
  const ids: number[] = [];
  sentences.forEach((words, r) => {
    for (let t = 0; t < steps; t++) {
      if (t < words.length) for (const c of [...words[t]].slice(0, maxWordLen)) ids.push(index.get(c) ?? 1);
      offsets[r * steps + t + 1] = ids.length;
    }
  });
  return { offsets, ids: Int32Array.from(ids) };
}

import type { PackedRows } from './arrow.js';
import { SPLITS, type SplitName } from './split.js';

export interface TokenColumns {
  sid: number[];
  wid: number[];
  tid: number[];
  split: number[];
  oov: number[];
}

/**
 * Pack the token columns (ordered by sentence, position) into padded rows per split. Sentences longer
 * than maxLen become several rows (`chunk` 0, 1, …) or are cut at maxLen.
 */
export function packRows(cols: TokenColumns, maxLen: number, long: 'chunk' | 'truncate') {
  const n = cols.sid.length;
  // First pass: sentence boundaries and how many rows each split needs.
  const starts: number[] = [];
  for (let i = 0; i < n; i++) if (i === 0 || cols.sid[i] !== cols.sid[i - 1]) starts.push(i);
  starts.push(n);
  const rowsPer = [0, 0, 0];
  let chunked = 0;
  let truncated = 0;
  let droppedTokens = 0;
  for (let s = 0; s + 1 < starts.length; s++) {
    const len = starts[s + 1] - starts[s];
    const sp = cols.split[starts[s]];
    if (len > maxLen) {
      if (long === 'chunk') {
        chunked++;
        rowsPer[sp] += Math.ceil(len / maxLen);
      } else {
        truncated++;
        droppedTokens += len - maxLen;
        rowsPer[sp] += 1;
      }
    } else rowsPer[sp] += 1;
  }
  const out = {} as Record<SplitName, PackedRows>;
  SPLITS.forEach((name, k) => {
    const m = rowsPer[k];
    out[name] = {
      n: m,
      maxLen,
      sentenceIds: new Int32Array(m),
      chunks: new Int32Array(m),
      lengths: new Int32Array(m),
      tokens: new Int32Array(m * maxLen),
      tags: new Int8Array(m * maxLen).fill(-1),
      tokenStart: new Int32Array(m),
    };
  });
  const next = [0, 0, 0];
  const tokensPer = [0, 0, 0];
  const oovPer = [0, 0, 0];
  for (let s = 0; s + 1 < starts.length; s++) {
    const a = starts[s];
    const len = starts[s + 1] - a;
    const sp = cols.split[a];
    const rows = out[SPLITS[sp]];
    const pieces = len > maxLen && long === 'chunk' ? Math.ceil(len / maxLen) : 1;
    for (let c = 0; c < pieces; c++) {
      const r = next[sp]++;
      const from = a + c * maxLen;
      const count = Math.min(maxLen, a + len - from);
      rows.sentenceIds[r] = cols.sid[a];
      rows.chunks[r] = c;
      rows.lengths[r] = count;
      rows.tokenStart[r] = from;
      const base = r * maxLen;
      for (let k = 0; k < count; k++) {
        rows.tokens[base + k] = cols.wid[from + k];
        rows.tags[base + k] = cols.tid[from + k];
        oovPer[sp] += cols.oov[from + k];
      }
      tokensPer[sp] += count;
    }
  }
  return { rows: out, chunked, truncated, droppedTokens, tokensPer, oovPer };
}

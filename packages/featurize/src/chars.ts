import type { DuckDBConnection } from '@duckdb/node-api';
import { readVectorFile, type VectorFileSpec } from '@nerflow/nn/vectors';
import type { PackedRows } from './arrow.js';

/** The character vocabulary (chars.json): `<PAD>` = 0, `<UNK>` = 1, then the train split's characters. */
export interface CharVocab {
  chars: string[];
  maxWordLen: number;
}

/** One split's chars column: row r's tokens are rowOffsets[r]..rowOffsets[r+1]; token k's ids are ids[tokenOffsets[k]..tokenOffsets[k+1]]. */
export interface SplitChars {
  rowOffsets: Int32Array;
  tokenOffsets: Int32Array;
  ids: Uint8Array | Uint16Array;
}

/** Every token's word as written (not lowercased: capitals are what char features are for), in (sentence_id, position) order. */
export async function tokenWords(conn: DuckDBConnection): Promise<string[]> {
  const r = await conn.runAndReadAll('SELECT word FROM tokens ORDER BY sentence_id, position');
  return (r.getColumns()[0] ?? []) as string[];
}

/**
 * Characters (Unicode code points) of the train split's tokens, by count then code point; tokens are
 * counted whole (a character past max_word_len still counts). split[i] = 0 marks a train token.
 */
export function buildCharVocab(words: string[], split: number[], maxWordLen: number): CharVocab {
  const perWord = new Map<string, number>();
  for (let i = 0; i < words.length; i++) if (split[i] === 0) perWord.set(words[i], (perWord.get(words[i]) ?? 0) + 1);
  const counts = new Map<string, number>();
  for (const [w, n] of perWord) for (const ch of w) counts.set(ch, (counts.get(ch) ?? 0) + n);
  const chars = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([c]) => c);
  return { chars: ['<PAD>', '<UNK>', ...chars], maxWordLen };
}

/**
 * The chars column of one split, aligned with packRows' rows (rows.tokenStart: each row's first token in
 * the global token order). Each token keeps its first maxWordLen characters; unknown characters are 1.
 */
export function packChars(
  rows: PackedRows,
  words: string[],
  vocab: CharVocab,
): { chars: SplitChars; cut: number; unknown: number } {
  const index = new Map(vocab.chars.map((c, i) => [c, i]));
  // each distinct word is encoded once; most tokens are repeats
  const encoded = new Map<string, { ids: number[]; cut: boolean; unknown: number }>();
  const encode = (w: string) => {
    let e = encoded.get(w);
    if (!e) {
      const cs = [...w];
      const ids = cs.slice(0, vocab.maxWordLen).map((c) => index.get(c) ?? 1);
      encoded.set(w, (e = { ids, cut: cs.length > vocab.maxWordLen, unknown: ids.filter((i) => i === 1).length }));
    }
    return e;
  };
  const rowOffsets = new Int32Array(rows.n + 1);
  for (let r = 0; r < rows.n; r++) rowOffsets[r + 1] = rowOffsets[r] + rows.lengths[r];
  const tokenOffsets = new Int32Array(rowOffsets[rows.n] + 1);
  let k = 0;
  for (let r = 0; r < rows.n; r++) {
    for (let t = 0; t < rows.lengths[r]; t++, k++)
      tokenOffsets[k + 1] = tokenOffsets[k] + encode(words[rows.tokenStart[r] + t]).ids.length;
  }
  const ids = vocab.chars.length <= 256 ? new Uint8Array(tokenOffsets[k]) : new Uint16Array(tokenOffsets[k]);
  let cut = 0;
  let unknown = 0;
  k = 0;
  for (let r = 0; r < rows.n; r++) {
    for (let t = 0; t < rows.lengths[r]; t++, k++) {
      const e = encode(words[rows.tokenStart[r] + t]);
      ids.set(e.ids, tokenOffsets[k]);
      if (e.cut) cut++;
      unknown += e.unknown;
    }
  }
  return { chars: { rowOffsets, tokenOffsets, ids }, cut, unknown };
}

/**
 * featurize.pretrained_vocab: val/test words (not in the train vocabulary) that a vector file has, in the
 * order they first occur in the corpus (sentence, position), matched as written or, with `lowercase`,
 * case-insensitively. Only the file's words are read, never its vectors.
 */
export async function pretrainedExtraWords(
  conn: DuckDBConnection,
  cfg: VectorFileSpec & { lowercase: boolean },
  featurizeLowercase: boolean,
  vocab: string[],
): Promise<{ words: string[]; fileWords: number }> {
  const inVocab = new Set(vocab);
  const r = await conn.runAndReadAll(`
    SELECT w FROM (
      SELECT ${featurizeLowercase ? 'lower(t.word)' : 't.word'} AS w, min(t.sentence_id * 1000000 + t.position) AS first
      FROM tokens t JOIN split_of s USING (sentence_id) WHERE s.split <> 0 GROUP BY 1
    ) ORDER BY first`);
  const candidates = ((r.getColumns()[0] ?? []) as string[]).filter((w) => !inVocab.has(w));
  const key = (w: string) => (cfg.lowercase ? w.toLowerCase() : w);
  const wanted = new Set(candidates.map(key));
  const found = new Set<string>();
  const { words: fileWords } = await readVectorFile(cfg, (w) => {
    if (wanted.has(key(w))) found.add(key(w));
    return false;
  });
  return { words: candidates.filter((w) => found.has(key(w))), fileWords };
}

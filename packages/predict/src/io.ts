import { ValidationError } from '@nerflow/core';
import type { PredictInput, Prediction } from './predictor.js';

export type InputFormat = 'text' | 'jsonl' | 'conll';
export type OutputFormat = 'jsonl' | 'conll' | 'table';

/** One input with where it came from (for error messages and output). */
export interface Record {
  line: number;
  input: PredictInput;
  /** JSON lines: an "id" field, carried to the output. */
  id?: unknown;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
// a whole chunk's complete lines at once, byte order marks kept: each line then drops its own leading one, as
// decoding it alone (`decoder`) does
const chunkDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Lines of a byte stream, decoded strictly (invalid UTF-8 is an error naming the line), never holding
 * more than one line plus one read chunk in memory.
 */
export async function* lines(
  stream: AsyncIterable<Buffer | string>,
  source: string,
): AsyncGenerator<{ line: number; text: string; bytes: number }> {
  for await (const chunk of lineChunks(stream, source)) yield* chunk;
}

/**
 * `lines`, a read chunk's complete lines at a time (one array per chunk, not one promise per line): each chunk's
 * complete lines are decoded in one call and split at \n (a \n byte never occurs inside a multi-byte UTF-8
 * character, so these are the lines decoding each line gives); a chunk that does not decode goes line by line,
 * to name the bad line.
 */
export async function* lineChunks(
  stream: AsyncIterable<Buffer | string>,
  source: string,
): AsyncGenerator<{ line: number; text: string; bytes: number }[]> {
  let pending: Buffer = Buffer.alloc(0);
  let line = 0;
  let bytes = 0;
  const decode = (b: Buffer) => {
    line++;
    try {
      return decoder.decode(b[b.length - 1] === 13 ? b.subarray(0, -1) : b);
    } catch {
      throw new ValidationError(
        `${source}:${line}: not valid UTF-8. Convert the input to UTF-8 first (e.g. iconv -f latin1 -t utf-8).`,
      );
    }
  };
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buf.length;
    const data = pending.length ? Buffer.concat([pending, buf]) : buf;
    const last = data.lastIndexOf(10);
    if (last < 0) {
      pending = Buffer.from(data);
      continue;
    }
    const out: { line: number; text: string; bytes: number }[] = [];
    let whole: string | null = null;
    try {
      whole = chunkDecoder.decode(data.subarray(0, last));
    } catch {
      whole = null; // decoded line by line below, to name the bad one
    }
    if (whole !== null) {
      const parts = whole.split('\n');
      for (let text of parts) {
        line++;
        if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        out.push({ line, text, bytes });
      }
    } else {
      // the lines before the bad one still go out first (predict writes what came before a bad line)
      let rest = data.subarray(0, last + 1);
      try {
        for (let nl = rest.indexOf(10); nl >= 0; nl = rest.indexOf(10)) {
          out.push({ line: line + 1, text: decode(rest.subarray(0, nl)), bytes });
          rest = rest.subarray(nl + 1);
        }
      } catch (e) {
        if (out.length) yield out;
        throw e;
      }
    }
    pending = Buffer.from(data.subarray(last + 1));
    yield out;
  }
  if (pending.length) yield [{ line: line + 1, text: decode(pending), bytes }];
}

const KNOWN_FIELDS = new Set(['text', 'tokens', 'id']);

/** A JSON value from a JSON line or a request: a string, {"text"}, {"tokens"} or an array of tokens. */
export function inputFromJson(v: unknown, where: string): { input: PredictInput; id?: unknown } {
  if (typeof v === 'string') return { input: { text: v } };
  if (Array.isArray(v)) {
    if (!v.every((t) => typeof t === 'string'))
      throw new ValidationError(`${where}: a list of tokens must hold strings only`);
    return { input: { tokens: v as string[] } };
  }
  if (v && typeof v === 'object') {
    const o = v as { text?: unknown; tokens?: unknown; id?: unknown };
    const unknown = Object.keys(o).filter((k) => !KNOWN_FIELDS.has(k));
    if (unknown.length)
      throw new ValidationError(
        `${where}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; an input has "text" (a string) or "tokens" (a list of strings), and optionally "id"`,
      );
    if (typeof o.text === 'string' && o.tokens === undefined) return { input: { text: o.text }, id: o.id };
    if (Array.isArray(o.tokens) && o.text === undefined && o.tokens.every((t) => typeof t === 'string'))
      return { input: { tokens: o.tokens as string[] }, id: o.id };
  }
  throw new ValidationError(
    `${where}: expected a string, a list of token strings, or an object with "text" (a string) or "tokens" (a list of strings)`,
  );
}

/**
 * Records of an input stream: text (one sentence or document per line), JSON lines (see inputFromJson) or
 * CoNLL (a token in the first column of each line, a blank line between sentences, -DOCSTART- lines skipped).
 */
export async function* readRecords(
  stream: AsyncIterable<Buffer | string>,
  format: InputFormat,
  source: string,
  onBytes?: (n: number) => void,
): AsyncGenerator<Record> {
  for await (const records of readRecordChunks(stream, format, source, onBytes)) yield* records;
}

/** `readRecords`, the records of a read chunk at a time (predict: one await per chunk, not per record). */
export async function* readRecordChunks(
  stream: AsyncIterable<Buffer | string>,
  format: InputFormat,
  source: string,
  onBytes?: (n: number) => void,
): AsyncGenerator<Record[]> {
  let sentence: string[] = [];
  let start = 0;
  for await (const chunk of lineChunks(stream, source)) {
    const out: Record[] = [];
    for (const { line, text, bytes } of chunk) {
      onBytes?.(bytes);
      if (format === 'text') {
        out.push({ line, input: { text } });
      } else if (format === 'jsonl') {
        if (!text.trim()) continue;
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch (e) {
          if (out.length) yield out; // the records before a bad line still go out first
          throw new ValidationError(
            `${source}:${line}: not valid JSON (${(e as Error).message}). Each line must be one JSON value, e.g. {"text": "Angela Merkel visited Paris ."}`,
          );
        }
        let r: Record;
        try {
          r = { line, ...inputFromJson(v, `${source}:${line}`) };
        } catch (e) {
          if (out.length) yield out;
          throw e;
        }
        out.push(r);
      } else {
        const t = text.trim();
        if (!t) {
          if (sentence.length) out.push({ line: start, input: { tokens: sentence } });
          sentence = [];
          continue;
        }
        if (t.startsWith('-DOCSTART-')) continue;
        if (!sentence.length) start = line;
        sentence.push(t.split(/\s+/)[0]);
      }
    }
    if (out.length) yield out;
  }
  if (sentence.length) yield [{ line: start, input: { tokens: sentence } }];
}

export function inputFormatOf(file: string | undefined, given?: string): InputFormat {
  if (given) return given as InputFormat;
  if (file && /\.(jsonl|ndjson|json)$/i.test(file)) return 'jsonl';
  if (file && /\.(conll|iob|bio)$/i.test(file)) return 'conll';
  return 'text';
}

/** The JSON an API or JSON-lines output gives per input. */
export function predictionJson(p: Prediction, id?: unknown, withTokens = true): object {
  // object literals of fixed shape (no spreads: JSON.stringify's fast path), keys in this order
  if (id === undefined)
    return withTokens
      ? { text: p.text, entities: p.entities, tokens: p.tokens, tags: p.tags }
      : { text: p.text, entities: p.entities };
  return withTokens
    ? { id, text: p.text, entities: p.entities, tokens: p.tokens, tags: p.tags }
    : { id, text: p.text, entities: p.entities };
}

/** A JSON number as JSON.stringify writes it (non-finite → null). */
const num = (x: number) => (Number.isFinite(x) ? String(x) : 'null');

/**
 * `JSON.stringify(predictionJson(p, id)) + '\n'`, byte for byte, built by hand: the main thread of `predict`
 * writes one per input, and serializing the nested entity objects generically was its hottest function. The key
 * order is predictionJson's and Entity's (as Predictor builds them); strings and `id` still go through
 * JSON.stringify (escapes, lone surrogates). A test compares the two on real predictions.
 */
export function jsonLine(p: Prediction, id?: unknown): string {
  // the pieces in an array joined once: one flat string per line (appending ~30 pieces with += builds a tree of
  // string pieces that writing the output then has to flatten: twice the time on the test split)
  const a = [
    id === undefined ? '{"text":' : `{"id":${JSON.stringify(id)},"text":`,
    JSON.stringify(p.text),
    ',"entities":[',
  ];
  const ents = p.entities;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i];
    a.push(
      i ? ',{"type":' : '{"type":',
      JSON.stringify(e.type),
      ',"text":',
      JSON.stringify(e.text),
      ',"start":',
      num(e.start),
      ',"end":',
      num(e.end),
      ',"token_start":',
      num(e.token_start),
      ',"token_end":',
      num(e.token_end),
      ',"confidence":',
      num(e.confidence),
      '}',
    );
  }
  a.push('],"tokens":', JSON.stringify(p.tokens), ',"tags":', JSON.stringify(p.tags), '}\n');
  return a.join('');
}

/** One output record in the chosen format. */
export function formatPrediction(p: Prediction, format: OutputFormat, id?: unknown): string {
  if (format === 'jsonl') return jsonLine(p, id);
  if (format === 'conll') {
    const out: string[] = []; // joined once: one flat string (see jsonLine)
    for (const [s, e] of p.sentences) {
      for (let t = s; t < e; t++) out.push(p.tokens[t], '\t', p.tags[t], '\n');
      out.push('\n');
    }
    return out.join('');
  }
  const head = `${id !== undefined ? `[${String(id)}] ` : ''}${p.text.length > 200 ? p.text.slice(0, 200) + '…' : p.text}\n`;
  if (!p.entities.length) return `${head}  (no entities)\n\n`;
  const w = Math.max(4, ...p.entities.map((e) => e.type.length));
  const rows = p.entities.map(
    (e) => `  ${e.type.padEnd(w)}  ${`${e.start}-${e.end}`.padEnd(11)}  ${e.confidence.toFixed(3)}  ${e.text}`,
  );
  return `${head}  ${'type'.padEnd(w)}  ${'chars'.padEnd(11)}  conf.  text\n${rows.join('\n')}\n\n`;
}

import type { DataConfig } from '@nerflow/core';

export type Format = 'csv' | 'conll';

const CONLL_EXT =
  /\.(conll|conllx|conll03|txt|tsv|iob|iob1|iob2|bio|bioes|bilou|io|ner|tags|col|train|dev|valid|val|test(a|b)?)$/i;

/**
 * data.format: auto → by the name (without .gz): .csv is CSV; .conll, .txt, .tsv, .iob, .bio, … and the
 * shared tasks' eng.train/eng.testa names are CoNLL; anything else by the first line (a CSV header has
 * two or more commas and no tab).
 */
export function detectFormat(file: string, bytes: Uint8Array): Format {
  const name = file.replace(/\.gz$/i, '');
  if (/\.csv$/i.test(name)) return 'csv';
  if (CONLL_EXT.test(name)) return 'conll';
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1');
  const first = head.split('\n').find((l) => l.trim() !== '') ?? '';
  return (first.match(/,/g)?.length ?? 0) >= 2 && !first.includes('\t') ? 'csv' : 'conll';
}

function lineAt(buf: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < offset; i = buf.indexOf(0x0a, i + 1)) line++;
  return line;
}

/** A UTF-8 byte-order mark after the start of the file (files joined with cat): its offset and line. */
export function bomInside(bytes: Uint8Array): { offset: number; line: number } | null {
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(BOM);
  return at < 0 ? null : { offset: at, line: lineAt(bytes, at) };
}
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * A file that was cut off: its last line lacks the line terminator that every other line has (so there is at
 * least one). `lineStart` is where that incomplete line starts (the file's complete part ends there);
 * `partial` its bytes as latin1 (enough to see its first field).
 */
export function findCut(bytes: Uint8Array): { size: number; line: number; lineStart: number; partial: string } | null {
  const n = bytes.length;
  if (n === 0 || bytes[n - 1] === 0x0a) return null;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const last = buf.lastIndexOf(0x0a);
  if (last < 0) return null;
  let line = 2;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < last; i = buf.indexOf(0x0a, i + 1)) line++;
  return { size: n, line, lineStart: last + 1, partial: buf.subarray(last + 1).toString('latin1') };
}

/** CSV: the cut line continues the last sentence when its sentence field is empty (its tokens are then incomplete). */
export function lastCsvSentenceIsCut(partial: string, text: string, data: DataConfig): boolean {
  const header = text
    .slice(0, text.indexOf('\n'))
    .replace(/\r$/, '')
    .split(',')
    .map((f) => f.trim().replace(/^"|"$/g, ''));
  const k = header.indexOf(data.columns.sentence);
  const fields = partial.split(',');
  return k < 0 || fields.length <= k || fields[k].trim() === '';
}

/** CoNLL: the last sentence is complete when the complete part ends with a blank line (or a -DOCSTART- line). */
export function lastConllSentenceIsCut(text: string): boolean {
  const body = text.replace(/\r?\n$/, '');
  const lastLine = body.slice(body.lastIndexOf('\n') + 1);
  return !(lastLine.trim() === '' || lastLine.startsWith('-DOCSTART-'));
}

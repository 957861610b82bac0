import { createHash } from 'node:crypto';
import { ValidationError, type DataConfig, type Logger } from '@nerflow/core';
import { parseCsv } from './csv.js';
import { iob2Allows, tagShape } from './iob2.js';

/** The corpus as columns, in file order. */
export interface Corpus {
  sentenceIds: Int32Array;
  positions: Int32Array;
  words: string[];
  pos: string[];
  tags: string[];
  rows: number;
  sentences: number;
  /** Token count of each sentence, in file order. */
  lengths: number[];
  tagCounts: Record<string, number>;
  iob2Violations: { count: number; sentences: number; first: { sentence: number; line: number; tag: string; prev: string }[] };
  blankLines: number;
}

const SENTENCE_RE = /(\d+)\s*$/;

/**
 * Turn the decoded CSV into token columns: find the configured columns in the header, forward-fill the
 * sentence number, check every row (field count, tag shape, IOB2) and stop after `limit_sentences`.
 */
export function readCorpus(text: string, file: string, cfg: DataConfig, log: Logger): Corpus {
  const cols = cfg.columns;
  let header: string[] | null = null;
  const idx = { sentence: -1, word: -1, pos: -1, tag: -1 };
  let cap = 1 << 20;
  let sentenceIds = new Int32Array(cap);
  let positions = new Int32Array(cap);
  const words: string[] = [];
  const posCol: string[] = [];
  const tags: string[] = [];
  const intern = new Map<string, string>();
  const tagCounts: Record<string, number> = {};
  const lengths: number[] = [];
  const seen = new Map<number, number>();
  const violations: Corpus['iob2Violations'] = { count: 0, sentences: 0, first: [] };
  let lastViolSentence = -1;
  let rows = 0;
  let current = -1;
  let position = 0;
  let prevTag: string | null = null;
  let blankLines = 0;
  const progress = log.progress('ingest: reading', text.length, 'chars');

  parseCsv(text, file, (fields, line, offset) => {
    if (fields.length === 1 && fields[0] === '') {
      blankLines++;
      return;
    }
    if (!header) {
      header = fields.map((f) => f.trim());
      const missing: string[] = [];
      for (const key of ['sentence', 'word', 'pos', 'tag'] as const) {
        idx[key] = header.indexOf(cols[key]);
        if (idx[key] < 0) missing.push(`"${cols[key]}" (data.columns.${key})`);
      }
      if (missing.length) {
        // eslint-disable-next-line no-control-regex -- looking for binary bytes on purpose
        const looksBinary = /[\x00-\x08]/.test(fields.join(''));
        throw new ValidationError(
          `${file}:${line}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; the header has ${header.map((h) => JSON.stringify(h)).join(', ')}. ` +
            (looksBinary ? 'The file does not look like CSV text at all. ' : '') +
            `Set data.columns in the config to this file's column names.`,
        );
      }
      return;
    }
    if (fields.length !== header.length) {
      throw new ValidationError(
        `${file}:${line}: ${fields.length} field${fields.length === 1 ? '' : 's'}, expected ${header.length} as in the header` +
          (fields.length < header.length ? ' (if this is the last line, the file is truncated: re-export or re-download it).' : ' (an unquoted comma? Quote fields that contain commas).') ,
      );
    }
    const label = fields[idx.sentence].trim();
    if (label !== '') {
      const m = SENTENCE_RE.exec(label);
      if (!m) throw new ValidationError(`${file}:${line}: "${cols.sentence}" is ${JSON.stringify(label)}; expected a sentence number such as "Sentence: 12".`);
      if (cfg.limit_sentences !== null && lengths.length >= cfg.limit_sentences) return false;
      const id = Number(m[1]);
      const firstLine = seen.get(id);
      if (firstLine !== undefined) throw new ValidationError(`${file}:${line}: sentence ${id} starts again here (it first started at line ${firstLine}). Sentence numbers must be unique.`);
      seen.set(id, line);
      current = id;
      position = 0;
      prevTag = null;
      lengths.push(0);
    } else if (current < 0) {
      throw new ValidationError(
        `${file}:${line}: the first data row has no sentence number in "${cols.sentence}", so its tokens belong to no sentence. ` +
          `The first token of each sentence must carry "Sentence: N" (the column is forward-filled from there).`,
      );
    }
    const tag = fields[idx.tag].trim();
    const shape = tagShape(tag);
    if (!shape) throw new ValidationError(`${file}:${line}: tag ${JSON.stringify(tag)} is not IOB2: expected O, B-<type> or I-<type>.`);
    if (!iob2Allows(prevTag, tag)) {
      violations.count++;
      if (current !== lastViolSentence) {
        violations.sentences++;
        lastViolSentence = current;
      }
      if (violations.first.length < 5) violations.first.push({ sentence: current, line, tag, prev: prevTag ?? '(sentence start)' });
    }
    prevTag = tag;
    if (rows === cap) {
      cap *= 2;
      const s = new Int32Array(cap);
      s.set(sentenceIds);
      sentenceIds = s;
      const p = new Int32Array(cap);
      p.set(positions);
      positions = p;
    }
    sentenceIds[rows] = current;
    positions[rows] = position++;
    words.push(fields[idx.word]);
    const p = fields[idx.pos];
    posCol.push(intern.get(p) ?? (intern.set(p, p), p));
    tags.push(intern.get(tag) ?? (intern.set(tag, tag), tag));
    tagCounts[tag] = (tagCounts[tag] ?? 0) + 1;
    lengths[lengths.length - 1]++;
    rows++;
    if ((rows & 0xffff) === 0) progress.update(offset);
  });
  progress.finish();

  if (!header) throw new ValidationError(`${file}: the file is empty. Point data.path at the corpus CSV (header "${Object.values(cols).join(',')}").`);
  if (rows === 0) throw new ValidationError(`${file}:2: the file has a header but no data rows (a truncated export?). Point data.path at the full corpus.`);
  return {
    sentenceIds: sentenceIds.subarray(0, rows), positions: positions.subarray(0, rows), words, pos: posCol, tags, rows,
    sentences: lengths.length, lengths, tagCounts, iob2Violations: violations, blankLines,
  };
}

/** sha256 over the rows as written to the tokens table (the DuckDB file's bytes vary run to run). */
export function corpusDigest(c: Corpus): string {
  const h = createHash('sha256');
  let chunk = '';
  for (let r = 0; r < c.rows; r++) {
    chunk += `${c.sentenceIds[r]}\t${c.positions[r]}\t${c.words[r]}\t${c.pos[r]}\t${c.tags[r]}\n`;
    if (chunk.length > 1 << 16) {
      h.update(chunk);
      chunk = '';
    }
  }
  h.update(chunk);
  return h.digest('hex');
}

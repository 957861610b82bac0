import { ValidationError, type DataConfig, type Logger } from '@nerflow/core';
import type { CorpusBuilder } from './builder.js';
import { parseCsv } from './csv.js';

const SENTENCE_RE = /(\d+)\s*$/;

/**
 * Read the decoded CSV into the builder: find the configured columns in the header, forward-fill the
 * sentence number, check every row (field count, tag) and stop after `limit_sentences`. With
 * `renumber` (a corpus of several files) sentences are numbered on from the builder's count.
 */
export function readCsv(
  text: string,
  file: string,
  cfg: DataConfig,
  log: Logger,
  b: CorpusBuilder,
  renumber = false,
): void {
  const cols = cfg.columns;
  let header: string[] | null = null;
  const idx = { sentence: -1, word: -1, pos: -1, tag: -1 };
  const seen = new Map<number, number>();
  let started = false;
  let rows = 0;
  const progress = log.progress('ingest: reading', text.length, 'chars');

  parseCsv(text, file, (fields, line, offset) => {
    if (fields.length === 1 && fields[0] === '') {
      b.blankLines++;
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
            `Set data.columns in the config to this file's column names` +
            (header.length === 1 && /\s/.test(header[0])
              ? ' (or, if it is a CoNLL column file, set data.format: conll).'
              : '.'),
        );
      }
      return;
    }
    if (fields.length !== header.length) {
      throw new ValidationError(
        `${file}:${line}: ${fields.length} field${fields.length === 1 ? '' : 's'}, expected ${header.length} as in the header` +
          (fields.length < header.length
            ? ' (if this is the last line, the file is truncated: re-export or re-download it).'
            : ' (an unquoted comma? Quote fields that contain commas).'),
      );
    }
    const label = fields[idx.sentence].trim();
    if (label !== '') {
      const m = SENTENCE_RE.exec(label);
      if (!m)
        throw new ValidationError(
          `${file}:${line}: "${cols.sentence}" is ${JSON.stringify(label)}; expected a sentence number such as "Sentence: 12".`,
        );
      const id = Number(m[1]);
      const firstLine = seen.get(id);
      if (firstLine !== undefined)
        throw new ValidationError(
          `${file}:${line}: sentence ${id} starts again here (it first started at line ${firstLine}). Sentence numbers must be unique.`,
        );
      seen.set(id, line);
      if (!b.startSentence(renumber ? b.sentences + 1 : id, line)) return false;
      started = true;
    } else if (!started) {
      throw new ValidationError(
        `${file}:${line}: the first data row has no sentence number in "${cols.sentence}", so its tokens belong to no sentence. ` +
          `The first token of each sentence must carry "Sentence: N" (the column is forward-filled from there).`,
      );
    }
    b.token(fields[idx.word], fields[idx.pos], fields[idx.tag].trim(), line);
    if ((++rows & 0xffff) === 0) progress.update(offset);
  });
  progress.finish();
  b.endSentence();

  if (!header)
    throw new ValidationError(
      `${file}: the file is empty. Point data.path at the corpus CSV (header "${Object.values(cols).join(',')}").`,
    );
  if (rows === 0)
    throw new ValidationError(
      `${file}:2: the file has a header but no data rows (a truncated export?). Point data.path at the full corpus.`,
    );
}

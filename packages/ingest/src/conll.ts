import { ValidationError, type DataConfig, type Logger } from '@nerflow/core';
import { tagFits } from '@nerflow/metrics';
import type { CorpusBuilder } from './builder.js';

/**
 * CoNLL column files: one token per line, columns separated by a tab or by spaces, a blank line between
 * sentences, `-DOCSTART-` lines between documents, `#` comment lines before a sentence. Which column is the
 * word, the tag and the POS comes from data.conll (1-based, tag `last` by default). Every token line must
 * have as many columns as the first one.
 */
export function readConll(text: string, file: string, cfg: DataConfig, log: Logger, b: CorpusBuilder): void {
  const opts = cfg.conll;
  const n = text.length;
  let i = 0;
  let line = 0;
  let columns = -1;
  let firstTokenLine = 0;
  let tab = opts.separator === 'tab';
  let inSentence = false;
  let tokens = 0;
  const WS = /[ \t]+/;
  const progress = log.progress('ingest: reading', n, 'chars');
  if (opts.separator === 'auto') {
    // the first token line decides: a tab anywhere in it means tab-separated
    const m = /^(?!#|-DOCSTART-)[^\n]*\S[^\n]*$/m.exec(text);
    tab = !!m && m[0].includes('\t');
  }
  const sepName = tab ? 'tabs' : 'spaces';
  while (i < n) {
    let j = text.indexOf('\n', i);
    if (j < 0) j = n;
    line++;
    let end = j;
    if (end > i && text.charCodeAt(end - 1) === 13) end--;
    const raw = text.slice(i, end);
    i = j + 1;
    if ((line & 0xffff) === 0) progress.update(i);
    const trimmed = raw.trim();
    if (trimmed === '') {
      if (inSentence) b.endSentence();
      else b.blankLines++;
      inSentence = false;
      continue;
    }
    if (trimmed.startsWith('-DOCSTART-')) {
      if (inSentence) b.endSentence();
      inSentence = false;
      b.docstarts++;
      b.doc++;
      continue;
    }
    const fields = tab ? raw.split('\t') : trimmed.split(WS);
    if (tab && fields.length > 1) for (let k = 0; k < fields.length; k++) fields[k] = fields[k].trim();
    if (!inSentence && trimmed.charCodeAt(0) === 35 /* # */ && !looksLikeToken(fields, columns, opts.tag, b)) {
      b.comments++;
      continue;
    }
    if (columns < 0) {
      columns = fields.length;
      firstTokenLine = line;
      if ((trimmed.match(/,/g)?.length ?? 0) >= 2 && !tagFits(fields[columns - 1], b.scheme)) {
        throw new ValidationError(
          `${file}:${line}: read as a CoNLL column file (data.format: ${cfg.format}), but this first line looks like a CSV header or row ` +
            `(${JSON.stringify(trimmed.slice(0, 60))}). Set data.format: csv, or rename the file to .csv.`,
        );
      }
      const need = Math.max(opts.word, opts.tag === 'last' ? 2 : opts.tag, opts.pos ?? 0);
      if (columns < need) {
        throw new ValidationError(
          `${file}:${line}: ${columns} column${columns === 1 ? '' : 's'} (separated by ${sepName}), but data.conll needs ${need} ` +
            `(word ${opts.word}, tag ${opts.tag}${opts.pos ? `, pos ${opts.pos}` : ''}). Set data.conll to this file's columns` +
            (tab ? ', or data.conll.separator: whitespace if its columns are separated by spaces.' : '.'),
        );
      }
    } else if (fields.length !== columns) {
      const other = tab ? trimmed.split(WS) : raw.split('\t').map((f) => f.trim());
      const mixed = other.length === columns;
      throw new ValidationError(
        `${file}:${line}: ${fields.length} column${fields.length === 1 ? '' : 's'}, expected ${columns} as on line ${firstTokenLine} (the first token line). ` +
          (mixed
            ? `This line separates its columns with ${tab ? 'spaces' : 'tabs'} where the file uses ${sepName}` +
              (tab ? '' : ' (a word with a space inside, in a tab-separated file?)') +
              `: make the separators consistent, or set data.conll.separator: ${tab ? 'whitespace' : 'tab'}.`
            : `A missing tag or an extra column? If this is the last line, the file is truncated: re-export or re-download it.`),
      );
    }
    if (!inSentence) {
      if (!b.startSentence(b.sentences + 1, line)) return;
      inSentence = true;
    }
    const word = fields[opts.word - 1];
    const tag = fields[opts.tag === 'last' ? columns - 1 : opts.tag - 1];
    b.token(word, opts.pos ? fields[opts.pos - 1] : '_', tag, line);
    tokens++;
  }
  b.endSentence();
  progress.finish();
  if (tokens === 0) {
    throw new ValidationError(
      `${file}: no token lines (${line} line${line === 1 ? '' : 's'}: blank, -DOCSTART- or # comments). Point data.path (or data.splits) at the corpus.`,
    );
  }
}

/** A `#` line at a sentence start is a comment unless it has the token columns and a tag in the scheme (`# O`, a hashtag). */
function looksLikeToken(fields: string[], columns: number, tagCol: number | 'last', b: CorpusBuilder): boolean {
  if (columns >= 0 && fields.length !== columns) return false;
  if (fields.length < 2) return false;
  const tag = fields[tagCol === 'last' ? fields.length - 1 : tagCol - 1];
  return tag !== undefined && tagFits(tag, b.scheme);
}

import path from 'node:path';
import {
  fileEntry,
  fmtInt,
  fmtSeconds,
  runStage,
  stageCodeVersion,
  stageDir,
  ValidationError,
  type DataConfig,
  type Logger,
  type StageContext,
  type StageResult,
} from '@nerflow/core';
import { schemeName, SCHEME_RULE, schemesThatFit, type TagScheme } from '@nerflow/metrics';
import { corpusDigest, CorpusBuilder, type Corpus, type SplitName } from './builder.js';
import { readConll } from './conll.js';
import { readCsv } from './corpus.js';
import { OpenQuoteAtEnd } from './csv.js';
import { writeCorpusDb } from './db.js';
import { decodeText, looksLikeUtf8, type Encoding } from './decode.js';
import {
  bomInside,
  detectFormat,
  findCut,
  lastCsvSentenceIsCut,
  lastConllSentenceIsCut,
  type Format,
} from './format.js';
import { readSourceBytes } from './source.js';

export const CORPUS_DB = 'corpus.duckdb';

/** The corpus files: data.path, or data.splits' train, val (optional) and test, each with the key that named it. */
export function corpusFiles(data: DataConfig): { split: SplitName | null; file: string; key: string }[] {
  if (data.splits) {
    return (['train', 'val', 'test'] as const)
      .filter((k) => data.splits![k] !== null)
      .map((k) => ({ split: k, file: data.splits![k] as string, key: `data.splits.${k}` }));
  }
  return [{ split: null, file: data.path as string, key: 'data.path' }];
}

/** Read one file into the builder: bytes → cut-off check → decode → CSV or CoNLL. */
async function readFile(
  src: { split: SplitName | null; file: string },
  data: DataConfig,
  log: Logger,
  b: CorpusBuilder,
  renumber: boolean,
) {
  const file = src.file;
  let bytes = await readSourceBytes(file);
  const format: Format = data.format === 'auto' ? detectFormat(file, bytes) : data.format;
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const encoding: Encoding =
    data.encoding !== 'auto' ? data.encoding : bom || format === 'conll' ? 'utf-8' : 'windows-1252';
  if (bom) bytes = bytes.subarray(3);
  const inside = bomInside(bytes);
  if (inside) {
    throw new ValidationError(
      `${file}:${inside.line}: a byte-order mark (U+FEFF, bytes EF BB BF) at byte ${inside.offset + (bom ? 3 : 0)}, inside the file: it is invisible in an editor ` +
        `and would become part of a word. Files joined with cat keep each one's mark; remove it (sed -i 's/\\xEF\\xBB\\xBF//g' FILE) or re-export the file.`,
    );
  }
  const cut = findCut(bytes);
  if (cut) bytes = bytes.subarray(0, cut.lineStart);
  const text = decodeText(bytes, encoding, file);
  if (encoding !== 'utf-8' && looksLikeUtf8(bytes))
    log.warn(
      `${file} looks like UTF-8 but data.encoding is ${encoding}: non-ASCII characters may come out wrong (set data.encoding: utf-8 if so).`,
    );
  b.beginFile(file, src.split);
  const unc = file.endsWith('.gz') ? ' of the uncompressed data' : '';
  const at = (n: number) => n + (bom ? 3 : 0);
  let openQuote: OpenQuoteAtEnd | null = null;
  try {
    if (format === 'csv') readCsv(text, file, data, log, b, renumber);
    else readConll(text, file, data, log, b);
  } catch (e) {
    if (!(e instanceof OpenQuoteAtEnd)) throw e;
    openQuote = e; // the builder holds every row before the one whose quote never closes
  }
  if (openQuote) {
    const rowByte =
      encoding === 'utf-8' ? Buffer.byteLength(text.slice(0, openQuote.rowStart), 'utf8') : openQuote.rowStart;
    const partial = text.slice(openQuote.rowStart, openQuote.rowStart + 200);
    cutOff(
      b,
      data,
      log,
      lastCsvSentenceIsCut(partial, text, data),
      `${file}: the file ends inside a quoted field opened on line ${openQuote.line} ` +
        `(which starts at byte ${at(rowByte)}${unc}): it was cut off there, or that quote is stray (a quote inside a quoted field is written "")`,
      '',
    );
  } else if (cut) {
    const incomplete = format === 'csv' ? lastCsvSentenceIsCut(cut.partial, text, data) : lastConllSentenceIsCut(text);
    cutOff(
      b,
      data,
      log,
      incomplete,
      `${file}: the file is cut off: it ends at byte ${at(cut.size)}${unc} in the middle of line ${cut.line} ` +
        `(which starts at byte ${at(cut.lineStart)}), without the line terminator every other line has`,
      ' (if the file is complete, end it with a newline)',
    );
  }
  return {
    format,
    encoding,
    cut: openQuote ? { open_quote_line: openQuote.line } : cut ? { size: cut.size, line: cut.line } : null,
  };
}

/** A file that ends early: an error naming the last complete sentence, or (data.allow_truncated) a warning that drops the incomplete one. */
function cutOff(
  b: CorpusBuilder,
  data: DataConfig,
  log: Logger,
  incompleteLast: boolean,
  where: string,
  hint: string,
): void {
  // a reader stopped by limit_sentences has not reached the cut: its sentences are all complete
  const stoppedEarly = b.limit !== null && b.fileSentences >= b.limit;
  const incomplete = b.fileSentences > 0 && incompleteLast && !stoppedEarly;
  const lastComplete = b.sentences - 1 - (incomplete ? 1 : 0);
  const last =
    lastComplete >= b.sentences - b.fileSentences
      ? `sentence ${b.sentenceIdOf(lastComplete)} at line ${b.sentenceLines[lastComplete]} (${b.describe(lastComplete)})`
      : 'none (no sentence of this file is complete)';
  if (!data.allow_truncated) {
    throw new ValidationError(
      `${where}. The last complete sentence is ${last}. Re-download or re-export the file, or set data.allow_truncated: true ` +
        `to load it without the incomplete last sentence${hint}.`,
    );
  }
  if (incomplete) b.dropLastSentence();
  log.warn(
    `${where}; data.allow_truncated is true, so the incomplete last sentence is dropped. The last sentence loaded is ${last}.`,
  );
}

function violationError(c: Corpus, scheme: TagScheme, files: string[]): { msg: string; fix: string } {
  const v = c.violations;
  const multi = files.length > 1;
  const where = v.first
    .map((f) => `${multi ? `${f.file}:` : ''}line ${f.line} (sentence ${f.sentence}: ${f.tag} after ${f.prev})`)
    .join(', ');
  const name = multi ? 'the corpus' : files[0];
  const msg = `${name}: ${fmtInt(v.count)} tag${v.count > 1 ? 's' : ''} in ${fmtInt(v.sentences)} sentence${v.sentences > 1 ? 's' : ''} break ${schemeName(scheme)} (${SCHEME_RULE[scheme]}); first: ${where}.`;
  const fits = schemesThatFit(
    c.writtenTags,
    c.lengths,
    ['iob1', 'iob2', 'bioes', 'bilou', 'io'].filter((s) => s !== scheme) as TagScheme[],
  );
  const hint = fits.length
    ? ` The file looks like ${schemeName(fits[0])}${fits[0] === 'iob1' ? ' (entities start with I-; B- only separates two adjacent entities of one type)' : ''}: declare it with data.scheme: ${fits[0]}.`
    : '';
  return { msg: msg + hint, fix: `Fix the tags, or set data.iob2: warn to load them as they are.` };
}

/** `nerflow ingest`: the corpus file(s) → runs/<name>/ingest/corpus.duckdb, table tokens, in file order. */
export async function ingest(ctx: StageContext): Promise<StageResult> {
  const { config, log } = ctx;
  const data = config.data;
  const dir = stageDir(ctx.root, config.name, 'ingest');
  const files = corpusFiles(data);
  const sources = [];
  for (const f of files) {
    const entry = await fileEntry(f.file).catch(() => null);
    if (!entry) {
      throw new ValidationError(
        `${f.file}: no such file (${f.key} in ${config.file}). Paths are relative to the config file; the bundled corpus is data/ner_dataset.csv.gz.`,
      );
    }
    // The fingerprint holds the file's hash, not its absolute path, so it is the same in every checkout.
    sources.push({ ...entry, path: path.relative(ctx.root, f.file), ...(f.split ? { split: f.split } : {}) });
  }
  const { path: _p, splits: _s, ...dataSection } = data;
  const id = {
    stage: 'ingest',
    config: dataSection,
    upstream: {},
    code_version: await stageCodeVersion('ingest'),
    inputs: sources,
  };

  return runStage({
    id,
    dir,
    force: ctx.force,
    log,
    build: async (staging) => {
      const t0 = performance.now();
      const b = new CorpusBuilder(data.scheme, data.limit_sentences);
      const read: Record<string, unknown>[] = [];
      for (const f of files)
        read.push({
          file: path.relative(ctx.root, f.file),
          ...(f.split ? { split: f.split } : {}),
          ...(await readFile(f, data, log, b, files.length > 1)),
        });
      const tRead = performance.now();
      if (b.sentences === 0)
        throw new ValidationError(
          `${files[0].file}: no complete sentence to load. Point ${files[0].key} at the full corpus.`,
        );
      const corpus = b.finish();
      const v = corpus.violations;
      if (v.count) {
        const { msg, fix } = violationError(
          corpus,
          data.scheme,
          files.map((f) => f.file),
        );
        if (data.iob2 === 'error') throw new ValidationError(`${msg} ${fix}`);
        log.warn(msg);
      }
      if (corpus.blankLines && files.every((f) => !isConll(read, f.file, ctx.root)))
        log.warn(`${files[0].file}: skipped ${corpus.blankLines} blank line(s).`);
      const tParse = performance.now();
      await writeCorpusDb(path.join(staging, CORPUS_DB), corpus);
      const tDb = performance.now();
      const counts = { ...corpusCounts(corpus, data), ...splitCounts(corpus), files: read };
      log.info(
        `ingest: ${fmtInt(counts.rows)} rows, ${fmtInt(counts.sentences)} sentences (max ${counts.max_length}, mean ${counts.mean_length.toFixed(1)} tokens), ` +
          `${counts.tags} tags${data.scheme !== 'iob2' ? ` (${schemeName(data.scheme)} → IOB2)` : ''}` +
          `${data.splits ? `, ${(['train', 'val', 'test'] as const).map((s) => `${s} ${fmtInt(counts.splits?.[s]?.sentences ?? 0)}`).join(' / ')}` : ''} ` +
          `in ${fmtSeconds((tDb - t0) / 1000)} → ${path.relative(process.cwd(), path.join(dir, CORPUS_DB))}`,
      );
      return {
        counts,
        contentDigests: { [CORPUS_DB]: corpusDigest(corpus) },
        timings_s: {
          read_parse: (tRead - t0) / 1000,
          check_convert: (tParse - tRead) / 1000,
          duckdb: (tDb - tParse) / 1000,
        },
      };
    },
  });
}

const isConll = (read: Record<string, unknown>[], file: string, root: string) =>
  read.find((r) => r.file === path.relative(root, file))?.format === 'conll';

function lengthStats(lengths: number[]) {
  let max = 0;
  let min = Infinity;
  let sum = 0;
  for (const n of lengths) {
    if (n > max) max = n;
    if (n < min) min = n;
    sum += n;
  }
  return { max, min: lengths.length ? min : 0, sum };
}

function corpusCounts(c: Corpus, data: DataConfig) {
  const { max, min } = lengthStats(c.lengths);
  const sorted = (o: Record<string, number>) =>
    Object.fromEntries(Object.entries(o).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
  return {
    rows: c.rows,
    sentences: c.sentences,
    tags: Object.keys(c.tagCounts).length,
    tag_counts: sorted(c.tagCounts),
    max_length: max,
    min_length: min,
    mean_length: +(c.rows / c.sentences).toFixed(4),
    distinct_words: new Set(c.words).size,
    iob2_violations: c.violations.count,
    truncated_to_sentences: data.limit_sentences,
    scheme: data.scheme,
    documents: c.docstarts,
    comment_lines: c.comments,
  };
}

/** Per split (data.splits): sentences, rows, tokens per sentence, tag counts (IOB2). */
function splitCounts(c: Corpus): {
  splits?: Record<
    SplitName,
    { sentences: number; rows: number; max_length: number; entities: number; tag_counts: Record<string, number> }
  >;
} {
  if (c.sentenceSplits.every((s) => s === null)) return {};
  const out = {} as Record<
    SplitName,
    { sentences: number; rows: number; max_length: number; entities: number; tag_counts: Record<string, number> }
  >;
  let r = 0;
  c.lengths.forEach((n, k) => {
    const s = c.sentenceSplits[k] as SplitName;
    const o = (out[s] ??= { sentences: 0, rows: 0, max_length: 0, entities: 0, tag_counts: {} });
    o.sentences++;
    o.rows += n;
    o.max_length = Math.max(o.max_length, n);
    for (let i = 0; i < n; i++, r++) {
      const t = c.tags[r];
      o.tag_counts[t] = (o.tag_counts[t] ?? 0) + 1;
      if (t.charCodeAt(0) === 66 /* B */) o.entities++;
    }
  });
  return { splits: out };
}

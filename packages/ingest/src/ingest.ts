import path from 'node:path';
import { fileEntry, fmtInt, fmtSeconds, runStage, stageCodeVersion, stageDir, ValidationError, type StageContext, type StageResult } from '@nerflow/core';
import { corpusDigest, readCorpus } from './corpus.js';
import { writeCorpusDb } from './db.js';
import { decodeText, looksLikeUtf8 } from './decode.js';
import { readSourceBytes } from './source.js';

export const CORPUS_DB = 'corpus.duckdb';

/** `nerflow ingest`: the corpus CSV → runs/<name>/ingest/corpus.duckdb, table tokens, in file order. */
export async function ingest(ctx: StageContext): Promise<StageResult> {
  const { config, log } = ctx;
  const data = config.data;
  const dir = stageDir(ctx.root, config.name, 'ingest');
  const source = await fileEntry(data.path).catch(() => null);
  if (!source) throw new ValidationError(`${data.path}: no such file (data.path in ${config.file}). Paths are relative to the config file; the bundled corpus is data/ner_dataset.csv.gz.`);
  // The fingerprint holds the file's hash, not its absolute path, so it is the same in every checkout.
  const { path: _p, ...dataSection } = data;
  const relSource = { ...source, path: path.relative(ctx.root, data.path) };
  const id = { stage: 'ingest', config: dataSection, upstream: {}, code_version: await stageCodeVersion('ingest'), inputs: [relSource] };

  return runStage({
    id, dir, force: ctx.force, log,
    build: async (staging) => {
      const t0 = performance.now();
      const bytes = await readSourceBytes(data.path);
      const text = decodeText(bytes, data.encoding, data.path);
      if (data.encoding !== 'utf-8' && looksLikeUtf8(bytes)) log.warn(`${data.path} looks like UTF-8 but data.encoding is ${data.encoding}: non-ASCII characters may come out wrong (set data.encoding: utf-8 if so).`);
      const tRead = performance.now();
      const corpus = readCorpus(text, data.path, data, log);
      const v = corpus.iob2Violations;
      if (v.count) {
        const where = v.first.map((f) => `line ${f.line} (sentence ${f.sentence}: ${f.tag} after ${f.prev})`).join(', ');
        const msg = `${data.path}: ${fmtInt(v.count)} tag${v.count > 1 ? 's' : ''} in ${fmtInt(v.sentences)} sentence${v.sentences > 1 ? 's' : ''} break IOB2 (an I-X must follow B-X or I-X); first: ${where}.`;
        if (data.iob2 === 'error') throw new ValidationError(`${msg} Fix the tags, or set data.iob2: warn to load them as they are.`);
        log.warn(msg);
      }
      if (corpus.blankLines) log.warn(`${data.path}: skipped ${corpus.blankLines} blank line(s).`);
      const tParse = performance.now();
      await writeCorpusDb(path.join(staging, CORPUS_DB), corpus);
      const tDb = performance.now();
      const lengths = corpus.lengths;
      const maxLen = lengths.reduce((a, b) => Math.max(a, b), 0);
      const counts = {
        rows: corpus.rows,
        sentences: corpus.sentences,
        tags: Object.keys(corpus.tagCounts).length,
        tag_counts: Object.fromEntries(Object.entries(corpus.tagCounts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))),
        max_length: maxLen,
        min_length: lengths.reduce((a, b) => Math.min(a, b), Infinity),
        mean_length: +(corpus.rows / corpus.sentences).toFixed(4),
        distinct_words: new Set(corpus.words).size,
        iob2_violations: v.count,
        truncated_to_sentences: data.limit_sentences,
      };
      log.info(
        `ingest: ${fmtInt(counts.rows)} rows, ${fmtInt(counts.sentences)} sentences (max ${maxLen}, mean ${counts.mean_length.toFixed(1)} tokens), ` +
          `${counts.tags} tags in ${fmtSeconds((tDb - t0) / 1000)} → ${path.relative(process.cwd(), path.join(dir, CORPUS_DB))}`,
      );
      return { counts, contentDigests: { [CORPUS_DB]: corpusDigest(corpus) }, timings_s: { read_decode: (tRead - t0) / 1000, parse: (tParse - tRead) / 1000, duckdb: (tDb - tParse) / 1000 } };
    },
  });
}

import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  fmtInt,
  fmtSeconds,
  readManifest,
  runStage,
  stageCodeVersion,
  stageDir,
  stageFingerprint,
  ValidationError,
  writeFileAtomic,
  writeJsonAtomic,
  type StageContext,
  type StageResult,
} from '@nerflow/core';
import { isNpmVectors, vectorFileEntry, VectorFileError } from '@nerflow/nn/vectors';
import { splitToIpc } from './arrow.js';
import { buildCharVocab, packChars, pretrainedExtraWords, tokenWords } from './chars.js';
import {
  buildVocab,
  corpusSplit,
  entityCounts,
  oovTypes,
  openCorpus,
  registerSplit,
  sentenceLengths,
  tagCounts,
  tagCountsBySplit,
  tokenIds,
} from './corpus.js';
import { writeEda } from './eda.js';
import { packRows } from './rows.js';
import { SPLITS, splitSentences, valFromTrain } from './split.js';
import { orderTags } from './tags.js';

/** `nerflow featurize`: corpus.duckdb → vocabulary, tag index, split, padded Arrow tensors, EDA. */
export async function featurize(ctx: StageContext): Promise<StageResult> {
  const { config, log } = ctx;
  const cfg = config.featurize;
  const ingestDir = stageDir(ctx.root, config.name, 'ingest');
  const dbFile = path.join(ingestDir, 'corpus.duckdb');
  const upstream = await readManifest(ingestDir);
  if (!upstream || !existsSync(dbFile)) {
    throw new ValidationError(
      `${dbFile}: missing. Run \`npx nerflow ingest --config ${config.name}\` first (or \`npx nerflow pipeline --config ${config.name}\`).`,
    );
  }
  // a pretrained_vocab file counts by its hash (an input), not its absolute path
  const pv = cfg.pretrained_vocab;
  // (npm:<package>: its name, version and size, vectorFileEntry)
  const pvEntry = pv ? await vectorFileEntry(pv.path, ctx.root).catch((e: Error) => e) : null;
  if (pvEntry instanceof VectorFileError)
    throw new ValidationError(`${pvEntry.message} (featurize.pretrained_vocab.path in ${config.file})`);
  if (pv && (!pvEntry || pvEntry instanceof Error))
    throw new ValidationError(
      `${pv.path}: no such file (featurize.pretrained_vocab.path in ${config.file}). Paths are relative to the config file.`,
    );
  const id = {
    stage: 'featurize',
    config: { featurize: pv ? { ...cfg, pretrained_vocab: { ...pv, path: null } } : cfg },
    upstream: { ingest: upstream.fingerprint },
    code_version: await stageCodeVersion('featurize'),
    inputs: pvEntry && !(pvEntry instanceof Error) ? [pvEntry] : [],
  };

  return runStage({
    id,
    dir: stageDir(ctx.root, config.name, 'featurize'),
    force: ctx.force,
    log,
    build: async (staging) => {
      const t0 = performance.now();
      const { conn, close, hasSplit } = await openCorpus(dbFile, cfg.tag_scheme);
      try {
        const { ids, lengths } = await sentenceLengths(conn);
        // A corpus's own split (data.splits) is kept as it is; without a val file, val comes out of train.
        const own = await corpusSplit(conn, hasSplit);
        const split = !own
          ? splitSentences(ids, cfg.split, cfg.seed)
          : own.val.length
            ? own
            : valFromTrain(own, cfg.split.val, cfg.seed);
        if (own && !own.val.length)
          log.info(
            `featurize: no val file in data.splits: val is ${fmtInt(split.val.length)} train sentences (featurize.split.val ${cfg.split.val}, seed ${cfg.seed})`,
          );
        if (own && !split.train.length)
          throw new ValidationError(
            `${dbFile}: the train split is empty (data.splits.train has no sentences left). Point data.splits.train at the training file.`,
          );
        await registerSplit(conn, split);
        const vocab = await buildVocab(conn, cfg);
        const trainWords = vocab.words.length;
        let extra: { words: string[]; fileWords: number } | null = null;
        if (pv) {
          try {
            extra = await pretrainedExtraWords(conn, pv, cfg.lowercase, vocab.words);
          } catch (e) {
            if (e instanceof VectorFileError)
              throw new ValidationError(`${e.message} (featurize.pretrained_vocab.path in ${config.file})`);
            throw e;
          }
          vocab.words.push(...extra.words);
          const pvName = isNpmVectors(pv.path) ? pv.path : path.relative(ctx.root, pv.path);
          log.info(
            `featurize: pretrained_vocab: ${fmtInt(extra.words.length)} val/test words of ${pvName} (${fmtInt(extra.fileWords)} words) join the vocabulary after the ${fmtInt(trainWords)} train ids`,
          );
        }
        if (trainWords <= 2)
          throw new ValidationError(
            `${config.file}: featurize.min_count ${cfg.min_count} leaves no word in the vocabulary (the most frequent train word occurs fewer times). Lower featurize.min_count.`,
          );
        const allTags = await tagCounts(conn);
        const tags = orderTags(Object.keys(allTags));
        if (tags.length > 127)
          throw new ValidationError(
            `${dbFile}: ${tags.length} distinct tags; the Arrow tags column is Int8 (at most 127).`,
          );
        const tTables = performance.now();
        const cols = await tokenIds(conn, cfg, vocab.words, tags);
        const tIds = performance.now();
        const lengthBySentence = new Map<number, number>();
        ids.forEach((sid, i) => lengthBySentence.set(sid, lengths[i]));
        const trainMax = split.train.reduce((m, sid) => Math.max(m, lengthBySentence.get(sid)!), 0);
        const maxLen = cfg.max_len === 'auto' ? trainMax : cfg.max_len;
        const packed = packRows(cols, maxLen, cfg.long_sentences);
        const tChars0 = performance.now();
        const words = await tokenWords(conn);
        const tWords = performance.now();
        const charVocab = buildCharVocab(words, cols.split, cfg.max_word_len);
        const chars = Object.fromEntries(SPLITS.map((name) => [name, packChars(packed.rows[name], words, charVocab)]));
        const tChars = performance.now();
        const meta = (name: string) => ({
          max_len: String(maxLen),
          vocab_size: String(vocab.words.length),
          tags: JSON.stringify(tags),
          tag_scheme: cfg.tag_scheme,
          fingerprint: stageFingerprint(id),
          split: name,
          char_vocab_size: String(charVocab.chars.length),
          max_word_len: String(cfg.max_word_len),
        });
        for (const name of SPLITS)
          await writeFileAtomic(
            path.join(staging, `${name}.arrow`),
            splitToIpc(packed.rows[name], meta(name), chars[name].chars),
          );
        const tArrow = performance.now();
        await writeJsonAtomic(path.join(staging, 'chars.json'), {
          max_word_len: cfg.max_word_len,
          size: charVocab.chars.length,
          chars: charVocab.chars,
        });
        await writeJsonAtomic(path.join(staging, 'vocab.json'), {
          lowercase: cfg.lowercase,
          min_count: cfg.min_count,
          size: vocab.words.length,
          ...(extra ? { train_size: trainWords, pretrained_extra: extra.words.length } : {}),
          words: vocab.words,
        });
        // scheme: what the tag ids mean; corpus_scheme: what to write predictions in (data.scheme), so a model folder stands alone
        await writeJsonAtomic(path.join(staging, 'tags.json'), {
          tags,
          scheme: cfg.tag_scheme,
          corpus_scheme: config.data.scheme,
        });
        const oov = await oovTypes(conn, cfg);
        const entities = await entityCounts(conn);
        const lengthHist = new Map<string, number>();
        for (const name of SPLITS)
          for (const sid of split[name]) {
            const key = `${name}\t${lengthBySentence.get(sid)}`;
            lengthHist.set(key, (lengthHist.get(key) ?? 0) + 1);
          }
        await writeEda(staging, {
          lengths: [...lengthHist]
            .map(([k, n]) => ({ split: k.split('\t')[0] as 'train', length: Number(k.split('\t')[1]), sentences: n }))
            .sort((a, b) => (a.split < b.split ? -1 : a.split > b.split ? 1 : a.length - b.length)),
          tags: allTags,
          tags_by_split: await tagCountsBySplit(conn),
          entities,
        });
        const tEda = performance.now();
        const entitiesIn = (name: string) => entities.filter((e) => e.split === name).reduce((a, e) => a + e.count, 0);
        const perSplit = Object.fromEntries(
          SPLITS.map((name, k) => [
            name,
            {
              sentences: split[name].length,
              rows: packed.rows[name].n,
              tokens: packed.tokensPer[k],
              entities: entitiesIn(name),
              oov_tokens: packed.oovPer[k],
              oov_token_rate: +(packed.oovPer[k] / Math.max(1, packed.tokensPer[k])).toFixed(6),
              types: oov[name]?.types ?? 0,
              oov_types: oov[name]?.oov_types ?? 0,
              oov_type_rate: +((oov[name]?.oov_types ?? 0) / Math.max(1, oov[name]?.types ?? 0)).toFixed(6),
            },
          ]),
        );
        const counts = {
          sentences: ids.length,
          split_from: own ? (own.val.length ? 'corpus' : 'corpus, val from train') : 'seeded',
          tag_scheme: cfg.tag_scheme,
          splits: perSplit,
          vocab_size: vocab.words.length,
          train_word_types: vocab.trainTypes,
          tags: tags.length,
          max_len: maxLen,
          ...(extra
            ? {
                pretrained_vocab: {
                  words_in_file: extra.fileWords,
                  added_words: extra.words.length,
                  train_vocab_size: trainWords,
                },
              }
            : {}),
          chars: {
            vocab_size: charVocab.chars.length,
            max_word_len: cfg.max_word_len,
            cut_tokens: SPLITS.reduce((a, name) => a + chars[name].cut, 0),
            unknown_chars: Object.fromEntries(SPLITS.map((name) => [name, chars[name].unknown])),
          },
          longest_train_sentence: trainMax,
          long_sentences: cfg.long_sentences,
          chunked_sentences: packed.chunked,
          truncated_sentences: packed.truncated,
          truncated_tokens: packed.droppedTokens,
        };
        log.info(
          `featurize: ${SPLITS.map((s) => `${s} ${fmtInt(split[s].length)}`).join(' / ')} sentences, vocabulary ${fmtInt(vocab.words.length)}, ${tags.length} tags, max_len ${maxLen}; ` +
            `OOV val ${(perSplit.val.oov_token_rate * 100).toFixed(2)}% test ${(perSplit.test.oov_token_rate * 100).toFixed(2)}% of tokens (${fmtSeconds((tEda - t0) / 1000)})`,
        );
        return {
          counts,
          timings_s: {
            tables: (tTables - t0) / 1000,
            token_ids: (tIds - tTables) / 1000,
            chars_read: (tWords - tChars0) / 1000,
            chars: (tChars - tWords) / 1000,
            arrow: (tArrow - tChars) / 1000,
            eda: (tEda - tArrow) / 1000,
          },
        };
      } finally {
        close();
      }
    },
  });
}

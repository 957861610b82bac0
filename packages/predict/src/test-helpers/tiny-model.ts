import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TOKENIZER } from '@nerflow/core';
import { convertTags } from '@nerflow/metrics';
import { createTagger, encodeChars, initBackend, writeModelMeta, type Batch, type TaggerSpec } from '@nerflow/nn';
import { corpusSentences } from '../../../core/src/test-helpers/corpus.js';

/** What the tiny model is: the default is the softmax head on IOB2 tags, words only. */
export interface TinyModelOptions {
  /** A char CNN (train.chars), its vocabulary in chars.json as featurize writes it. */
  chars?: boolean;
  /** A CRF head (train.head: crf, constrained). */
  crf?: boolean;
  /** Trained on BIOES tags (featurize.tag_scheme: bioes). */
  scheme?: 'iob2' | 'bioes';
}

const cached = new Map<string, Promise<string>>();

/**
 * A tiny model folder as train writes it (standard TF.js files + nerflow.json with vocabulary, tags,
 * tokenizer; chars.json for a char model), trained for a few seconds on the first 1,500 corpus
 * sentences; once per process and kind.
 */
export function tinyModelDir(o: TinyModelOptions = {}): Promise<string> {
  const key = JSON.stringify([!!o.chars, !!o.crf, o.scheme ?? 'iob2']);
  let dir = cached.get(key);
  if (!dir) cached.set(key, (dir = build(o)));
  return dir;
}

async function build(o: TinyModelOptions): Promise<string> {
  await initBackend('wasm');
  const scheme = o.scheme ?? 'iob2';
  const train = corpusSentences()
    .slice(0, 1500)
    .map((s) => ({ words: s.words, tags: convertTags(s.tags, 'iob2', scheme) }));
  const counts = new Map<string, number>();
  for (const s of train) for (const w of s.words) counts.set(w.toLowerCase(), (counts.get(w.toLowerCase()) ?? 0) + 1);
  const words = ['<PAD>', '<UNK>', ...[...counts].filter(([, n]) => n >= 2).map(([w]) => w)];
  const order = 'BIES';
  const tags = [
    'O',
    ...[...new Set(train.flatMap((s) => s.tags))]
      .filter((t) => t !== 'O')
      .sort((a, b) => a.slice(2).localeCompare(b.slice(2)) || order.indexOf(a[0]) - order.indexOf(b[0])),
  ];
  // the character vocabulary as featurize builds it: <PAD>, <UNK>, then the train words' characters by count
  const charCounts = new Map<string, number>();
  for (const s of train) for (const w of s.words) for (const c of w) charCounts.set(c, (charCounts.get(c) ?? 0) + 1);
  const chars = ['<PAD>', '<UNK>', ...[...charCounts].sort((a, b) => b[1] - a[1]).map(([c]) => c)];
  const maxWordLen = 20;
  const wid = new Map(words.map((w, i) => [w, i]));
  const spec: TaggerSpec = {
    kind: 'fused',
    vocabSize: words.length,
    numTags: tags.length,
    embeddingDim: 16,
    lstmUnits: 16,
    dropout: 0,
    recurrentDropout: 0,
    learningRate: 0.01,
    adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    seed: 1,
    ...(o.crf ? { head: 'crf' as const, crf: { constrain: true, tags } } : {}),
    ...(o.chars ? { chars: { type: 'cnn' as const, vocabSize: chars.length, dim: 8, filters: 8, width: 3 } } : {}),
  };
  const tagger = createTagger(spec);
  const sorted = [...train].sort((a, b) => a.words.length - b.words.length);
  for (let epoch = 0; epoch < 4; epoch++) {
    for (let i = 0; i < sorted.length; i += 32) {
      const rows = sorted.slice(i, i + 32);
      const steps = rows[rows.length - 1].words.length;
      const b: Batch = {
        size: rows.length,
        steps,
        tokens: new Int32Array(rows.length * steps),
        tags: new Int32Array(rows.length * steps),
        lengths: Int32Array.from(rows, (r) => r.words.length),
        index: Int32Array.from(rows.keys()),
        chars: o.chars
          ? encodeChars(
              rows.map((r) => r.words),
              steps,
              chars,
              maxWordLen,
            )
          : undefined,
      };
      rows.forEach((r, j) => {
        b.tokens.set(
          r.words.map((w) => wid.get(w.toLowerCase()) ?? 1),
          j * steps,
        );
        b.tags.set(
          r.tags.map((t) => tags.indexOf(t)),
          j * steps,
        );
      });
      tagger.trainBatch(b);
    }
  }
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-predict-')), 'model');
  await tagger.save(dir);
  tagger.dispose();
  if (o.chars)
    writeFileSync(
      path.join(dir, 'chars.json'),
      JSON.stringify({ max_word_len: maxWordLen, size: chars.length, chars }) + '\n',
    );
  await writeModelMeta(dir, {
    vocab: { lowercase: true, words, padding_id: 0, unknown_id: 1 },
    tags,
    tag_scheme: scheme,
    max_len: 104,
    tokenizer: { ...TOKENIZER },
    training: { config: 'test', featurize: { tag_scheme: scheme } },
  });
  return dir;
}

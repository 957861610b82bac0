import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TOKENIZER } from '@nerflow/core';
import { createTagger, initBackend, writeModelMeta, type Batch } from '@nerflow/nn';
import { corpusSentences } from '../../../core/src/test-helpers/corpus.js';

let cached: Promise<string> | null = null;

/**
 * A tiny model folder as train writes it (standard TF.js files + nerflow.json with vocabulary, tags,
 * tokenizer), trained for a few seconds on the first 1,500 corpus sentences; once per process.
 */
export function tinyModelDir(): Promise<string> {
  cached ??= (async () => {
    await initBackend('wasm');
    const train = corpusSentences().slice(0, 1500);
    const counts = new Map<string, number>();
    for (const s of train) for (const w of s.words) counts.set(w.toLowerCase(), (counts.get(w.toLowerCase()) ?? 0) + 1);
    const words = ['<PAD>', '<UNK>', ...[...counts].filter(([, n]) => n >= 2).map(([w]) => w)];
    const tags = [
      'O',
      ...[...new Set(train.flatMap((s) => s.tags))]
        .filter((t) => t !== 'O')
        .sort((a, b) => a.slice(2).localeCompare(b.slice(2)) || a.localeCompare(b)),
    ];
    const wid = new Map(words.map((w, i) => [w, i]));
    const tagger = createTagger({
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
    });
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
    await writeModelMeta(dir, {
      vocab: { lowercase: true, words, padding_id: 0, unknown_id: 1 },
      tags,
      max_len: 104,
      tokenizer: { ...TOKENIZER },
      training: { config: 'test' },
    });
    return dir;
  })();
  return cached;
}

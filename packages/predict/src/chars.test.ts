import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { TOKENIZER, ValidationError } from '@nerflow/core';
import { createTagger, encodeChars, initBackend, writeModelMeta, type Batch, type CharSpec } from '@nerflow/nn';
import { Predictor } from './predictor.js';

// predict and serve with a char model (char CNN or char BiLSTM): the tokens' characters go through the
// model's own character vocabulary (chars.json), as featurize encoded them for training.

before(async () => {
  await initBackend('wasm');
});

const words = ['<PAD>', '<UNK>', 'john', 'lives', 'in', 'paris', '.'];
const tags = ['O', 'B-geo', 'I-geo', 'B-per', 'I-per'];
const chars = ['<PAD>', '<UNK>', ...'Johnlivesinpar.'.split('').filter((c, i, a) => a.indexOf(c) === i)];

async function charModel(c: CharSpec): Promise<string> {
  const tagger = createTagger({
    kind: 'fused',
    vocabSize: words.length,
    numTags: tags.length,
    embeddingDim: 6,
    lstmUnits: 5,
    dropout: 0,
    recurrentDropout: 0,
    learningRate: 0.01,
    adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    seed: 1,
    head: 'crf',
    crf: { constrain: true, tags },
    chars: c,
  });
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-predict-chars-')), 'model');
  await tagger.save(dir);
  writeFileSync(path.join(dir, 'chars.json'), JSON.stringify({ max_word_len: 4, size: chars.length, chars }));
  await writeModelMeta(dir, {
    vocab: { lowercase: true, words, padding_id: 0, unknown_id: 1 },
    tags,
    max_len: 20,
    tokenizer: { ...TOKENIZER },
    training: { config: 'test' },
  });
  return dir;
}

for (const c of [
  { type: 'cnn', vocabSize: chars.length, dim: 3, filters: 4, width: 3 },
  { type: 'lstm', vocabSize: chars.length, dim: 3, units: 2 },
] as CharSpec[])
  test(`predict tags with a char ${c.type} model: the characters reach the model as featurize encodes them`, async () => {
    const dir = await charModel(c);
    const p = await Predictor.load(dir);
    const sentence = ['John', 'lives', 'in', 'Paris', 'zzz', '.'];
    const [got] = p.predict([{ tokens: sentence }]);
    // the same sentence through the model directly, its chars encoded by featurize's rules (cap 4, unknown 1)
    const b: Batch = {
      size: 1,
      steps: sentence.length,
      tokens: Int32Array.from(sentence, (w) => Math.max(1, words.indexOf(w.toLowerCase()))),
      tags: new Int32Array(sentence.length),
      lengths: Int32Array.of(sentence.length),
      index: Int32Array.of(0),
      chars: encodeChars([sentence], sentence.length, chars, 4),
    };
    const want = Array.from(p.tagger.evaluateBatch(b).predictions, (k) => tags[k]);
    assert.deepEqual(got.tags, want);
    // the characters matter: another spelling of the same word ids gives other scores
    const other = { ...b, chars: encodeChars([sentence.map((w) => w.toUpperCase())], sentence.length, chars, 4) };
    assert.notDeepEqual(Array.from(p.tagger.probabilities(other)), Array.from(p.tagger.probabilities(b)));
    // a char model's folder without its character vocabulary: a clear error naming the file
    rmSync(path.join(dir, 'chars.json'));
    await assert.rejects(
      Predictor.load(dir),
      (e: unknown) => e instanceof ValidationError && /chars\.json/.test(e.message),
    );
  });

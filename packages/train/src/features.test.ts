import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TrainSchema, ValidationError, type Logger } from '@nerflow/core';
import { loadTagger, makeBatches } from '@nerflow/nn';
import { EmbeddingsCache } from './embeddings.js';
import { runTrial, taggerSpec, type TrialData } from './trial.js';
import { tinySplit } from './test-helpers/tiny-split.js';

const words = ['<PAD>', '<UNK>', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8', 'w9'];

const data: TrialData = {
  train: tinySplit(12, 0, { chars: true }),
  val: tinySplit(4, 1, { chars: true }),
  tags: ['O', 'B-x'],
  vocabSize: words.length,
  charVocabSize: 6,
};
const silent: Logger = { info() {}, warn() {}, debug() {}, progress: () => ({ update() {}, finish() {} }) };
const trial = (train: Record<string, unknown>) => ({
  id: 'main',
  overrides: {},
  train: TrainSchema.parse({ epochs: 2, lstm_units: 4, embedding_dim: 3, batch_size: 4, ...train }),
});

test('a char-CNN model saves and loads symmetrically: the char weights and chars spec travel in the model folder', async () => {
  const workDir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-chars-')), '.main.work');
  const t = trial({ chars: { type: 'cnn', dim: 4, filters: 5, width: 3 } });
  const out = await runTrial({ trial: t, data, workDir, resume: false, log: silent, fingerprint: 'fp' });
  const model = JSON.parse(readFileSync(path.join(out.modelDir, 'model.json'), 'utf8'));
  const names = model.weightsManifest[0].weights.map((w: { name: string }) => w.name);
  for (const n of ['char_embedding/embeddings', 'char_conv/kernel', 'char_conv/bias'])
    assert.ok(names.includes(n), `${n} saved`);
  const a = await loadTagger(out.modelDir);
  assert.deepEqual(a.spec.chars, { type: 'cnn', vocabSize: 6, dim: 4, filters: 5, width: 3 });
  const again = path.join(path.dirname(workDir), 'again');
  await a.save(again);
  assert.ok(
    readFileSync(path.join(again, 'weights.bin')).equals(readFileSync(path.join(out.modelDir, 'weights.bin'))),
    'load → save gives the same bytes',
  );
  const b = await loadTagger(again);
  for (const batch of makeBatches(data.val, { batchSize: 4, seed: 0, epoch: 0, shuffle: false })) {
    const pa = a.evaluateBatch(batch);
    assert.deepEqual(pa, b.evaluateBatch(batch));
  }
  // without its chars column the same data cannot feed this model: a clear error, not a crash
  assert.throws(
    () => taggerSpec(t, { ...data, charVocabSize: null }),
    (e: unknown) => e instanceof ValidationError && /no chars column.*featurize --force/.test(e.message),
  );
});

test('a char-BiLSTM model (chars.type lstm) trains, saves and loads symmetrically: its weights and spec travel', async () => {
  const workDir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-charlstm-')), '.main.work');
  const t = trial({ chars: { type: 'lstm', dim: 4, units: 3 }, head: 'crf' });
  const out = await runTrial({ trial: t, data, workDir, resume: false, log: silent, fingerprint: 'fp' });
  const model = JSON.parse(readFileSync(path.join(out.modelDir, 'model.json'), 'utf8'));
  const names = model.weightsManifest[0].weights.map((w: { name: string }) => w.name);
  for (const n of ['char_embedding/embeddings', 'char_forward_lstm/kernel', 'char_backward_lstm/recurrent_kernel'])
    assert.ok(names.includes(n), `${n} saved`);
  assert.ok(!names.some((n: string) => n.startsWith('char_conv')), 'no char CNN weights');
  const a = await loadTagger(out.modelDir);
  assert.deepEqual(a.spec.chars, { type: 'lstm', vocabSize: 6, dim: 4, units: 3 });
  const again = path.join(path.dirname(workDir), 'again');
  await a.save(again);
  assert.ok(
    readFileSync(path.join(again, 'weights.bin')).equals(readFileSync(path.join(out.modelDir, 'weights.bin'))),
    'load → save gives the same bytes',
  );
  const b = await loadTagger(again);
  for (const batch of makeBatches(data.val, { batchSize: 4, seed: 0, epoch: 0, shuffle: false }))
    assert.deepEqual(a.evaluateBatch(batch), b.evaluateBatch(batch));
});

test('pre-trained vectors initialise the matching rows; freeze keeps them; a dimension mismatch names the file and the fix', async () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-emb-'));
  const file = path.join(tmp, 'vectors.txt');
  writeFileSync(file, 'w2 0.5 -0.5 0.25\nW3 1 2 3\nother 9 9 9\n');
  const lines: string[] = [];
  const log: Logger = { ...silent, info: (m) => lines.push(m) };
  const cache = new EmbeddingsCache(words, data.train, log, tmp);
  const cfg = { path: file, format: 'glove' as const, lowercase: true, freeze: true };
  const { rows, report } = await cache.rows(cfg, 3, 'configs/t.yaml');
  assert.deepEqual([...rows.keys()].sort(), [2, 3]);
  assert.equal(report.found_types, 2);
  assert.equal(report.train_types, 8);
  assert.equal(report.coverage_types, 0.25);
  assert.ok(report.found_tokens > 0 && report.found_tokens < report.train_tokens);
  assert.match(
    lines.join('\n'),
    /pre-trained vectors vectors\.txt: 3 words × 3; found 25\.0% of the train vocabulary \(2\/8 words\) and [\d.]+% of train tokens/,
  );
  const workDir = path.join(tmp, '.main.work');
  const out = await runTrial({
    trial: trial({ embeddings: cfg }),
    data: { ...data, initialEmbeddings: rows },
    workDir,
    resume: false,
    log: silent,
    fingerprint: 'fp',
  });
  const m = JSON.parse(readFileSync(path.join(out.modelDir, 'model.json'), 'utf8'));
  const all = new Float32Array(new Uint8Array(readFileSync(path.join(out.modelDir, 'weights.bin'))).buffer);
  assert.equal(m.weightsManifest[0].weights[0].name, 'embedding/embeddings');
  assert.deepEqual(
    Array.from(all.slice(2 * 3, 4 * 3)),
    [0.5, -0.5, 0.25, 1, 2, 3],
    'frozen: the pre-trained rows are what was saved after training',
  );
  await assert.rejects(
    cache.rows(cfg, 50, 'configs/t.yaml'),
    (e: unknown) =>
      e instanceof ValidationError &&
      /vectors\.txt: its vectors have 3 dimensions, but train\.embedding_dim is 50 .*Set train\.embedding_dim: 3/.test(
        e.message,
      ),
  );
  writeFileSync(path.join(tmp, 'bad.txt'), 'a 1 2 3\nb 1 2\n');
  await assert.rejects(
    new EmbeddingsCache(words, data.train, silent, tmp).rows(
      { ...cfg, path: path.join(tmp, 'bad.txt') },
      3,
      'configs/t.yaml',
    ),
    (e: unknown) =>
      e instanceof ValidationError &&
      /bad\.txt:2: expected a word and 3 numbers.*train\.embeddings\.path in configs\/t\.yaml/.test(e.message),
  );
});

test('train.embeddings.enabled: false is no vectors: same identity as none, no frozen table, the file never needed', async () => {
  const { trialIdentity } = await import('./train.js');
  const fo = { manifest: { fingerprint: 'f' } } as unknown as Parameters<typeof trialIdentity>[1];
  const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-emb-off-'));
  const missing = { path: path.join(tmp, 'missing.txt'), format: 'glove' as const, lowercase: true, freeze: true };
  const identity = (t: ReturnType<typeof trial>) => trialIdentity(t, fo, 'c', tmp, 'configs/t.yaml');
  const none = await identity(trial({}));
  const off = await identity(trial({ embeddings: { ...missing, enabled: false } }));
  assert.deepEqual(off, none, 'switched off: the identity of a config without vectors (the missing file is not read)');
  assert.equal(taggerSpec(trial({ embeddings: { ...missing, enabled: false } }), data).freezeEmbeddings, undefined);
  assert.equal(taggerSpec(trial({ embeddings: missing }), data).freezeEmbeddings, true);
  // switched on, the file is an input, and a missing one is a user error naming the key
  await assert.rejects(
    identity(trial({ embeddings: missing })),
    (e: unknown) =>
      e instanceof ValidationError && /missing\.txt: no such file \(train\.embeddings\.path/.test(e.message),
  );
  const present = { ...missing, path: path.join(tmp, 'present.txt') };
  writeFileSync(present.path, 'w2 1 2 3\n');
  const on = await identity(trial({ embeddings: present }));
  const onExplicit = await identity(trial({ embeddings: { ...present, enabled: true } }));
  assert.deepEqual(onExplicit, on, 'enabled: true (the default) is not part of the identity');
  assert.notDeepEqual(on, none);
});

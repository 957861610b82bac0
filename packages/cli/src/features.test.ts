import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '@nerflow/core';
import { runNerflow } from './test-helpers/run-cli.js';

const nerflow = (root: string, ...args: string[]) => runNerflow(root, args);
const corpus = path.join(repoRoot(), 'data/ner_dataset.csv.gz');

/** A GloVe file of 8-dimensional vectors for some common words, one of them only in capitals. */
function vectors(file: string, scale: number): void {
  const words = [
    'the',
    'of',
    'in',
    'to',
    'and',
    'a',
    'THOUSANDS',
    'said',
    'on',
    'is',
    'was',
    'for',
    'iraq',
    'president',
    'police',
  ];
  writeFileSync(
    file,
    words
      .map((w, i) => `${w} ${Array.from({ length: 8 }, (_, k) => (scale * Math.sin(i + k)).toFixed(5)).join(' ')}`)
      .join('\n') + '\n',
  );
}

test('chars + pre-trained vectors through the CLI: coverage in the log, the manifest and MLflow; chars.json in the model; the vector file drives the fingerprint', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-features-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'nx.json'), '{}');
  vectors(path.join(root, 'configs', 'vec.txt'), 0.1);
  writeFileSync(
    path.join(root, 'configs', 'feat.yaml'),
    [
      `data:\n  path: ${corpus}\n  limit_sentences: 300`,
      'train:\n  epochs: 1\n  lstm_units: 8\n  embedding_dim: 8',
      '  chars: { type: cnn, dim: 6, filters: 8, width: 3 }',
      '  embeddings: { path: vec.txt, lowercase: true }', // relative to the config file
      'tracking:\n  experiment: e2e',
    ].join('\n') + '\n',
  );
  const first = nerflow(root, 'pipeline', '--config', 'feat.yaml');
  assert.equal(first.code, 0, first.err);
  assert.match(
    first.err,
    /train: pre-trained vectors configs\/vec\.txt: 15 words × 8; found [\d.]+% of the train vocabulary \(\d+\/[\d,]+ words\) and [\d.]+% of train tokens/,
  );
  assert.match(first.err, /evaluate: main: entity F1/);
  const run = path.join(root, 'runs', 'feat');
  const manifest = JSON.parse(readFileSync(path.join(run, 'train', 'main', 'manifest.json'), 'utf8'));
  const emb = manifest.counts.embeddings;
  assert.equal(emb.file, 'configs/vec.txt');
  assert.ok(emb.found_types >= 10 && emb.coverage_tokens > 0.2, JSON.stringify(emb));
  assert.equal(manifest.inputs[0].path, 'configs/vec.txt', 'the vector file is a hashed input of the trial');
  assert.ok(existsSync(path.join(run, 'train', 'main', 'model', 'chars.json')));
  assert.equal(
    JSON.parse(readFileSync(path.join(run, 'train', 'main', 'model', 'nerflow.json'), 'utf8')).spec.chars.filters,
    8,
  );
  const store = path.join(root, 'runs', 'mlruns');
  const exp = readdirSync(store).find((d) => existsSync(path.join(store, d, 'meta.yaml')) && d !== '0')!;
  const runDir = path.join(
    store,
    exp,
    readdirSync(path.join(store, exp)).find((d) => existsSync(path.join(store, exp, d, 'metrics')))!,
  );
  assert.match(readFileSync(path.join(runDir, 'metrics', 'embeddings_coverage_types'), 'utf8'), /^\d+ 0\.\d+ 0\n$/);
  assert.equal(readFileSync(path.join(runDir, 'params', 'train.chars.type'), 'utf8'), 'cnn');
  assert.ok(existsSync(path.join(runDir, 'metrics', 'test_entity_f1')));

  // other vectors in the same file: train reruns, featurize does not
  vectors(path.join(root, 'configs', 'vec.txt'), 0.2);
  const changed = nerflow(root, 'pipeline', '--config', 'feat.yaml');
  assert.equal(changed.code, 0, changed.err);
  assert.match(changed.err, /featurize: up to date/);
  assert.doesNotMatch(changed.err, /train: all 1 trial\(s\) up to date/);

  // a broken vector file: exit 1, one message naming the file and line, no stack
  writeFileSync(path.join(root, 'configs', 'vec.txt'), 'the 1 2 3 4 5 6 7 8\nof 1 2 3\n');
  const bad = nerflow(root, 'train', '--config', 'feat.yaml');
  assert.equal(bad.code, 1, bad.err);
  assert.match(
    bad.err,
    /vec\.txt:2: expected a word and 8 numbers \(the dimension of line 1\), found 3 field\(s\) after the word\. \(train\.embeddings\.path in .*feat\.yaml\)/,
  );
  assert.doesNotMatch(bad.err, /internal error|\n\s+at /);
});

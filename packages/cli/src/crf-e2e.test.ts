import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '@nerflow/core';
import { runNerflow } from './test-helpers/run-cli.js';

// The CRF head through every stage on real data: train, evaluate (Viterbi), the model folder, MLflow.

const run = (root: string, ...args: string[]) => runNerflow(root, args);
const corpus = path.join(repoRoot(), 'data/ner_dataset.csv.gz');

/** Every predicted sentence of predictions.conll is well-formed IOB2 (read from the file, not through nerflow). */
function assertValidIob2(root: string): void {
  const conll = readFileSync(path.join(root, 'runs/tcrf/evaluate/main/predictions.conll'), 'utf8');
  let prev = 'O';
  let entities = 0;
  for (const line of conll.split('\n')) {
    const p = line.split(' ')[2];
    if (!p) {
      prev = 'O';
      continue;
    }
    if (p.startsWith('I-')) assert.ok(prev !== 'O' && prev.slice(2) === p.slice(2), `${p} after ${prev}: ${line}`);
    if (p.startsWith('B-')) entities++;
    prev = p;
  }
  assert.ok(entities > 0, 'the model predicts entities');
}

test('head crf end to end: crf.json in the model and in MLflow, valid IOB2 predictions, and the head is part of the fingerprint', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-crf-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'nx.json'), '{}');
  writeFileSync(
    path.join(root, 'configs', 'tcrf.yaml'),
    `data:\n  path: ${corpus}\n  limit_sentences: 600\ntrain:\n  head: crf\n  epochs: 3\n  lstm_units: 16\n  embedding_dim: 16\n  optimizer: { learning_rate: 0.03 }\ntracking:\n  experiment: e2e\n`,
  );
  const first = run(root, 'pipeline', '--config', 'tcrf.yaml');
  assert.equal(first.code, 0, first.err);
  const model = path.join(root, 'runs/tcrf/train/main/model');
  const crf = JSON.parse(readFileSync(path.join(model, 'crf.json'), 'utf8'));
  const meta = JSON.parse(readFileSync(path.join(model, 'nerflow.json'), 'utf8'));
  const tags: string[] = meta.tags; // the model folder's tag list lives in nerflow.json (format 2)
  assert.deepEqual(crf.tags, tags);
  assert.equal(crf.constrain, true);
  assert.equal(meta.spec.head, 'crf');
  assert.deepEqual(
    meta.parts.map((p: { name: string; file: string }) => [p.name, p.file]),
    [['crf', 'crf.json']],
    'crf.json is a listed part',
  );

  assertValidIob2(root);

  // MLflow: the head and the constraint are params; the CRF file is in the model artifact; test metrics logged
  const store = path.join(root, 'runs/mlruns');
  const runs = readdirSync(store)
    .flatMap((e) =>
      existsSync(path.join(store, e, 'meta.yaml'))
        ? readdirSync(path.join(store, e)).map((r) => path.join(store, e, r))
        : [],
    )
    .filter((d) => existsSync(path.join(d, 'params')));
  assert.equal(runs.length, 1);
  assert.equal(readFileSync(path.join(runs[0], 'params', 'train.head'), 'utf8'), 'crf');
  assert.match(readFileSync(path.join(runs[0], 'params', 'train.crf.constrain'), 'utf8'), /^true$/i); // MLflow writes Python's True
  assert.ok(existsSync(path.join(runs[0], 'artifacts', 'model', 'crf.json')));
  assert.ok(existsSync(path.join(runs[0], 'metrics', 'test_entity_f1')));

  // the head and the constraint are in the train fingerprint: changing either retrains, repeating it does not
  const soft = run(root, 'pipeline', '--config', 'tcrf.yaml', '--set', 'train.head=softmax');
  assert.equal(soft.code, 0, soft.err);
  assert.doesNotMatch(soft.err, /train: all 1 trial\(s\) up to date/);
  assert.ok(!existsSync(path.join(model, 'crf.json')), 'a softmax model has no crf.json');
  const unconstrained = run(root, 'train', '--config', 'tcrf.yaml', '--set', 'train.crf.constrain=false');
  assert.equal(unconstrained.code, 0, unconstrained.err);
  assert.equal(JSON.parse(readFileSync(path.join(model, 'crf.json'), 'utf8')).constrain, false);
  const same = run(root, 'train', '--config', 'tcrf.yaml', '--set', 'train.crf.constrain=false');
  assert.match(same.err, /train: all 1 trial\(s\) up to date/);

  // trained on BIOES tags (featurize.tag_scheme): the constraint follows BIOES' rules, predictions come back valid IOB2
  const bioes = run(root, 'pipeline', '--config', 'tcrf.yaml', '--set', 'featurize.tag_scheme=bioes');
  assert.equal(bioes.code, 0, bioes.err);
  const bioesTags: string[] = JSON.parse(readFileSync(path.join(model, 'crf.json'), 'utf8')).tags;
  assert.ok(
    bioesTags.some((t) => t.startsWith('S-')) && bioesTags.some((t) => t.startsWith('E-')),
    bioesTags.join(' '),
  );
  assertValidIob2(root);
});

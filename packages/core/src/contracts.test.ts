import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  readHistory,
  readJsonFile,
  readTags,
  readTrainManifest,
  readTrainRun,
  readVocab,
  type TrainCounts,
} from './contracts.js';

test('typed readers for the files between stages: the value as written, null (or []) when missing or half-written', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-contract-'));
  const trial = path.join(dir, 'train', 't-1');
  mkdirSync(trial, { recursive: true });
  assert.equal(readTrainManifest(trial), null);
  assert.equal(readTrainRun(trial), null);
  assert.deepEqual(readHistory(trial), []);
  const counts: TrainCounts = {
    epochs: 2,
    best_epoch: 1,
    best_value: 0.5,
    status: 'pruned',
    overrides: { 'train.lstm_units': 64 },
  };
  writeFileSync(
    path.join(trial, 'manifest.json'),
    JSON.stringify({ schema: 1, stage: 'train', counts, config: { train: { lstm_units: 64 } } }),
  );
  writeFileSync(
    path.join(trial, 'run.json'),
    JSON.stringify({ timings_s: { total: 3, train: 2.5 }, mlflow_run_id: 'abc' }),
  );
  writeFileSync(
    path.join(trial, 'history.json'),
    JSON.stringify([{ epoch: 1, loss: 1, val_loss: 0.9, val_token_accuracy: 0.8, val_entity_f1: 0.5 }]),
  );
  const m = readTrainManifest(trial);
  assert.deepEqual(
    [m?.counts.status, m?.counts.overrides, m?.config.train.lstm_units],
    ['pruned', { 'train.lstm_units': 64 }, 64],
  );
  assert.deepEqual([readTrainRun(trial)?.timings_s.train, readTrainRun(trial)?.mlflow_run_id], [2.5, 'abc']);
  assert.equal(readHistory(trial)[0].val_entity_f1, 0.5);
  writeFileSync(path.join(trial, 'run.json'), '{"timings_s": {"tot'); // a crash mid-write
  assert.equal(readTrainRun(trial), null);
  assert.equal(readJsonFile(path.join(dir, 'nope.json')), null);

  const feat = path.join(dir, 'featurize');
  mkdirSync(feat);
  writeFileSync(path.join(feat, 'tags.json'), JSON.stringify({ tags: ['O', 'B-geo'] }));
  writeFileSync(
    path.join(feat, 'vocab.json'),
    JSON.stringify({ lowercase: false, min_count: 1, size: 3, words: ['<PAD>', '<UNK>', 'a'] }),
  );
  assert.deepEqual(readTags(feat), ['O', 'B-geo']);
  assert.equal(readVocab(feat)?.words.length, 3);
});

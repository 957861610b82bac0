import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { describeConfig } from './describe.js';
import { loadConfig } from './load.js';

test('--verbose describes the config: its files, each override with the value it replaced, the resolved config', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-describe-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'configs', 'base.yaml'), 'train:\n  epochs: 10\n');
  writeFileSync(
    path.join(root, 'configs', 'a.yaml'),
    'extends: base.yaml\nsweep:\n  params:\n    train.lstm_units: [64]\n',
  );
  const overrides = ['train.epochs=2', 'sweep.params.train.lstm_units=[8, 16]', 'train.dropout=0.5'];
  const config = loadConfig('a', { root, overrides });
  const lines = describeConfig(config, loadConfig('a', { root }), root);
  assert.equal(lines[0], 'config configs/a.yaml (extends configs/base.yaml)');
  assert.deepEqual(lines.slice(1, 4), [
    'override --set train.epochs=2: train.epochs = 2 (the files say 10)',
    'override --set sweep.params.train.lstm_units=[8, 16]: sweep.params.train.lstm_units = [8,16] (the files say [64])',
    'override --set train.dropout=0.5: train.dropout = 0.5 (the files say 0.1)',
  ]);
  assert.equal(lines[4], 'resolved config:');
  const resolved = parse(
    lines
      .slice(5)
      .map((l) => l.slice(2))
      .join('\n'),
  );
  assert.equal(resolved.train.epochs, 2);
  assert.equal(resolved.train.optimizer.beta1, 0.9, 'every key, defaults included');
  assert.deepEqual(resolved.sweep.params, { 'train.lstm_units': [8, 16] });
});

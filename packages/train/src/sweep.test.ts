import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigSchema, type Config } from '@nerflow/core';
import { shouldPrune } from './pruner.js';
import { expandTrials, trialLabel } from './sweep.js';

const base = ConfigSchema.parse({}) as unknown as Config;
const withSweep = (sweep: unknown) => ({ ...base, sweep: ConfigSchema.parse({ sweep }).sweep });

test('no sweep: one baseline trial, id "main", the config untouched', () => {
  const [t, ...rest] = expandTrials(base);
  assert.equal(rest.length, 0);
  assert.equal(t.id, 'main');
  assert.deepEqual(t.train, base.train);
  assert.equal(trialLabel(t), 'baseline');
});

test('grid: every combination, dotted paths applied, ids stable when a value is added', () => {
  const small = expandTrials(
    withSweep({ params: { 'train.lstm_units': [64, 128], 'train.optimizer.learning_rate': [0.001, 0.003] } }),
  );
  assert.equal(small.length, 4);
  assert.deepEqual(
    small.map((t) => [t.train.lstm_units, t.train.optimizer.learning_rate]),
    [
      [64, 0.001],
      [64, 0.003],
      [128, 0.001],
      [128, 0.003],
    ],
  );
  assert.equal(small[0].train.embedding_dim, 50, 'other keys keep their values');
  assert.equal(new Set(small.map((t) => t.id)).size, 4);
  const bigger = expandTrials(
    withSweep({ params: { 'train.lstm_units': [64, 128, 256], 'train.optimizer.learning_rate': [0.001, 0.003] } }),
  );
  const oldIds = new Set(small.map((t) => t.id));
  assert.equal(
    bigger.filter((t) => oldIds.has(t.id)).length,
    4,
    'adding a grid value keeps the existing trials (cached one by one)',
  );
  assert.equal(trialLabel(small[1]), 'lstm_units=64 learning_rate=0.003');
});

test('random: seeded, within ranges, log-uniform, ints rounded, max_trials distinct draws', () => {
  const cfg = withSweep({
    method: 'random',
    max_trials: 6,
    seed: 7,
    params: {
      'train.optimizer.learning_rate': { min: 1e-4, max: 1e-1, log: true },
      'train.lstm_units': { min: 32, max: 256, int: true },
      'train.dropout': { choices: [0.1, 0.3] },
    },
  });
  const a = expandTrials(cfg);
  const b = expandTrials(cfg);
  assert.deepEqual(a, b, 'the same seed gives the same trials');
  assert.equal(a.length, 6);
  for (const t of a) {
    assert.ok(t.train.optimizer.learning_rate >= 1e-4 && t.train.optimizer.learning_rate <= 1e-1);
    assert.ok(Number.isInteger(t.train.lstm_units) && t.train.lstm_units >= 32 && t.train.lstm_units <= 256);
    assert.ok([0.1, 0.3].includes(t.train.dropout));
  }
  const other = expandTrials({ ...cfg, sweep: { ...cfg.sweep!, seed: 8 } });
  assert.notDeepEqual(
    other.map((t) => t.id),
    a.map((t) => t.id),
  );
});

test('median pruner: prunes below the median of others at the same epoch, after warm-up and enough trials', () => {
  const p = { type: 'median' as const, warmup_epochs: 1, min_trials: 2 };
  const others = [
    [0.5, 0.7],
    [0.6, 0.8],
    [0.4, 0.6],
  ];
  assert.equal(shouldPrune(p, 'maximize', 1, 0.1, others), false, 'warm-up epoch never prunes');
  assert.equal(shouldPrune(p, 'maximize', 2, 0.65, others), true, 'median at epoch 2 is 0.7');
  assert.equal(shouldPrune(p, 'maximize', 2, 0.7, others), false);
  assert.equal(shouldPrune(p, 'minimize', 2, 0.75, others), true);
  assert.equal(shouldPrune(p, 'maximize', 2, 0.1, [[0.5, 0.7]]), false, 'fewer than min_trials others');
});

test('successive halving: only at rungs 1, 3, 9; keeps the top third (Optuna rule)', () => {
  const p = { type: 'halving' as const, warmup_epochs: 0, min_trials: 1 };
  const others = [
    [0.9, 0, 0.9],
    [0.8, 0, 0.8],
    [0.7, 0, 0.7],
    [0.6, 0, 0.6],
    [0.5, 0, 0.5],
  ];
  assert.equal(shouldPrune(p, 'maximize', 2, 0.0, others), false, 'epoch 2 is not a rung');
  // 6 competing values at rung 3 → promotable index 6/3-1 = 1 → must be ≥ the 2nd best (0.8)
  assert.equal(shouldPrune(p, 'maximize', 3, 0.85, others), false);
  assert.equal(shouldPrune(p, 'maximize', 3, 0.75, others), true);
  // a lone first trial is kept
  assert.equal(shouldPrune(p, 'maximize', 1, 0.1, []), false);
});

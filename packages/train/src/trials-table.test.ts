import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pngSize } from '@nerflow/viz';
import { pickBest } from './train.js';
import { writeTrialsTable, type TrialSummary } from './trials-table.js';

test('trials.csv ranks the trials; the plot has one readable chart per parameter, whatever its kind', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-trials-'));
  // a wide numeric range (log axis), a range that includes 0 (linear), a category, a boolean
  const grid = [
    [32, 0, 'fused', true],
    [320, 0.3, 'layers', false],
    [100, 0.1, 'fused', false],
  ] as const;
  const trials: TrialSummary[] = grid.map(([units, dropout, model, lower], i) => ({
    trial: `t-${i}`,
    label: '',
    status: 'finished',
    seconds: 10 + i,
    mlflowRunId: `r${i}`,
    overrides: {
      'train.lstm_units': units,
      'train.dropout': dropout,
      'train.model': model,
      'featurize.lowercase': lower,
    },
    history: [
      { epoch: 1, val_entity_f1: 0.5 + i / 10 },
      { epoch: 2, val_entity_f1: 0.55 + i / 10 },
    ],
  }));
  await writeTrialsTable(dir, trials, { metric: 'val_entity_f1', goal: 'maximize' });
  const csv = readFileSync(path.join(dir, 'trials.csv'), 'utf8').trim().split('\n');
  assert.equal(
    csv[0],
    'rank,trial,train.lstm_units,train.dropout,train.model,featurize.lowercase,best_val_entity_f1,epochs,status,seconds,mlflow_run_id',
  );
  assert.deepEqual(
    csv.slice(1).map((l) => l.split(',')[1]),
    ['t-2', 't-1', 't-0'],
    'best first',
  );
  const svg = readFileSync(path.join(dir, 'trials.svg'), 'utf8');
  assert.match(svg, /^<svg[\s\S]*<\/svg>\s*$/);
  for (const p of ['train.lstm_units', 'train.dropout', 'train.model', 'featurize.lowercase'])
    assert.ok(svg.includes(`>${p}</text>`), `a chart titled ${p}`);
  for (const label of ['fused', 'layers', 'true', 'false'])
    assert.ok(svg.includes(`>${label}</text>`), `category ${label} on its axis`);
  assert.doesNotMatch(svg, /NaN/, 'no value lost on the way');
  const size = pngSize(readFileSync(path.join(dir, 'trials.png')));
  assert.ok(size && size.width > 600, JSON.stringify(size));
});

test('the best trial and the table follow the configured goal (val_loss: lowest wins)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-trials-'));
  const t = (trial: string, losses: number[]): TrialSummary => ({
    trial,
    label: '',
    status: 'finished',
    seconds: 1,
    mlflowRunId: null,
    overrides: { 'train.dropout': losses[0] },
    history: losses.map((val_loss, i) => ({ epoch: i + 1, val_loss })),
  });
  const trials = [t('t-high', [0.9, 0.8]), t('t-low', [0.5, 0.3]), t('t-mid', [0.6, 0.7])];
  assert.deepEqual(pickBest(trials, { metric: 'val_loss', goal: 'minimize' }), {
    trial: 't-low',
    overrides: { 'train.dropout': 0.5 },
    value: 0.3,
  });
  assert.equal(pickBest(trials, { metric: 'val_loss', goal: 'maximize' })?.trial, 't-high');
  await writeTrialsTable(dir, trials, { metric: 'val_loss', goal: 'minimize' });
  const csv = readFileSync(path.join(dir, 'trials.csv'), 'utf8').trim().split('\n');
  assert.deepEqual(
    csv.slice(1).map((l) => l.split(',').slice(1, 2)[0]),
    ['t-low', 't-mid', 't-high'],
  );
});

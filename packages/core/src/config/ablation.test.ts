import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './load.js';
import { activeEmbeddings } from './schema.js';
import { expandTrials } from './trials.js';
import { configWorkspace, problems } from '../test-helpers/config-workspace.js';

// Ablation sweeps: listed combinations (sweep.points) crossed with a grid, and pre-trained vectors switched
// on and off by a sweep (train.embeddings.enabled).

const workspace = configWorkspace;

const ABLATION = `train:
  embeddings: { path: vectors.txt, lowercase: true }
sweep:
  params:
    train.seed: [1, 2]
  points:
    - { train.head: softmax, train.chars.type: none, train.embeddings.enabled: false }
    - { train.head: crf, train.chars.type: none, train.embeddings.enabled: false }
    - { train.head: crf, train.chars.type: cnn, train.embeddings.enabled: true }
`;

test('sweep.points: listed combinations crossed with the grid (grid slowest), each trial validated and distinct', () => {
  const root = workspace({ 'abl.yaml': ABLATION });
  const trials = expandTrials(loadConfig('abl', { root }));
  assert.deepEqual(
    trials.map((t) => [t.train.seed, t.train.head, t.train.chars.type, activeEmbeddings(t.train) !== null]),
    [
      [1, 'softmax', 'none', false],
      [1, 'crf', 'none', false],
      [1, 'crf', 'cnn', true],
      [2, 'softmax', 'none', false],
      [2, 'crf', 'none', false],
      [2, 'crf', 'cnn', true],
    ],
  );
  assert.equal(new Set(trials.map((t) => t.id)).size, 6, 'one trial id per combination');
  assert.deepEqual(trials[2].overrides, {
    'train.seed': 1,
    'train.head': 'crf',
    'train.chars.type': 'cnn',
    'train.embeddings.enabled': true,
  });
  // the vectors' path is resolved against the config file whether or not a trial uses them
  assert.equal(trials[0].train.embeddings?.path, path.join(root, 'configs', 'vectors.txt'));
  // points alone (no params) are a sweep too
  const only = workspace({ 'p.yaml': 'sweep:\n  points:\n    - { train.head: crf }\n    - { train.lstm_units: 8 }\n' });
  assert.deepEqual(
    expandTrials(loadConfig('p', { root: only })).map((t) => [t.train.head, t.train.lstm_units]),
    [
      ['crf', 100],
      ['softmax', 8],
    ],
  );
});

test('sweep.points errors name the point, the key and the fix', () => {
  const root = workspace({
    'bad-key.yaml': 'sweep:\n  points:\n    - { train.hed: crf }\n',
    'both.yaml': 'sweep:\n  params:\n    train.head: [softmax]\n  points:\n    - { train.head: crf }\n',
    'bad-value.yaml': 'sweep:\n  points:\n    - { train.head: crf }\n    - { train.head: crf2 }\n',
    'random.yaml':
      'sweep:\n  method: random\n  max_trials: 2\n  params:\n    train.dropout: {min: 0, max: 0.5}\n  points:\n    - { train.head: crf }\n',
    'no-path.yaml': 'sweep:\n  points:\n    - { train.embeddings.enabled: true }\n',
  });
  assert.match(
    problems(() => loadConfig('bad-key', { root })),
    /sweep\.points\[0\]: "train\.hed" is not a train\.\* config key/,
  );
  assert.match(
    problems(() => loadConfig('both', { root })),
    /sweep\.points\[0\]: "train\.head" is also in sweep\.params/,
  );
  assert.match(
    problems(() => loadConfig('bad-value', { root })),
    /bad-value\.yaml:\d+: sweep\.points\[1\] train\.head="crf2": train\.head: expected one of "softmax", "crf"/,
  );
  assert.match(
    problems(() => loadConfig('random', { root })),
    /sweep\.points: listed combinations need method: grid/,
  );
  // switching vectors on where the config has none: the missing path is named
  assert.match(
    problems(() => loadConfig('no-path', { root })),
    /sweep\.points\[0\].*train\.embeddings\.path/,
  );
});

test('train.embeddings.enabled: false trains as if there were no vectors; a grid can switch them on and off', () => {
  const root = workspace({
    'off.yaml': 'train:\n  embeddings: { path: missing.txt.gz, enabled: false }\n',
    'grid.yaml':
      'train:\n  embeddings: { path: v.txt, enabled: false }\nsweep:\n  params:\n    train.embeddings.enabled: [false, true]\n',
    'typed.yaml':
      'train:\n  embeddings: { path: v.txt }\nsweep:\n  params:\n    train.embeddings.enabled: [false, "yes"]\n',
  });
  const off = loadConfig('off', { root });
  assert.equal(activeEmbeddings(off.train), null);
  assert.equal(off.train.embeddings?.enabled, false, 'the section stays as written (a sweep may switch it on)');
  const trials = expandTrials(loadConfig('grid', { root }));
  assert.deepEqual(
    trials.map((t) => activeEmbeddings(t.train)?.path ?? null),
    [null, path.join(root, 'configs', 'v.txt')],
  );
  assert.match(
    problems(() => loadConfig('typed', { root })),
    /sweep\.params\.train\.embeddings\.enabled value "yes": train\.embeddings\.enabled: expected a boolean/,
  );
});

test('train.chars.type: lstm (char BiLSTM) takes units; a sweep can compare it with the char CNN', () => {
  const root = workspace({
    'file.yaml': 'train:\n  chars: { type: lstm, units: 30 }\n',
    'sweep.yaml': 'sweep:\n  params:\n    train.chars.type: [cnn, lstm]\n',
    'bad.yaml': 'train:\n  chars: { type: lstm, units: 0 }\n',
  });
  assert.deepEqual(
    { type: loadConfig('file', { root }).train.chars.type, units: loadConfig('file', { root }).train.chars.units },
    { type: 'lstm', units: 30 },
  );
  assert.deepEqual(
    expandTrials(loadConfig('sweep', { root })).map((t) => t.train.chars.type),
    ['cnn', 'lstm'],
  );
  assert.match(
    problems(() => loadConfig('bad', { root })),
    /bad\.yaml:2: train\.chars\.units: expected a value >0/,
  );
});

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './load.js';
import { ConfigSchema } from './schema.js';
import { expandTrials } from './trials.js';
import { configWorkspace, problems } from '../test-helpers/config-workspace.js';

const workspace = configWorkspace;

test('defaults fill every key; a bare name is found in configs/', () => {
  const root = workspace({ 'a.yaml': 'description: hi\n' });
  const c = loadConfig('a.yaml', { root, cwd: '/' });
  assert.equal(c.name, 'a');
  assert.equal(c.train.embedding_dim, 50);
  assert.equal(c.train.lstm_units, 100);
  assert.equal(c.train.batch_size, 32);
  assert.equal(c.featurize.split.train, 0.7);
  assert.equal(c.data.path, path.join(root, 'data', 'ner_dataset.csv.gz'));
  assert.equal(loadConfig('a', { root, cwd: '/' }).file, path.join(root, 'configs', 'a.yaml'));
});

test('extends merges section by section, later files win, data.path is relative to the file that wrote it', () => {
  const root = workspace({
    'base.yaml': 'data:\n  path: corpus.csv\ntrain:\n  epochs: 10\n  lstm_units: 64\n',
    'child.yaml': 'extends: base.yaml\ntrain:\n  epochs: 2\n',
  });
  const c = loadConfig('child.yaml', { root, cwd: '/' });
  assert.equal(c.train.epochs, 2);
  assert.equal(c.train.lstm_units, 64);
  assert.equal(c.data.path, path.join(root, 'configs', 'corpus.csv'));
  assert.deepEqual(
    c.files.map((f) => path.basename(f)),
    ['child.yaml', 'base.yaml'],
  );
});

test('--set overrides apply last and are validated', () => {
  const root = workspace({ 'a.yaml': 'train:\n  epochs: 5\n' });
  assert.equal(loadConfig('a', { root, overrides: ['train.epochs=1'] }).train.epochs, 1);
  assert.match(
    problems(() => loadConfig('a', { root, overrides: ['train.epochs=many'] })),
    /--set: train\.epochs: expected a number, got the string "many"/,
  );
});

test('an unknown key names the file, line, the key path, a suggestion and the allowed keys', () => {
  const root = workspace({ 'bad.yaml': 'train:\n  epochs: 3\n  lstm_unit: 64\n' });
  const msg = problems(() => loadConfig('bad.yaml', { root }));
  assert.match(msg, /bad\.yaml:3: unknown key "train\.lstm_unit" \(did you mean "train\.lstm_units"\?\)/);
  assert.match(msg, /Allowed keys in train: model, backend, embedding_dim, lstm_units/);
});

test('every problem is reported at once, each with its line', () => {
  const root = workspace({ 'bad.yaml': 'train:\n  epochs: three\n  model: keras\nfeaturize:\n  max_len: -4\n' });
  const msg = problems(() => loadConfig('bad.yaml', { root }));
  assert.match(msg, /bad\.yaml:2: train\.epochs: expected a number, got the string "three"/);
  assert.match(msg, /bad\.yaml:3: train\.model: expected one of "fused", "layers", got the string "keras"/);
  assert.match(msg, /bad\.yaml:5: featurize\.max_len: expected/);
});

test('YAML syntax errors name the file, line and column', () => {
  const root = workspace({ 'broken.yaml': 'train:\n  epochs: [1, 2\n' });
  assert.match(
    problems(() => loadConfig('broken', { root })),
    /broken\.yaml:\d+:\d+: YAML syntax error/,
  );
});

test('a missing config says where it looked', () => {
  const root = workspace({});
  assert.match(
    problems(() => loadConfig('nope.yaml', { root, cwd: root })),
    /config "nope\.yaml" not found: looked for .*configs\/nope\.yaml/,
  );
});

test('a missing extends target names the file that extends it', () => {
  const root = workspace({ 'a.yaml': 'extends: gone.yaml\n' });
  assert.match(
    problems(() => loadConfig('a', { root, cwd: root })),
    /named by extends: in .*a\.yaml/,
  );
});

test('an extends cycle is an error, not a hang', () => {
  const root = workspace({ 'a.yaml': 'extends: b.yaml\n', 'b.yaml': 'extends: a.yaml\n' });
  assert.match(
    problems(() => loadConfig('a', { root })),
    /extends: makes a cycle/,
  );
});

test('split fractions must add up to 1; sweep keys must be real config keys', () => {
  const root = workspace({
    'a.yaml':
      'featurize:\n  split: {train: 0.5, val: 0.1, test: 0.1}\nsweep:\n  params:\n    train.lstm_unitz: [1, 2]\n',
  });
  const msg = problems(() => loadConfig('a', { root }));
  assert.match(msg, /featurize\.split: train \+ val \+ test must add up to 1, got 0\.7/);
  assert.match(msg, /sweep\.params: "train\.lstm_unitz" is not a train\.\* config key/);
});

test('a config that is not a mapping is rejected', () => {
  const root = workspace({ 'a.yaml': '- 1\n- 2\n' });
  assert.match(
    problems(() => loadConfig('a', { root })),
    /a\.yaml:1: a config must be a YAML mapping/,
  );
});

test('sweep values go through the train schema, each error naming the sweep key, its line and the value', () => {
  const root = workspace({
    'grid.yaml': 'sweep:\n  params:\n    train.dropout: [0.1, 1.5]\n    train.model: [fused, keras]\n',
    'range.yaml': 'sweep:\n  method: random\n  max_trials: 4\n  params:\n    train.lstm_units: {min: 32, max: 256}\n',
    'ok.yaml':
      'sweep:\n  method: random\n  max_trials: 4\n  params:\n    train.lstm_units: {min: 32, max: 256, int: true}\n',
  });
  const grid = problems(() => loadConfig('grid', { root }));
  assert.match(
    grid,
    /grid\.yaml:3: sweep\.params\.train\.dropout value 1\.5: train\.dropout: expected a value <=1, got number 1\.5/,
  );
  assert.match(
    grid,
    /grid\.yaml:4: sweep\.params\.train\.model value "keras": train\.model: expected one of "fused", "layers"/,
  );
  const range = problems(() => loadConfig('range', { root }));
  assert.match(
    range,
    /range\.yaml:5: sweep\.params\.train\.lstm_units: train\.lstm_units takes integers, .* Add int: true/,
  );
  assert.doesNotMatch(range, /sweep trial/, 'one message for the range, not one per draw');
  const trials = expandTrials(loadConfig('ok', { root }));
  assert.equal(trials.length, 4);
  for (const t of trials) assert.ok(Number.isInteger(t.train.lstm_units));
});

test('--set can address sweep keys (a dotted config path after sweep.params.), validated like the file', () => {
  const root = workspace({ 'a.yaml': 'sweep:\n  params:\n    train.lstm_units: [64, 128]\n' });
  const c = loadConfig('a', {
    root,
    overrides: ['sweep.params.train.lstm_units=[32, 48]', 'sweep.params.train.dropout=[0.2]'],
  });
  assert.deepEqual(c.sweep?.params, { 'train.lstm_units': [32, 48], 'train.dropout': [0.2] });
  assert.deepEqual(
    expandTrials(c).map((t) => [t.train.lstm_units, t.train.dropout]),
    [
      [32, 0.2],
      [48, 0.2],
    ],
  );
  const msg = problems(() => loadConfig('a', { root, overrides: ['sweep.params.train.lstm_units=[32, -1]'] }));
  assert.match(msg, /--set: sweep\.params\.train\.lstm_units value -1: train\.lstm_units: expected a value >0/);
  assert.equal(
    loadConfig('a', { root, overrides: ['sweep=null'] }).sweep,
    null,
    '--set sweep=null turns the sweep off',
  );
});

test("metric names come from one typed list; a typo is an error; goal is the metric's direction unless the config says", () => {
  const root = workspace({
    'typo.yaml': 'train:\n  early_stopping:\n    monitor: val_f1\nsweep:\n  metric: val_entity_f\n',
    'loss.yaml':
      'train:\n  early_stopping: {monitor: val_loss}\nsweep:\n  metric: val_loss\n  params:\n    train.dropout: [0.1]\n',
    'own.yaml':
      'train:\n  early_stopping: {monitor: val_loss, goal: maximize}\nsweep:\n  metric: val_token_accuracy\n  goal: minimize\n',
  });
  const msg = problems(() => loadConfig('typo', { root }));
  assert.match(
    msg,
    /typo\.yaml:3: train\.early_stopping\.monitor: expected one of "loss", "val_loss", "val_token_accuracy", "val_entity_f1", got the string "val_f1"/,
  );
  assert.match(msg, /typo\.yaml:5: sweep\.metric: expected one of .*"val_entity_f1", got the string "val_entity_f"/);
  const loss = loadConfig('loss', { root });
  assert.equal(loss.sweep?.goal, 'minimize');
  assert.equal(loss.train.early_stopping.goal, 'minimize');
  assert.equal(loadConfig('a', { root: workspace({ 'a.yaml': '{}\n' }) }).train.early_stopping.goal, 'maximize');
  const own = loadConfig('own', { root });
  assert.deepEqual(
    [own.train.early_stopping.goal, own.sweep?.goal],
    ['maximize', 'minimize'],
    'a written goal is kept',
  );
  assert.match(
    problems(() => loadConfig('own', { root, overrides: ['sweep.goal=up'] })),
    /--set: sweep\.goal: expected one of "maximize", "minimize"/,
  );
});

test('every default is written once in the schema: a left-out mapping, {} and a partial mapping get the same defaults', () => {
  const all = ConfigSchema.parse({});
  const empties = ConfigSchema.parse({
    data: { columns: {} },
    featurize: { split: {} },
    train: { optimizer: {}, early_stopping: {} },
    evaluate: {},
    tracking: {},
  });
  assert.deepEqual(empties, all);
  assert.deepEqual(
    ConfigSchema.parse({ train: { optimizer: { learning_rate: 0.01 } } }).train.optimizer,
    { name: 'adam', learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    "Adam's constants are config defaults",
  );
  assert.equal(all.train.val_batch_size, 256, 'the validation batch is a config default');
  assert.deepEqual(ConfigSchema.parse({ sweep: { pruner: { type: 'median' } } }).sweep?.pruner, {
    type: 'median',
    warmup_epochs: 1,
    min_trials: 2,
  });
  assert.deepEqual(ConfigSchema.parse({ sweep: {} }).sweep?.pruner, { type: 'none', warmup_epochs: 1, min_trials: 2 });
});

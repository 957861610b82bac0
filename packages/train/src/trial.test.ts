import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TrainSchema, ValidationError, type Logger } from '@nerflow/core';
import { otherHistories } from './train.js';
import { activeRun, FileStore } from '@nerflow/tracking';
import { downloadCheckpoint, uploadCheckpoint } from './queue/trial-job.js';
import { runTrial, taggerSpec, type TrialData } from './trial.js';
import { tinySplit } from './test-helpers/tiny-split.js';

const data: TrialData = { train: tinySplit(12, 0), val: tinySplit(4, 1), tags: ['O', 'B-x'], vocabSize: 10 };

function logger(lines: string[]): Logger {
  const progress = { update() {}, finish() {} };
  return { info: (m) => lines.push(m), warn: (m) => lines.push(`WARN ${m}`), debug() {}, progress: () => progress };
}

const trial = (epochs: number) => ({
  id: 'main',
  overrides: {},
  train: TrainSchema.parse({ epochs, lstm_units: 4, embedding_dim: 4, batch_size: 4 }),
});

test('--resume continues only a checkpoint made with the same settings and code (its fingerprint); any other starts over, saying why', async () => {
  const workDir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-trial-')), '.main.work');
  const lines: string[] = [];
  const first = await runTrial({
    trial: trial(1),
    data,
    workDir,
    resume: false,
    log: logger(lines),
    fingerprint: 'fp-A',
  });
  assert.deepEqual(
    first.history.map((h) => h.epoch),
    [1],
  );

  const same = await runTrial({
    trial: trial(2),
    data,
    workDir,
    resume: true,
    log: logger(lines),
    fingerprint: 'fp-A',
  });
  assert.match(lines.join('\n'), /resuming main after epoch 1/);
  assert.deepEqual(
    same.history.map((h) => h.epoch),
    [1, 2],
    'epoch 1 is not trained again',
  );

  lines.length = 0;
  const other = await runTrial({
    trial: trial(2),
    data,
    workDir,
    resume: true,
    log: logger(lines),
    fingerprint: 'fp-B',
  });
  assert.match(lines.join('\n'), /WARN train: not resuming main: its checkpoint was made with other settings or code/);
  assert.deepEqual(
    other.history.map((h) => h.epoch),
    [1, 2],
    'trained from the start',
  );
});

test('pruning compares a trial only with trials of the current settings and code: finished or still running, not leftovers', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-prune-'));
  const put = (rel: string, value: unknown) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), JSON.stringify(value));
  };
  put('t-a/manifest.json', { fingerprint: 'fa' }); // finished, current
  put('t-a/history.json', [
    { epoch: 1, val_entity_f1: 0.5 },
    { epoch: 2, val_entity_f1: 0.6 },
  ]);
  put('t-b/manifest.json', { fingerprint: 'old-b' }); // finished under an earlier version: ignored
  put('t-b/history.json', [{ epoch: 1, val_entity_f1: 0.9 }]);
  put('.t-c.work/state.json', { fingerprint: 'fc', history: [{ epoch: 1, val_entity_f1: 0.7 }] }); // running, current
  put('.t-d.work/state.json', { fingerprint: 'old-d', history: [{ epoch: 1, val_entity_f1: 0.95 }] }); // an abandoned old run: ignored
  const expected = new Map([
    ['t-a', 'fa'],
    ['t-b', 'fb'],
    ['t-c', 'fc'],
    ['t-d', 'fd'],
    ['t-self', 'fs'],
  ]);
  assert.deepEqual(otherHistories(dir, expected, 't-self', 'val_entity_f1'), [[0.5, 0.6], [0.7]]);
});

test("taggerSpec takes every hyperparameter from the trial's train config (Adam's included)", () => {
  const s = taggerSpec(
    { train: TrainSchema.parse({ lstm_units: 7, optimizer: { learning_rate: 0.01, beta2: 0.98 } }) },
    data,
  );
  assert.deepEqual([s.lstmUnits, s.learningRate, s.adam], [7, 0.01, { beta1: 0.9, beta2: 0.98, epsilon: 1e-7 }]);
});

test('head crf: a trial trains the CRF (crf.json in its model), validates with Viterbi, and a tag set the constraint cannot read is a config error', async () => {
  const workDir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-trial-')), '.main.work');
  const crf = {
    id: 'main',
    overrides: {},
    train: TrainSchema.parse({ epochs: 2, lstm_units: 4, embedding_dim: 4, batch_size: 4, head: 'crf' }),
  };
  assert.equal(crf.train.crf.constrain, true, 'the constraint is on by default');
  const spec = taggerSpec(crf, data);
  assert.deepEqual(spec.crf, { constrain: true, tags: ['O', 'B-x'] });
  const out = await runTrial({ trial: crf, data, workDir, resume: false, log: logger([]), fingerprint: 'fp-crf' });
  assert.equal(out.history.length, 2);
  assert.ok(out.history.every((h) => Number.isFinite(h.val_loss) && h.val_entity_f1 >= 0));
  assert.ok(existsSync(path.join(out.modelDir, 'crf.json')));
  assert.equal(taggerSpec(trial(1), data).crf, undefined, 'softmax: no CRF in the spec');
  assert.throws(
    () => taggerSpec(crf, { ...data, tags: ['O', 'PER'] }),
    (e: Error) => e instanceof ValidationError && /train\.crf\.constrain: tag "PER"/.test(e.message),
  );
  assert.doesNotThrow(() =>
    taggerSpec({ ...crf, train: { ...crf.train, crf: { constrain: false } } }, { ...data, tags: ['O', 'PER'] }),
  );
});

/** Every file of a model folder, name → bytes. */
function folderBytes(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f))]));
}

for (const head of ['softmax', 'crf'] as const) {
  test(`head ${head}: resumed at an epoch boundary, a trial ends with the bytes of one never interrupted`, async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'nerflow-resume-'));
    const t = (epochs: number) => ({
      id: 'main',
      overrides: {},
      // dropout on both paths, so the dropout generator's state matters; the data shuffled every epoch
      train: TrainSchema.parse({
        epochs,
        lstm_units: 4,
        embedding_dim: 4,
        batch_size: 4,
        dropout: 0.3,
        recurrent_dropout: 0.3,
        head,
        early_stopping: { patience: 10 },
      }),
    });
    const run = (workDir: string, epochs: number, resume: boolean) =>
      runTrial({ trial: t(epochs), data, workDir, resume, log: logger([]), fingerprint: 'fp' });
    const straight = await run(path.join(base, 'straight'), 4, false);
    const lines: string[] = [];
    await run(path.join(base, 'split'), 2, false); // "killed" after epoch 2: its checkpoint is what is left
    const resumed = await runTrial({
      trial: t(4),
      data,
      workDir: path.join(base, 'split'),
      resume: true,
      log: logger(lines),
      fingerprint: 'fp',
    });
    assert.match(lines.join('\n'), /resuming main after epoch 2/);
    const deterministic = (h: typeof straight.history) => h.map(({ epoch_seconds: _s, tokens_per_s: _t, ...r }) => r);
    assert.deepEqual(deterministic(resumed.history), deterministic(straight.history));
    for (const dir of ['last', 'best']) {
      const a = folderBytes(path.join(base, 'straight', dir));
      const b = folderBytes(path.join(base, 'split', dir));
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), dir);
      for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f)!), `${dir}/${f} differs after the resume`);
    }
  });
}

test("a queue worker's resume (checkpoint uploaded to its run, downloaded elsewhere): the same bytes", async () => {
  const base = mkdtempSync(path.join(tmpdir(), 'nerflow-resume-queue-'));
  const t = (epochs: number) => ({
    id: 'main',
    overrides: {},
    train: TrainSchema.parse({ epochs, lstm_units: 4, embedding_dim: 4, batch_size: 4, dropout: 0.3 }),
  });
  const straight = await runTrial({
    trial: t(4),
    data,
    workDir: path.join(base, 'straight'),
    resume: false,
    log: logger([]),
    fingerprint: 'fp',
  });
  const store = new FileStore(path.join(base, 'mlruns'));
  const exp = await store.getOrCreateExperiment('x');
  const run = activeRun(store, (await store.createRun({ experimentId: exp })).run_id, exp);
  const first = path.join(base, 'machine-1');
  // machine 1 trains 2 epochs, uploading the checkpoint after each, then dies
  await runTrial({
    trial: t(2),
    data,
    workDir: first,
    resume: false,
    log: logger([]),
    fingerprint: 'fp',
    onEpoch: (r) => uploadCheckpoint(run, first, r.epoch),
  });
  const second = path.join(base, 'machine-2');
  assert.equal(await downloadCheckpoint(store, run.runId, second), 2);
  const resumed = await runTrial({
    trial: t(4),
    data,
    workDir: second,
    resume: true,
    log: logger([]),
    fingerprint: 'fp',
  });
  assert.deepEqual(
    resumed.history.map((h) => [h.loss, h.val_loss, h.val_entity_f1]),
    straight.history.map((h) => [h.loss, h.val_loss, h.val_entity_f1]),
  );
  for (const dir of ['last', 'best']) {
    const a = folderBytes(path.join(base, 'straight', dir));
    const b = folderBytes(path.join(second, dir));
    assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), dir);
    for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f)!), `${dir}/${f} differs after the resume`);
  }
});

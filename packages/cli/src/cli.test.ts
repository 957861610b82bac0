import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { repoRoot, sha256File } from '@nerflow/core';
import { startFakeMlflowServer } from '../../tracking/src/test-helpers/fake-mlflow-server.js';
import { cliEnv, nerflowBin as bin, runNerflow } from './test-helpers/run-cli.js';

const corpus = path.join(repoRoot(), 'data/ner_dataset.csv.gz');

/** A workspace of its own (configs/, runs/) with a tiny config on the real corpus. */
function workspace(configs: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-e2e-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'nx.json'), '{}');
  writeFileSync(
    path.join(root, 'configs', 'tiny.yaml'),
    `data:\n  path: ${corpus}\n  limit_sentences: 300\ntrain:\n  epochs: 1\n  lstm_units: 8\n  embedding_dim: 8\ntracking:\n  experiment: e2e\n`,
  );
  for (const [name, text] of Object.entries(configs)) writeFileSync(path.join(root, 'configs', name), text);
  return root;
}

function nerflow(root: string, ...args: string[]) {
  return nerflowEnv(root, {}, ...args);
}

/** As nerflow(), without blocking this process (a server in the test must keep answering). */
function nerflowAsync(root: string, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd: root, env: childEnv(root) });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const childEnv = cliEnv;

/** Start nerflow and resolve once its stderr matches `until` (then the test interrupts it). */
async function startUntil(root: string, until: RegExp, ...args: string[]) {
  const p = spawn(process.execPath, [bin, ...args], { cwd: root, env: childEnv(root) });
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((r) => p.on('close', (c, sig) => r([c, sig])));
  let err = '';
  await new Promise<void>((resolve) => {
    p.stderr.on('data', (d) => {
      err += d;
      if (until.test(err)) resolve();
    });
  });
  return { p, closed };
}

function nerflowEnv(root: string, env: Record<string, string>, ...args: string[]) {
  return runNerflow(root, args, { env });
}

function mlflowRuns(root: string): { meta: Record<string, unknown>; dir: string }[] {
  const store = path.join(root, 'runs', 'mlruns');
  const out: { meta: Record<string, unknown>; dir: string }[] = [];
  for (const exp of readdirSync(store)) {
    if (exp === 'models') continue; // MLflow's Model Registry, not an experiment
    const ed = path.join(store, exp);
    for (const run of readdirSync(ed)) {
      const m = path.join(ed, run, 'meta.yaml');
      if (run !== 'datasets' && run !== 'tags' && existsSync(m))
        out.push({ meta: parse(readFileSync(m, 'utf8')), dir: path.join(ed, run) });
    }
  }
  return out;
}

test('--help lists every command; a bad config is exit 1 with one message and no stack', () => {
  const root = workspace({ 'bad.yaml': 'train:\n  lstm_unit: 3\n' });
  const help = nerflow(root, '--help');
  assert.equal(help.code, 0);
  for (const c of ['ingest', 'featurize', 'train', 'evaluate', 'pipeline', 'report', 'mlflow', 'predict', 'serve'])
    assert.match(help.out, new RegExp(`nerflow ${c}`));
  for (const c of ['ingest', 'featurize', 'train', 'evaluate', 'pipeline', 'report']) {
    const h = nerflow(root, c, '--help');
    assert.equal(h.code, 0, `${c} --help`);
    assert.match(h.out, /--config\s+config name in configs\/ .* or a path to one/, `${c} --help names --config`);
  }
  assert.match(nerflow(root, 'train', '--help').out, /--resume/);
  assert.match(nerflow(root, 'predict', '--help').out, /--model\s+a trial folder .*models:\/<name>@<alias>/s);
  assert.match(nerflow(root, 'serve', '--help').out, /--max-tokens\s+tokens per request/);
  assert.match(nerflow(root, 'mlflow', 'sync', '--help').out, /--to\s+tracking server URI/);
  const gcHelp = nerflow(root, 'mlflow', 'gc', '--help').out;
  for (const flag of ['--uri', '--other-hosts', '--dry-run']) assert.match(gcHelp, new RegExp(flag));
  assert.match(help.out, /nerflow worker/);
  assert.match(help.out, /nerflow sweep/);
  assert.doesNotMatch(help.out, /queue-trial/, 'the per-trial process of a worker is internal');
  assert.match(nerflow(root, 'worker', '--help').out, /--concurrency[\s\S]*--lock-seconds/);
  assert.match(nerflow(root, 'sweep', 'status', '--help').out, /--config[\s\S]*--queue/);
  assert.match(nerflow(root, 'train', '--help').out, /--queue[\s\S]*--wait[\s\S]*--retry-failed/);
  const bad = nerflow(root, 'ingest', '--config', 'bad.yaml');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /bad\.yaml:2: unknown key "train\.lstm_unit" \(did you mean "train\.lstm_units"\?\)/);
  assert.doesNotMatch(bad.err, /\n\s+at /, 'no stack trace');
  const missing = nerflow(root, 'train', '--config', 'tiny.yaml');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /Run `npx nerflow featurize --config tiny` first/);
});

test('pipeline on real data: every stage output, MLflow run with params and per-epoch metrics, then incremental reruns', () => {
  const root = workspace({});
  const first = nerflow(root, 'pipeline', '--config', 'tiny.yaml');
  assert.equal(first.code, 0, first.err);
  for (const f of [
    'ingest/corpus.duckdb',
    'featurize/train.arrow',
    'train/main/model/model.json',
    'train/main/model/nerflow.json',
    'train/main/history.json',
    'evaluate/main/report.html',
    'evaluate/main/predictions.conll',
  ]) {
    assert.ok(existsSync(path.join(root, 'runs', 'tiny', f)), f);
  }
  const runs = mlflowRuns(root);
  assert.equal(runs.length, 1);
  const [run] = runs;
  assert.equal(run.meta.status, 3, 'FINISHED');
  assert.equal(readFileSync(path.join(run.dir, 'params', 'train.lstm_units'), 'utf8'), '8');
  assert.match(readFileSync(path.join(run.dir, 'metrics', 'val_entity_f1'), 'utf8'), /^\d+ [\d.e-]+ 1\n$/);
  assert.ok(existsSync(path.join(run.dir, 'metrics', 'test_entity_f1')), 'evaluate logs to the training run');
  assert.ok(existsSync(path.join(run.dir, 'artifacts', 'evaluation', 'report.html')));
  // the fused model computes in nerflow's kernel: train loads no TF.js for it (memory), so no TF.js backend
  assert.equal(readFileSync(path.join(run.dir, 'tags', 'nerflow.backend'), 'utf8'), 'none');
  assert.equal(
    readFileSync(path.join(run.dir, 'tags', 'nerflow.engine'), 'utf8'),
    'nerflow-wasm-simd',
    "the fused model runs on nerflow's kernel",
  );
  const weights = path.join(root, 'runs/tiny/train/main/model/weights.bin');
  const w1 = readFileSync(weights);

  // the user's environment, not a bug: exit 1 with one message naming the server and the fix
  const down = nerflowEnv(
    root,
    { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0' },
    'train',
    '--config',
    'tiny.yaml',
    '--force',
  );
  assert.equal(down.code, 1, down.err);
  assert.match(
    down.err,
    /cannot reach the MLflow tracking server at http:\/\/127\.0\.0\.1:9 .*unset MLFLOW_TRACKING_URI/,
  );
  assert.doesNotMatch(down.err, /internal error|\n\s+at /);
  const noTrial = nerflow(root, 'train', '--config', 'tiny.yaml', '--trial', 't-nope');
  assert.equal(noTrial.code, 1, noTrial.err);
  assert.match(noTrial.err, /--trial t-nope: no such trial in .*tiny\.yaml\. Its trials: main/);
  assert.deepEqual(readFileSync(weights), w1, 'a failed run leaves the trained model as it was');

  const again = nerflow(root, 'pipeline', '--config', 'tiny.yaml');
  assert.equal(again.code, 0);
  assert.equal((again.err.match(/up to date/g) ?? []).length, 4, again.err);

  // a train-only change: ingest and featurize stay up to date, train and evaluate rerun
  const changed = nerflow(root, 'pipeline', '--config', 'tiny.yaml', '--set', 'train.lstm_units=6');
  assert.equal(changed.code, 0, changed.err);
  assert.match(changed.err, /ingest: up to date/);
  assert.match(changed.err, /featurize: up to date/);
  assert.doesNotMatch(changed.err, /train: all 1 trial\(s\) up to date/);
  assert.match(changed.err, /evaluate: main: entity F1/);

  // retraining the original config gives bit-identical weights
  const back = nerflow(root, 'train', '--config', 'tiny.yaml', '--force');
  assert.equal(back.code, 0, back.err);
  assert.deepEqual(readFileSync(weights), w1);
});

test('sweep: one parent run with a child per trial; adding a grid value trains only the new trial; report ranks them', async () => {
  const sweep = (units: number[]) =>
    `extends: tiny.yaml\nsweep:\n  method: grid\n  params:\n    train.lstm_units: [${units.join(', ')}]\n`;
  const root = workspace({ 'sw.yaml': sweep([4, 6]) });
  const r = nerflow(root, 'pipeline', '--config', 'sw.yaml');
  assert.equal(r.code, 0, r.err);
  const runs = mlflowRuns(root);
  const parent = runs.find((x) => readFileSync(path.join(x.dir, 'tags', 'nerflow.kind'), 'utf8') === 'sweep')!;
  const children = runs.filter((x) => existsSync(path.join(x.dir, 'tags', 'mlflow.parentRunId')));
  assert.equal(children.length, 2);
  for (const c of children)
    assert.equal(readFileSync(path.join(c.dir, 'tags', 'mlflow.parentRunId'), 'utf8'), parent.meta.run_id);
  assert.ok(existsSync(path.join(parent.dir, 'artifacts', 'trials.csv')));
  assert.ok(existsSync(path.join(parent.dir, 'params', 'best.train.lstm_units')));
  const csv = readFileSync(path.join(root, 'runs/sw/train/trials.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 3);
  assert.match(csv[0], /^rank,trial,train\.lstm_units,best_val_entity_f1,epochs,status,seconds,mlflow_run_id$/);
  assert.ok(existsSync(path.join(root, 'runs/sw/train/best/model/model.json')));

  writeFileSync(path.join(root, 'configs', 'sw.yaml'), sweep([4, 6, 5]));
  const more = nerflow(root, 'train', '--config', 'sw.yaml');
  assert.equal(more.code, 0, more.err);
  assert.equal((more.err.match(/train: trial \d\/3/g) ?? []).length, 1, `only the new trial trains:\n${more.err}`);
  // still one parent for the sweep, now holding all three trials; the one it replaces is deleted
  const live = mlflowRuns(root).filter((x) => x.meta.lifecycle_stage === 'active');
  const parents = live.filter((x) => readFileSync(path.join(x.dir, 'tags', 'nerflow.kind'), 'utf8') === 'sweep');
  assert.equal(parents.length, 1);
  const kids = live.filter((x) => existsSync(path.join(x.dir, 'tags', 'mlflow.parentRunId')));
  assert.equal(kids.length, 3);
  for (const c of kids)
    assert.equal(readFileSync(path.join(c.dir, 'tags', 'mlflow.parentRunId'), 'utf8'), parents[0].meta.run_id);
  assert.equal(mlflowRuns(root).find((x) => x.meta.run_id === parent.meta.run_id)?.meta.lifecycle_stage, 'deleted');
  const report = nerflow(root, 'report', '--config', 'sw.yaml');
  assert.equal(report.code, 0, report.err);
  assert.match(report.out, /^rank\s+trial\s+entity F1/);
  assert.equal(report.out.trim().split('\n').length, 2 + 3);

  // `nerflow mlflow sync` pushes the store to a tracking server (an in-process one speaking the REST API); twice is safe
  const srv = await startFakeMlflowServer();
  try {
    const live = mlflowRuns(root).filter((x) => x.meta.lifecycle_stage === 'active').length;
    const sync = await nerflowAsync(root, 'mlflow', 'sync', '--to', srv.url);
    assert.equal(sync.code, 0, sync.err);
    assert.match(
      sync.err,
      new RegExp(
        `mlflow sync: ${live} runs created, 0 updated, 0 unchanged \\(1 experiment; sent [\\d,]+ metric values, \\d+ artifact files, [\\d,]+ params, ${live} status updates\\) → ${srv.url}`,
      ),
    );
    const again = await nerflowAsync(root, 'mlflow', 'sync', '--to', srv.url);
    assert.match(
      again.err,
      new RegExp(
        `mlflow sync: 0 runs created, 0 updated, ${live} unchanged \\(1 experiment; nothing to send\\) → ${srv.url}`,
      ),
    );
    const server = [...srv.runs.values()];
    const parentOnServer = server.find(
      (r) => r.tags.get('nerflow.kind') === 'sweep' && r.info.lifecycle_stage === 'active',
    )!;
    assert.equal(
      server.filter((r) => r.tags.get('mlflow.parentRunId') === parentOnServer.info.run_id).length,
      3,
      "children point at the parent's server id",
    );
  } finally {
    await srv.close();
  }
  const noStore = nerflow(workspace({}), 'mlflow', 'sync', '--to', 'http://127.0.0.1:9');
  assert.equal(noStore.code, 1);
  assert.match(noStore.err, /no local store at .*runs\/mlruns\. Train something first/);
});

test('an interrupted training run ends KILLED and --resume continues from the last finished epoch', async () => {
  const root = workspace({
    'long.yaml': 'extends: tiny.yaml\ndata:\n  limit_sentences: 3000\ntrain:\n  epochs: 4\n  lstm_units: 24\n',
  });
  assert.equal(nerflow(root, 'featurize', '--config', 'long.yaml').code, 1, 'featurize needs ingest first');
  assert.equal(nerflow(root, 'ingest', '--config', 'long.yaml').code, 0);
  assert.equal(nerflow(root, 'featurize', '--config', 'long.yaml').code, 0);
  const { p, closed } = await startUntil(root, /epoch 1\/4 \S+ batches 100%/, 'train', '--config', 'long.yaml');
  // wait for the epoch's checkpoint, then interrupt
  const state = path.join(root, 'runs/long/train/.main.work/state.json');
  while (!existsSync(state)) await new Promise((r) => setTimeout(r, 50));
  p.kill('SIGINT');
  const [code, signal] = await closed;
  // the run is ended KILLED first, then SIGINT is re-raised: the parent sees death by SIGINT (a shell shows 130)
  assert.deepEqual([code, signal], [null, 'SIGINT'], `died of SIGINT (exit ${code}, signal ${signal})`);
  const [run] = mlflowRuns(root);
  assert.equal(run.meta.status, 5, 'KILLED');
  assert.equal(JSON.parse(readFileSync(state, 'utf8')).epochsDone >= 1, true);
  assert.ok(!existsSync(path.join(root, 'runs/long/train/main/manifest.json')), 'no finished output from a killed run');
  const resumed = nerflow(root, 'train', '--config', 'long.yaml', '--resume');
  assert.equal(resumed.code, 0, resumed.err);
  assert.match(resumed.err, /resuming main after epoch [1-3]/);
  assert.doesNotMatch(resumed.err, /epoch 1\/4 /, 'the finished epoch is not trained again');
  const history = JSON.parse(readFileSync(path.join(root, 'runs/long/train/main/history.json'), 'utf8'));
  assert.deepEqual(
    history.map((h: { epoch: number }) => h.epoch),
    [1, 2, 3, 4],
  );
  // the resumed training is the uninterrupted one: the same weights and history bytes (the checkpoint holds
  // Adam's moments and step and the dropout generator's state; batch order is a function of seed and epoch)
  const model = path.join(root, 'runs/long/train/main/model/weights.bin');
  const historyFile = path.join(root, 'runs/long/train/main/history.json');
  const resumedBytes = [await sha256File(model), readFileSync(historyFile, 'utf8')];
  const straight = nerflow(root, 'train', '--config', 'long.yaml', '--force');
  assert.equal(straight.code, 0, straight.err);
  assert.doesNotMatch(straight.err, /resuming/);
  assert.deepEqual(resumedBytes, [await sha256File(model), readFileSync(historyFile, 'utf8')]);
});

test('an interrupted sweep ends its parent run and the running trial KILLED, none left RUNNING', async () => {
  const root = workspace({
    'isw.yaml':
      'extends: tiny.yaml\ndata:\n  limit_sentences: 1500\ntrain:\n  epochs: 3\nsweep:\n  method: grid\n  params:\n    train.lstm_units: [16, 24]\n',
  });
  for (const stage of ['ingest', 'featurize']) assert.equal(nerflow(root, stage, '--config', 'isw.yaml').code, 0);
  const { p, closed } = await startUntil(root, /epoch 1\/3 \S+ batches 100%/, 'train', '--config', 'isw.yaml');
  p.kill('SIGINT');
  await closed;
  const runs = mlflowRuns(root);
  const status = (kind: string) =>
    runs
      .filter((x) => readFileSync(path.join(x.dir, 'tags', 'nerflow.kind'), 'utf8') === kind)
      .map((x) => x.meta.status);
  assert.deepEqual(status('sweep'), [5], 'the parent: KILLED');
  assert.deepEqual(status('trial'), [5], 'the trial that was running: KILLED');
  assert.ok(
    existsSync(path.join(root, 'runs/isw/train/.sweep.mlflow.json')),
    'the parent run is recorded for --resume',
  );
  assert.deepEqual(
    readdirSync(path.join(root, 'runs/isw/train')).filter((n) => n.includes('.staging-')),
    [],
    'no staging folder left',
  );
  // --resume reopens the same parent and the same trial run: one parent, one run per trial, all FINISHED
  const resumed = nerflow(root, 'train', '--config', 'isw.yaml', '--resume');
  assert.equal(resumed.code, 0, resumed.err);
  const after = mlflowRuns(root).filter((x) => x.meta.lifecycle_stage === 'active');
  const tag = (x: { dir: string }, k: string) =>
    existsSync(path.join(x.dir, 'tags', k)) ? readFileSync(path.join(x.dir, 'tags', k), 'utf8') : undefined;
  const parents = after.filter((x) => tag(x, 'nerflow.kind') === 'sweep');
  const trials = after.filter((x) => tag(x, 'nerflow.kind') === 'trial');
  assert.equal(parents.length, 1);
  assert.equal(trials.length, 2);
  const killedParent = runs.find((x) => tag(x, 'nerflow.kind') === 'sweep')!;
  const killedTrial = runs.find((x) => tag(x, 'nerflow.kind') === 'trial')!;
  assert.equal(parents[0].meta.run_id, killedParent.meta.run_id, 'the same parent run');
  assert.ok(
    trials.some((t) => t.meta.run_id === killedTrial.meta.run_id),
    'the same run for the interrupted trial',
  );
  for (const x of [...parents, ...trials]) assert.equal(x.meta.status, 3, 'FINISHED');
  assert.equal(tag(parents[0], 'nerflow.resumes'), '1');
  assert.equal(
    tag(
      trials.find((t) => t.meta.run_id === killedTrial.meta.run_id)!,
      'nerflow.resumes',
    ),
    '1',
  );
  for (const t of trials) assert.equal(tag(t, 'mlflow.parentRunId'), parents[0].meta.run_id);
  assert.ok(!existsSync(path.join(root, 'runs/isw/train/.sweep.mlflow.json')), 'removed once the sweep finished');
});

test('sweep.parallel: 2 trains two trials in two worker processes into one store, both children under one parent', () => {
  const root = workspace({
    'par.yaml':
      'extends: tiny.yaml\nsweep:\n  method: grid\n  parallel: 2\n  params:\n    train.optimizer.learning_rate: [0.01, 0.003]\n',
  });
  // on 2 cores (as CI), two trials at once get one kernel thread each: never more than 2 busy threads
  const r = nerflowEnv(root, { NERFLOW_CPUS: '2' }, 'pipeline', '--config', 'par.yaml');
  assert.equal(r.code, 0, r.err);
  assert.equal((r.err.match(/train: worker starts t-/g) ?? []).length, 2);
  assert.equal((r.err.match(/fused model on nerflow-wasm-simd, 1 kernel thread \(/g) ?? []).length, 2, r.err);
  const trialThreads = readdirSync(path.join(root, 'runs/par/train'))
    .filter((d) => d.startsWith('t-'))
    .map((d) => JSON.parse(readFileSync(path.join(root, 'runs/par/train', d, 'run.json'), 'utf8')).threads);
  assert.deepEqual(trialThreads, [1, 1]);
  const runs = mlflowRuns(root);
  // on a mismatch, say which runs there are (it failed once in CI with 5: which ones was not recorded)
  const describe = () =>
    runs
      .map((x) => {
        const t = (k: string) =>
          existsSync(path.join(x.dir, 'tags', k)) ? readFileSync(path.join(x.dir, 'tags', k), 'utf8') : '-';
        return `${String(x.meta.run_name)} status ${String(x.meta.status)} parent ${t('mlflow.parentRunId')} kind ${t('nerflow.kind')}`;
      })
      .join('\n');
  assert.equal(runs.length, 3, `${describe()}\n--- stderr:\n${r.err}`);
  const parent = runs.find((x) => !existsSync(path.join(x.dir, 'tags', 'mlflow.parentRunId')))!;
  for (const c of runs.filter((x) => x !== parent)) {
    assert.equal(readFileSync(path.join(c.dir, 'tags', 'mlflow.parentRunId'), 'utf8'), parent.meta.run_id);
    assert.equal(c.meta.status, 3);
  }
  assert.equal(readdirSync(path.join(root, 'runs/par/evaluate')).filter((d) => d.startsWith('t-')).length, 2);
});

test('train.threads: auto gives a lone trial 2 kernel threads on 2 cores, 1 on 1 core; 2 with parallel trials is lowered, saying so', () => {
  const root = workspace({
    'two.yaml': 'extends: tiny.yaml\nsweep:\n  parallel: 2\n  params:\n    train.seed: [1, 2]\ntrain:\n  threads: 2\n',
  });
  for (const c of ['tiny.yaml', 'two.yaml'])
    for (const stage of ['ingest', 'featurize']) assert.equal(nerflow(root, stage, '--config', c).code, 0);
  const lone = nerflowEnv(root, { NERFLOW_CPUS: '2' }, 'train', '--config', 'tiny.yaml');
  assert.equal(lone.code, 0, lone.err);
  assert.match(lone.err, /fused model on nerflow-wasm-simd, 2 kernel threads \(/);
  assert.equal(JSON.parse(readFileSync(path.join(root, 'runs/tiny/train/main/run.json'), 'utf8')).threads, 2);
  const one = nerflowEnv(root, { NERFLOW_CPUS: '1' }, 'train', '--config', 'tiny.yaml', '--force');
  assert.match(one.err, /fused model on nerflow-wasm-simd, 1 kernel thread \(/);
  const capped = nerflowEnv(root, { NERFLOW_CPUS: '2' }, 'train', '--config', 'two.yaml');
  assert.equal(capped.code, 0, capped.err);
  assert.equal(
    (capped.err.match(/train\.threads 2 lowered to 1: 2 trial\(s\) at once on 2 core\(s\)/g) ?? []).length,
    2,
    capped.err,
  );
  assert.equal((capped.err.match(/1 kernel thread \(/g) ?? []).length, 2, capped.err);
  const bad = nerflowEnv(root, { NERFLOW_CPUS: 'two' }, 'train', '--config', 'tiny.yaml', '--force');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /NERFLOW_CPUS=two: expected a whole number of cores/);
});

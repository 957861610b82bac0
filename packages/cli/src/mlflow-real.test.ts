import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot } from '@nerflow/core';
import { processStart } from '@nerflow/tracking';
import { realMlflowSkip, startRealMlflow, type RealMlflow } from '../../tracking/src/test-helpers/real-mlflow.js';

/**
 * nerflow against a real MLflow 3.6 server (../shared/tools/mlflow), read back with MLflow's own
 * Python client: resume after SIGTERM and after kill -9 (one run, continuous history), gc of dead
 * runs on the server, sync of later changes, params as the Python client writes them, a non-proxied
 * artifact root. One server for the file; every test uses its own experiment and config name.
 */

const bin = path.join(repoRoot(), 'packages/cli/bin/nerflow.js');
const corpus = path.join(repoRoot(), 'data/ner_dataset.csv.gz');
let m: RealMlflow;
let root: string;

before(async () => {
  if (realMlflowSkip) return;
  m = await startRealMlflow();
  root = mkdtempSync(path.join(os.tmpdir(), 'nerflow-real-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'nx.json'), '{}');
  // tiny and fast, but many epochs, so a signal lands mid-training
  writeFileSync(
    path.join(root, 'configs', 'base.yaml'),
    [
      'description: real-server test',
      'data:',
      `  path: ${corpus}`,
      '  limit_sentences: 200',
      'train:',
      '  epochs: 30',
      '  lstm_units: 8',
      '  embedding_dim: 8',
      '  early_stopping: { patience: 1000 }',
      'tracking:',
      '  experiment: real',
      '',
    ].join('\n'),
  );
});

after(async () => {
  await m?.stop();
});

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** nerflow in the test workspace; `uri` = the tracking server (else the local store); `until` lets the caller act mid-run. */
function nerflow(
  o: {
    uri?: string;
    experiment?: string;
    until?: { file: string; test: (text: string) => boolean; act: (pid: number) => void };
  },
  ...args: string[]
): Promise<Ran> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NERFLOW_ROOT: root,
      CI: 'true',
      MLFLOW_TRACKING_URI: o.uri ?? '',
      MLFLOW_EXPERIMENT_NAME: o.experiment ?? '',
    };
    delete env.npm_command;
    delete env.NX_TASK_TARGET_PROJECT;
    const p = spawn(process.execPath, [bin, ...args], { cwd: root, env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    let timer: NodeJS.Timeout | undefined;
    if (o.until) {
      const u = o.until;
      timer = setInterval(() => {
        try {
          if (existsSync(u.file) && u.test(readFileSync(u.file, 'utf8'))) {
            clearInterval(timer);
            u.act(p.pid!);
          }
        } catch {
          /* being written */
        }
      }, 20);
    }
    p.on('close', (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, out, err });
    });
  });
}

async function prepare(name: string, extra = ''): Promise<void> {
  writeFileSync(path.join(root, 'configs', `${name}.yaml`), `extends: base.yaml\n${extra}`);
  for (const stage of ['ingest', 'featurize']) {
    const r = await nerflow({}, stage, '--config', name);
    assert.equal(r.code, 0, r.err);
  }
}

/** `nerflow train --config <name> --set train.epochs=2` (+ extra flags), with the given tracking settings. */
function trainTwoEpochs(opts: Parameters<typeof nerflow>[0], name: string, ...extra: string[]) {
  return nerflow(opts, 'train', '--config', name, '--set', 'train.epochs=2', ...extra);
}

interface PyRun {
  id: string;
  status: string;
  tags: Record<string, string>;
  params: Record<string, string>;
  steps: number[];
  end: number | null;
}

/** Every run of an experiment as MLflow's Python client sees it, with the val_entity_f1 steps. */
function runsOf(experiment: string, uri?: string): Promise<PyRun[]> {
  return m.pythonJson<PyRun[]>(`
import json, mlflow
from mlflow import MlflowClient
c = MlflowClient(${uri ? JSON.stringify(uri) : ''})
e = c.get_experiment_by_name(${JSON.stringify(experiment)})
out = []
for r in (c.search_runs([e.experiment_id]) if e else []):
    h = c.get_metric_history(r.info.run_id, 'val_entity_f1')
    out.append(dict(id=r.info.run_id, status=r.info.status, tags=r.data.tags, params=r.data.params, steps=sorted(p.step for p in h), end=r.info.end_time))
print(json.dumps(out))`);
}

const epochsDone = (n: number) => (text: string) => JSON.parse(text).epochsDone >= n;
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const stagingIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.includes('.staging-')) : []);

/**
 * Prepares config `name` and trains it against the real server (experiment real-<name>) until `epochs` epochs
 * are checkpointed, then sends the trainer `signal`; asserts it died of it.
 */
async function trainKilledAfter(name: string, epochs: number, signal: NodeJS.Signals) {
  await prepare(name);
  const trainDir = path.join(root, `runs/${name}/train`);
  const state = path.join(trainDir, '.main.work/state.json');
  const killed = await nerflow(
    {
      uri: m.uri,
      experiment: `real-${name}`,
      until: { file: state, test: epochsDone(epochs), act: (pid) => process.kill(pid, signal) },
    },
    'train',
    '--config',
    name,
  );
  assert.equal(killed.signal, signal, `died of ${signal}: ${killed.code} ${killed.err}`);
  return { trainDir, state };
}

/**
 * `train --resume` finishes the killed run `runId` of config `name`: still ONE run, FINISHED, one resume counted,
 * and every epoch's val_entity_f1 once in its history (checkpointed epochs the run lacked logged, none twice).
 */
async function resumeToEnd(name: string, runId: string) {
  const resumed = await nerflow({ uri: m.uri, experiment: `real-${name}` }, 'train', '--config', name, '--resume');
  assert.equal(resumed.code, 0, resumed.err);
  assert.match(resumed.err, new RegExp(`continues MLflow run ${runId}`));
  const runs = await runsOf(`real-${name}`);
  assert.equal(runs.length, 1, 'one run per trial');
  assert.equal(runs[0].id, runId);
  assert.equal(runs[0].status, 'FINISHED');
  assert.equal(runs[0].tags['nerflow.resumes'], '1');
  assert.deepEqual(runs[0].steps, range(1, 30), 'every epoch once, in one history');
  return { err: resumed.err, run: runs[0] };
}

test(
  'real server: SIGTERM mid-training, then --resume: ONE run, FINISHED, continuous val_entity_f1 history, resumes counted',
  { skip: realMlflowSkip },
  async () => {
    const { trainDir, state } = await trainKilledAfter('term', 3, 'SIGTERM');
    assert.deepEqual(stagingIn(trainDir), [], 'no staging folder outlives the process');
    const [run] = await runsOf('real-term');
    assert.equal(run.status, 'KILLED');
    assert.equal(run.tags['nerflow.status'], 'killed', 'the tag agrees with the status');
    const done = JSON.parse(readFileSync(state, 'utf8')).epochsDone;

    const resumed = await resumeToEnd('term', run.id);
    assert.match(resumed.err, new RegExp(`resuming main after epoch ${done}`));
    assert.equal(resumed.run.tags['nerflow.status'], 'finished');
    assert.equal(JSON.parse(readFileSync(path.join(trainDir, 'main/run.json'), 'utf8')).mlflow_run_id, run.id);
  },
);

test(
  'real server: kill -9 mid-training leaves a RUNNING run; the next nerflow command ends it KILLED; --resume finishes the same run',
  { skip: realMlflowSkip },
  async () => {
    const { trainDir } = await trainKilledAfter('nine', 2, 'SIGKILL');
    const [run] = await runsOf('real-nine');
    assert.equal(run.status, 'RUNNING', 'nothing could end it');
    assert.equal(stagingIn(trainDir).length, 1, 'kill -9 leaves the staging folder');

    const dry = await nerflow({ uri: m.uri }, 'mlflow', 'gc', '--dry-run');
    assert.equal(dry.code, 0, dry.err);
    assert.match(
      dry.err,
      new RegExp(`would end nine \\(${run.id}\\): owner process \\d+ on ${os.hostname()} no longer exists`),
    );
    assert.equal((await runsOf('real-nine'))[0].status, 'RUNNING', '--dry-run changes nothing');

    const resumed = await resumeToEnd('nine', run.id);
    assert.match(
      resumed.err,
      new RegExp(
        `run nine \\(${run.id}\\) was still RUNNING but its owner process \\d+ on \\S+ no longer exists: marked KILLED`,
      ),
    );
    assert.match(resumed.run.tags['nerflow.ended_by'], /no longer exists; ended KILLED at .*; resumed after that/);
    assert.deepEqual(stagingIn(trainDir), [], "the dead process's staging folder is removed");
  },
);

test(
  'real server: nerflow mlflow gc ends runs of gone owners only; other hosts only with --other-hosts',
  { skip: realMlflowSkip },
  async () => {
    const gone = await new Promise<number>((resolve) => {
      const p = spawn(process.execPath, ['-e', '0']);
      p.on('close', () => resolve(p.pid!));
    });
    const host = os.hostname();
    const owners = {
      dead: { host, pid: gone, start: '' },
      reused: { host, pid: process.pid, start: 'another-boot/1' },
      alive: { host, pid: process.pid, start: processStart(process.pid) ?? '' },
      elsewhere: { host: 'another-host', pid: 1234, start: 'x/1' },
    };
    const ids = await m.pythonJson<Record<string, string>>(`
import json
from mlflow import MlflowClient
c = MlflowClient()
e = c.create_experiment('real-gc')
owners = json.loads(${JSON.stringify(JSON.stringify(owners))})
ids = {}
for name, o in list(owners.items()) + [('unowned', None)]:
    tags = {'nerflow.owner.host': o['host'], 'nerflow.owner.pid': str(o['pid']), 'nerflow.owner.start': o['start']} if o else {}
    ids[name] = c.create_run(e, tags=tags, run_name=name).info.run_id
print(json.dumps(ids))`);
    const status = async () =>
      Object.fromEntries(
        (await runsOf('real-gc')).map((r) => [Object.entries(ids).find(([, id]) => id === r.id)![0], r.status]),
      );
    const gc = await nerflow({}, 'mlflow', 'gc', '--uri', m.uri);
    assert.equal(gc.code, 0, gc.err);
    assert.match(
      gc.err,
      /2 dead run\(s\) ended KILLED, 3 RUNNING run\(s\) kept .*\(1 owned by other hosts: check them there, or pass --other-hosts/,
    );
    assert.deepEqual(await status(), {
      dead: 'KILLED',
      reused: 'KILLED',
      alive: 'RUNNING',
      elsewhere: 'RUNNING',
      unowned: 'RUNNING',
    });
    const forced = await nerflow({}, 'mlflow', 'gc', '--uri', m.uri, '--other-hosts');
    assert.equal(forced.code, 0, forced.err);
    assert.deepEqual(await status(), {
      dead: 'KILLED',
      reused: 'KILLED',
      alive: 'RUNNING',
      elsewhere: 'KILLED',
      unowned: 'RUNNING',
    });
    const ended = (await runsOf('real-gc')).find((r) => r.id === ids.reused)!;
    assert.match(ended.tags['nerflow.ended_by'], /pid \d+ now belongs to another process|host rebooted/);
    assert.ok(ended.end, 'an end time');
  },
);

test(
  'real server: sync carries a local pipeline, later evaluations (new points, a nested run for other settings), and sends nothing the second time',
  { skip: realMlflowSkip },
  async () => {
    await prepare('sync');
    const local = { experiment: 'real-sync' };
    const pipe = await nerflow(local, 'pipeline', '--config', 'sync', '--set', 'train.epochs=3');
    assert.equal(pipe.code, 0, pipe.err);
    const store = `file://${path.join(root, 'runs/mlruns')}`;
    const sync = () => nerflow({}, 'mlflow', 'sync', '--to', m.uri);
    const s1 = await sync();
    assert.equal(s1.code, 0, s1.err);
    assert.match(s1.err, /mlflow sync: 1 run created, 0 updated, \d+ unchanged/);
    // the Model Registry goes too: evaluate registered the model locally (runs/mlruns/models)
    assert.match(s1.err, /mlflow sync: registry: 1 registered model, 1 version created, 0 already there, 1 alias set/);

    /** The registry as MLflow's client reads it, locally and on the server (runs as the local run ids). */
    const registries = () =>
      m.pythonJson<{ local: Record<string, unknown>; remote: Record<string, unknown> }>(`
import json
from mlflow import MlflowClient
def view(c, local_id):
    out = {}
    for rm in c.search_registered_models():
        vs = sorted(c.search_model_versions(f"name='{rm.name}'"), key=lambda v: int(v.version))
        out[rm.name] = dict(
          versions=[(local_id(c, v.run_id), v.tags.get('nerflow.test_entity_f1')) for v in vs],
          champion=local_id(c, c.get_model_version_by_alias(rm.name, 'champion').run_id))
    return out
print(json.dumps(dict(
  local=view(MlflowClient(${JSON.stringify(store)}), lambda c, r: r),
  remote=view(MlflowClient(), lambda c, r: c.get_run(r).data.tags['nerflow.run_uuid']))))`);
    const reg = await registries();
    assert.deepEqual(reg.remote, reg.local, "the server's registry equals the local one");
    assert.deepEqual(Object.keys(reg.remote), ['nerflow-real-sync']);

    /** The local run and its server copy as MLflow's client reads them: everything sync must carry. */
    const compare = () =>
      m.pythonJson<{ local: Record<string, unknown>; remote: Record<string, unknown> }>(`
import json, hashlib
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
def view(c, r):
    files = {}
    def walk(p):
        for f in c.list_artifacts(r.info.run_id, p):
            if f.is_dir: walk(f.path)
            else: files[f.path] = hashlib.sha256(open(c.download_artifacts(r.info.run_id, f.path), 'rb').read()).hexdigest()
    walk('')
    tags = {k: v for k, v in r.data.tags.items() if not k.startswith('nerflow.sync') and k not in ('nerflow.run_uuid', 'mlflow.parentRunId')}
    hist = {k: sorted((p.step, p.timestamp, p.value) for p in c.get_metric_history(r.info.run_id, k)) for k in r.data.metrics}
    return dict(name=r.info.run_name, status=r.info.status, start=r.info.start_time, end=r.info.end_time, params=r.data.params, tags=tags, metrics=hist, artifacts=files, parent=r.data.tags.get('mlflow.parentRunId'))
lc, rc = MlflowClient(${JSON.stringify(store)}), MlflowClient()
le, re = lc.get_experiment_by_name('real-sync'), rc.get_experiment_by_name('real-sync')
loc = {r.info.run_id: r for r in lc.search_runs([le.experiment_id])}
rem = {r.data.tags['nerflow.run_uuid']: r for r in rc.search_runs([re.experiment_id])}
ids = {r.info.run_id: lid for lid, r in rem.items()}
out_l = {lid: view(lc, r) for lid, r in loc.items()}
out_r = {}
for lid, r in rem.items():
    v = view(rc, r)
    v['parent'] = ids.get(v['parent'], v['parent'])
    out_r[lid] = v
print(json.dumps(dict(local=out_l, remote=out_r)))`);
    let c = await compare();
    assert.deepEqual(c.remote, c.local, 'the server copy equals the local run');
    const [trial] = Object.values(c.local) as { params: Record<string, string>; tags: Record<string, string> }[];
    assert.match(
      trial.tags['mlflow.note.content'],
      /real-server test\n\noverrides: --set train\.epochs=3/,
      'the description shows --set',
    );

    // params as MLflow's Python client would log the same config: str(value) of every leaf of config.yaml
    const pyParams = await m.pythonJson<Record<string, string>>(`
import json, re, yaml
from mlflow import MlflowClient
# config.yaml is YAML 1.2, where 1e-7 is a float; PyYAML (YAML 1.1) needs a dot, so teach it that one rule
class Loader(yaml.SafeLoader): pass
Loader.add_implicit_resolver('tag:yaml.org,2002:float', re.compile(r'^[-+]?(\\d+\\.?\\d*|\\.\\d+)[eE][-+]?\\d+$'), list('-+0123456789.'))
c = MlflowClient(${JSON.stringify(store)})
e = c.get_experiment_by_name('real-sync')
r = c.search_runs([e.experiment_id])[0]
cfg = yaml.load(open(c.download_artifacts(r.info.run_id, 'config.yaml')), Loader=Loader)
out = {}
def flat(o, p=''):
    for k, v in o.items():
        if isinstance(v, dict): flat(v, p + k + '.')
        else: out[p + k] = str(v)
flat(cfg)
print(json.dumps(out))`);
    assert.deepEqual(trial.params, pyParams);
    assert.equal(trial.params['tracking.uri'], 'None');
    assert.equal(trial.params['train.early_stopping.restore_best'], 'True');

    // evaluate again (same settings): new test-metric points, sent by the next sync, the run updated in place
    assert.equal((await nerflow(local, 'evaluate', '--config', 'sync', '--set', 'train.epochs=3', '--force')).code, 0);
    const s2 = await sync();
    assert.match(s2.err, /mlflow sync: 0 runs created, 1 updated, 0 unchanged \(1 experiment; sent \d+ metric values/);
    c = await compare();
    assert.deepEqual(c.remote, c.local);
    const metrics = (Object.values(c.remote)[0] as { metrics: Record<string, unknown[]> }).metrics;
    assert.equal(metrics.test_entity_f1.length, 2, 'both evaluations in the history');

    // other evaluate settings: their own nested run (with their params), synced under the trial's server run
    assert.equal(
      (
        await nerflow(
          local,
          'evaluate',
          '--config',
          'sync',
          '--set',
          'train.epochs=3',
          '--set',
          'evaluate.split=val',
          '--force',
        )
      ).code,
      0,
    );
    const s3 = await sync();
    assert.match(s3.err, /mlflow sync: 1 run created, 0 updated, 1 unchanged/);
    c = await compare();
    assert.deepEqual(c.remote, c.local);
    const nested = Object.values(c.remote).find(
      (r) =>
        (r as { params: Record<string, string> }).params['evaluate.split'] === 'val' &&
        !(r as { params: Record<string, string> }).params['train.epochs'],
    ) as { artifacts: Record<string, string>; parent: string };
    assert.ok(nested, 'a nested evaluation run with evaluate.split=val');
    assert.ok(nested.parent in c.remote, 'under the trial run');
    const { createHash } = await import('node:crypto');
    const report = createHash('sha256')
      .update(readFileSync(path.join(root, 'runs/sync/evaluate/main/report.json')))
      .digest('hex');
    assert.equal(nested.artifacts['evaluation/report.json'], report, 'the server holds the latest report.json');

    const s4 = await sync();
    assert.match(s4.err, /mlflow sync: 0 runs created, 0 updated, 2 unchanged \(1 experiment; nothing to send\)/);
    assert.match(
      s4.err,
      /mlflow sync: registry: 1 registered model, 0 versions created, \d+ already there, 0 aliases set/,
    );
    const reg2 = await registries();
    assert.deepEqual(reg2.remote, reg2.local, 'later versions and the alias carried too');
    assert.ok((reg2.local['nerflow-real-sync'] as { versions: unknown[] }).versions.length >= 2);
  },
);

test(
  'real server: a stage up to date locally whose run is not on the configured server says so and names the fix',
  { skip: realMlflowSkip },
  async () => {
    await prepare('moved');
    assert.equal((await trainTwoEpochs({ experiment: 'real-moved' }, 'moved')).code, 0);
    const r = await trainTwoEpochs({ uri: m.uri, experiment: 'real-moved' }, 'moved');
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /train: 1 up-to-date trial\(s\) \(main\) have no MLflow run in http:\/\/127\.0\.0\.1:\d+: they were logged to file:\/\/\S+\. `npx nerflow mlflow sync --to http:\/\/127\.0\.0\.1:\d+` copies them there/,
    );
    assert.equal((await nerflow({}, 'mlflow', 'sync', '--to', m.uri)).code, 0);
    const again = await trainTwoEpochs({ uri: m.uri, experiment: 'real-moved' }, 'moved');
    assert.doesNotMatch(again.err, /have no MLflow run/, 'found by its synced copy');
  },
);

test(
  'real server: an experiment with a plain-path artifact root: written directly when reachable, else an error naming the server flag and a run FAILED with nerflow.status failed',
  { skip: realMlflowSkip },
  async () => {
    await prepare('plain');
    const reachable = mkdtempSync(path.join(os.tmpdir(), 'nerflow-artifacts-'));
    await m.python(`
from mlflow import MlflowClient
c = MlflowClient()
c.create_experiment('real-plain', artifact_location=${JSON.stringify(reachable)})
c.create_experiment('real-unreachable', artifact_location='/nonexistent-nerflow-root/x')`);
    const ok = await trainTwoEpochs({ uri: m.uri, experiment: 'real-plain' }, 'plain');
    assert.equal(ok.code, 0, ok.err);
    const files = await m.pythonJson<string[]>(`
import json
from mlflow import MlflowClient
c = MlflowClient()
r = c.search_runs([c.get_experiment_by_name('real-plain').experiment_id])[0]
print(json.dumps(sorted(f.path for f in c.list_artifacts(r.info.run_id, 'model'))))`);
    assert.ok(files.includes('model/model.json'), files.join(', '));
    const bad = await trainTwoEpochs({ uri: m.uri, experiment: 'real-unreachable' }, 'plain', '--force');
    assert.equal(bad.code, 1, bad.err);
    assert.match(
      bad.err,
      /artifact location is \/nonexistent-nerflow-root\/x\/\S+: the server at .* does not proxy this run's artifacts .*Restart it with --artifacts-destination/,
    );
    assert.doesNotMatch(bad.err, /internal error/);
    const [run] = await runsOf('real-unreachable');
    assert.deepEqual([run.status, run.tags['nerflow.status']], ['FAILED', 'failed']);
  },
);

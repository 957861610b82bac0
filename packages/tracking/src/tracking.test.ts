import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { startFakeServer } from './fake-server.js';
import { FileStore, openStore, pyFloat, RestStore, startRun, syncStore, TrackingServerError } from './index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = () => mkdtempSync(path.join(tmpdir(), 'nerflow-mlruns-'));
const noEnv = {} as NodeJS.ProcessEnv;

test('file store: MLflow FileStore layout, field by field', async () => {
  const root = tmp();
  const store = new FileStore(root);
  const run = await startRun(store, { experiment: 'nerflow', runName: 'baseline', description: 'the reference', params: { train: { lstm_units: 100, optimizer: { learning_rate: 0.001 } } } }, noEnv);
  await run.logMetrics({ loss: 0.5, val_entity_f1: 1e-5 }, 1, 1700000000123);
  await run.logMetrics({ loss: 0.25 }, 2, 1700000000456);
  await run.logInputs([{ name: 'baseline/featurize', digest: 'abc123', source_type: 'local', source: '{"uri": "runs/baseline/featurize"}', context: 'training' }]);
  writeFileSync(path.join(root, 'report.html'), '<html></html>');
  await run.logArtifact(path.join(root, 'report.html'), 'evaluation');
  const child = await startRun(store, { experiment: 'nerflow', runName: 'trial', parentRunId: run.runId }, noEnv);
  await child.end('FINISHED');
  await run.end('FINISHED');

  const def = parse(readFileSync(path.join(root, '0', 'meta.yaml'), 'utf8'));
  assert.deepEqual(Object.keys(def).sort(), ['artifact_location', 'creation_time', 'experiment_id', 'last_update_time', 'lifecycle_stage', 'name']);
  assert.equal(def.name, 'Default');
  assert.equal(def.experiment_id, '0');
  const exp = parse(readFileSync(path.join(root, run.experimentId, 'meta.yaml'), 'utf8'));
  assert.equal(exp.name, 'nerflow');
  assert.equal(exp.experiment_id, '1', 'experiment ids are strings');
  assert.equal(exp.lifecycle_stage, 'active');
  assert.equal(exp.artifact_location, `file://${path.join(root, '1')}`);
  assert.ok(Number.isInteger(exp.creation_time));

  const dir = path.join(root, run.experimentId, run.runId);
  assert.match(run.runId, /^[0-9a-f]{32}$/);
  const meta = parse(readFileSync(path.join(dir, 'meta.yaml'), 'utf8'));
  assert.deepEqual(Object.keys(meta).sort(), ['artifact_uri', 'end_time', 'entry_point_name', 'experiment_id', 'lifecycle_stage', 'run_id', 'run_name', 'run_uuid', 'source_name', 'source_type', 'source_version', 'start_time', 'status', 'tags', 'user_id']);
  assert.equal(meta.status, 3, 'FINISHED is stored as the int enum 3');
  assert.equal(meta.source_type, 4, 'SourceType.LOCAL');
  assert.equal(meta.run_id, meta.run_uuid);
  assert.equal(meta.run_name, 'baseline');
  assert.deepEqual(meta.tags, []);
  assert.equal(meta.artifact_uri, `file://${path.join(dir, 'artifacts')}`);
  assert.ok(meta.end_time >= meta.start_time);
  assert.equal(readFileSync(path.join(dir, 'metrics', 'loss'), 'utf8'), '1700000000123 0.5 1\n1700000000456 0.25 2\n');
  assert.equal(readFileSync(path.join(dir, 'metrics', 'val_entity_f1'), 'utf8'), '1700000000123 1e-05 1\n', 'values as Python writes floats');
  assert.equal(readFileSync(path.join(dir, 'params', 'train.lstm_units'), 'utf8'), '100', 'no trailing newline');
  assert.equal(readFileSync(path.join(dir, 'params', 'train.optimizer.learning_rate'), 'utf8'), '0.001');
  for (const t of ['mlflow.runName', 'mlflow.user', 'mlflow.source.name', 'mlflow.source.type']) assert.ok(existsSync(path.join(dir, 'tags', t)), t);
  assert.equal(readFileSync(path.join(dir, 'tags', 'mlflow.note.content'), 'utf8'), 'the reference');
  assert.equal(readFileSync(path.join(dir, 'artifacts', 'evaluation', 'report.html'), 'utf8'), '<html></html>');
  const childTags = path.join(root, run.experimentId, child.runId, 'tags', 'mlflow.parentRunId');
  assert.equal(readFileSync(childTags, 'utf8'), run.runId);
  const [inputId] = readdirSync(path.join(dir, 'inputs'));
  const link = parse(readFileSync(path.join(dir, 'inputs', inputId, 'meta.yaml'), 'utf8'));
  assert.equal(link.source_type, 'DATASET');
  assert.equal(link.destination_type, 'RUN');
  assert.equal(link.destination_id, run.runId);
  assert.deepEqual(link.tags, { 'mlflow.data.context': 'training' });
  const ds = parse(readFileSync(path.join(root, run.experimentId, 'datasets', link.source_id, 'meta.yaml'), 'utf8'));
  assert.deepEqual([ds.name, ds.digest, ds.source_type], ['baseline/featurize', 'abc123', 'local']);
  // and our own reader agrees
  const back = await store.getRun(run.runId);
  assert.equal(back.info.status, 'FINISHED');
  assert.equal(back.data.metrics.loss, 0.25);
  assert.deepEqual((await store.getMetricHistory(run.runId, 'loss')).map((m) => [m.step, m.value]), [[1, 0.5], [2, 0.25]]);
  assert.equal((await store.searchRuns([run.experimentId], `tags.mlflow.parentRunId = '${run.runId}'`)).length, 1);
});

test('Python float formatting of metric values', () => {
  assert.deepEqual([1, 0.5, 1e-5, 1e-7, 123.25, 1e16, 2.5e-4, NaN, Infinity].map(pyFloat), ['1.0', '0.5', '1e-05', '1e-07', '123.25', '1e+16', '0.00025', 'nan', 'inf']);
});

test('two processes logging 1,000 metrics each to one store at once: nothing lost, nothing interleaved, one experiment', async () => {
  const root = tmp();
  const script = path.join(tmp(), 'writer.mts');
  writeFileSync(script, `import { FileStore, startRun } from ${JSON.stringify(path.join(here, 'index.ts'))};
const store = new FileStore(process.argv[2]);
const run = await startRun(store, { experiment: 'shared', runName: process.argv[3] }, {});
for (let i = 0; i < 1000; i++) await store.logBatch(run.runId, { metrics: [{ key: 'shared_metric', value: i + 0.123456789, step: i, timestamp: 1700000000000 + i }] });
await run.end();
console.log(run.runId);`);
  const runOne = (name: string) => new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, root, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`writer exited ${code}`))));
  });
  const ids = await Promise.all([runOne('a'), runOne('b')]);
  const store = new FileStore(root);
  const exps = (await store.listExperiments()).filter((e) => e.name === 'shared');
  assert.equal(exps.length, 1, 'both processes got the same experiment');
  for (const id of ids) {
    const text = readFileSync(path.join(root, exps[0].experiment_id, id, 'metrics', 'shared_metric'), 'utf8');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, 1000);
    lines.forEach((l, i) => assert.equal(l, `${1700000000000 + i} ${i + 0.123456789} ${i}`));
  }
});

test('REST: request shapes, batching within MLflow limits, auth, retries', async () => {
  const srv = await startFakeServer();
  try {
    const store = new RestStore(srv.url, { env: { MLFLOW_TRACKING_TOKEN: 'tok' }, backoffMs: 1 });
    const exp = await store.getOrCreateExperiment('nerflow');
    assert.deepEqual(srv.requests.slice(0, 2).map((r) => `${r.method} ${r.path}`), ['GET /api/2.0/mlflow/experiments/get-by-name?experiment_name=nerflow', 'POST /api/2.0/mlflow/experiments/create']);
    assert.deepEqual(JSON.parse(srv.requests[1].body), { name: 'nerflow' });
    assert.equal(srv.requests[0].headers.authorization, 'Bearer tok');
    const run = await store.createRun({ experimentId: exp, runName: 'r', startTime: 5, tags: { a: 'b' } });
    assert.deepEqual(JSON.parse(srv.requests.at(-1)!.body), { experiment_id: exp, run_name: 'r', start_time: 5, tags: [{ key: 'a', value: 'b' }] });
    srv.requests.length = 0;
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: 'm', value: i, step: i, timestamp: 1 }));
    const params = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p${i}`, String(i)]));
    await store.logBatch(run.run_id, { metrics, params });
    const batches = srv.requests.map((r) => JSON.parse(r.body));
    assert.ok(srv.requests.every((r) => r.method === 'POST' && r.path === '/api/2.0/mlflow/runs/log-batch'));
    for (const b of batches) {
      assert.ok(b.metrics.length <= 1000 && b.params.length <= 100 && b.tags.length <= 100 && b.metrics.length + b.params.length + b.tags.length <= 1000, JSON.stringify([b.metrics.length, b.params.length]));
      assert.equal(b.run_id, run.run_id);
    }
    assert.equal(batches.reduce((s, b) => s + b.metrics.length, 0), 2500);
    assert.equal(batches.reduce((s, b) => s + b.params.length, 0), 250);
    assert.equal(batches.length, 3, 'ceil(250/100) = 3 requests carry 2,500 metrics and 250 params');
    assert.deepEqual(batches[0].metrics[1], { key: 'm', value: 1, timestamp: 1, step: 1 });
    // retries on 503, then success
    srv.failNext(2, 503);
    srv.requests.length = 0;
    await store.updateRun(run.run_id, { status: 'FINISHED', endTime: 9 });
    assert.equal(srv.requests.length, 3);
    assert.deepEqual(JSON.parse(srv.requests[2].body), { run_id: run.run_id, run_uuid: run.run_id, status: 'FINISHED', end_time: 9 });
    // artifact upload through the proxy
    const f = path.join(tmp(), 'report.json');
    writeFileSync(f, '{"x":1}');
    await store.logArtifact(run.run_id, f, 'evaluation');
    assert.equal(srv.artifacts.get(`${exp}/${run.run_id}/artifacts/evaluation/report.json`)?.toString(), '{"x":1}');
    // basic auth
    const basic = new RestStore(srv.url, { env: { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' } });
    await basic.getExperimentByName('nerflow');
    assert.equal(srv.requests.at(-1)!.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    // a 4xx is not retried and names the URL
    srv.requests.length = 0;
    await assert.rejects(store.getRun('nope'), (e: unknown) => e instanceof TrackingServerError && e.status === 404 && e.message.includes(`${srv.url}/api/2.0/mlflow/runs/get`));
    assert.equal(srv.requests.length, 1);
  } finally {
    await srv.close();
  }
});

test('REST: an unreachable server is a clear error naming the URL', async () => {
  const store = new RestStore('http://127.0.0.1:9', { retries: 1, backoffMs: 1 });
  await assert.rejects(store.getExperimentByName('x'), /cannot reach the MLflow tracking server at http:\/\/127\.0\.0\.1:9 .*mlflow server --port 5000/);
});

test('openStore: MLFLOW_TRACKING_URI overrides, http → REST, paths → file store', () => {
  assert.ok(openStore({ uri: null, root: '/tmp/x', env: {} }) instanceof FileStore);
  assert.equal((openStore({ uri: null, root: '/tmp/x', env: {} }) as FileStore).root, '/tmp/x/mlruns');
  assert.ok(openStore({ uri: '/tmp/y', env: { MLFLOW_TRACKING_URI: 'http://h:5000' } }) instanceof RestStore);
  assert.equal((openStore({ uri: 'file:///tmp/z', env: {} }) as FileStore).root, '/tmp/z');
  assert.throws(() => openStore({ uri: 'sqlite:///mlflow.db', env: {} }), /mlflow server --backend-store-uri sqlite/);
});

test('sync: every run, metric history, param, tag, parent link and artifact reaches the server; a second sync adds nothing', async () => {
  const root = tmp();
  const store = new FileStore(root);
  const parent = await startRun(store, { experiment: 'nerflow', runName: 'sweep' }, noEnv);
  for (const name of ['t1', 't2']) {
    const c = await startRun(store, { experiment: 'nerflow', runName: name, parentRunId: parent.runId, params: { lr: name === 't1' ? 0.001 : 0.003 } }, noEnv);
    await c.logMetrics({ val_entity_f1: 0.5 }, 1, 11);
    await c.logMetrics({ val_entity_f1: 0.7 }, 2, 22);
    const art = path.join(tmp(), 'model');
    mkdirSync(art);
    writeFileSync(path.join(art, 'model.json'), '{}');
    await c.logArtifact(art, 'model');
    await c.end('FINISHED');
  }
  await parent.end('FINISHED');
  const srv = await startFakeServer();
  try {
    const s1 = await syncStore({ from: root, to: srv.url });
    assert.deepEqual({ ...s1, experiments: undefined }, { experiments: undefined, runsCreated: 3, runsSkipped: 0, metrics: 4, artifacts: 2 });
    const runs = [...srv.runs.values()];
    const remoteParent = runs.find((r) => r.info.run_name === 'sweep')!;
    for (const r of runs.filter((x) => x.info.run_name !== 'sweep')) {
      assert.equal(r.tags.get('mlflow.parentRunId'), remoteParent.info.run_id, 'parent link remapped to the server id');
      assert.deepEqual(r.metrics.map((m) => [m.step, m.value, m.timestamp]), [[1, 0.5, 11], [2, 0.7, 22]]);
      assert.equal(r.info.status, 'FINISHED');
      assert.ok(srv.artifacts.has(`${r.info.experiment_id}/${r.info.run_id}/artifacts/model/model.json`));
    }
    assert.deepEqual(runs.map((r) => r.params.get('lr')).filter(Boolean).sort(), ['0.001', '0.003']);
    const s2 = await syncStore({ from: root, to: srv.url });
    assert.equal(s2.runsCreated, 0);
    assert.equal(s2.runsSkipped, 3);
    assert.equal(srv.runs.size, 3, 'no duplicates');
  } finally {
    await srv.close();
  }
});

test('lifecycle: a throw ends the run FAILED; SIGTERM ends it KILLED', async () => {
  const root = tmp();
  const store = new FileStore(root);
  const run = await startRun(store, { experiment: 'e', runName: 'boom' }, noEnv);
  await assert.rejects(run.guard(async () => { throw new Error('boom'); }), /boom/);
  assert.equal((await store.getRun(run.runId)).info.status, 'FAILED');
  const script = path.join(tmp(), 'sleeper.mts');
  writeFileSync(script, `import { FileStore, startRun } from ${JSON.stringify(path.join(here, 'index.ts'))};
const store = new FileStore(process.argv[2]);
const run = await startRun(store, { experiment: 'e', runName: 'sleeper' }, {});
await run.guard(async () => { console.log(run.runId); await new Promise((r) => setTimeout(r, 30000)); });`);
  const p = spawn(process.execPath, ['--import', 'tsx', script, root], { stdio: ['ignore', 'pipe', 'inherit'] });
  const runId = await new Promise<string>((resolve) => p.stdout.once('data', (d) => resolve(String(d).trim())));
  p.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => p.on('close', r));
  assert.equal(code, 143);
  assert.equal((await store.getRun(runId)).info.status, 'KILLED');
});

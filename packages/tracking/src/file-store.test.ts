import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { FileStore, openStore, startRun } from './index.js';
import { readStore, statusName } from './test-helpers/mlflow-layout-reader.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nerflow-fs-'));
const noEnv = {} as NodeJS.ProcessEnv;
const md5 = (...parts: string[]) => parts.reduce((h, p) => h.update(p, 'utf8'), createHash('md5')).digest('hex');
const RUN_KEYS = [
  'artifact_uri',
  'end_time',
  'entry_point_name',
  'experiment_id',
  'lifecycle_stage',
  'run_id',
  'run_name',
  'run_uuid',
  'source_name',
  'source_type',
  'source_version',
  'start_time',
  'status',
  'tags',
  'user_id',
];

test('file store: the layout MLflow FileStore writes, field by field, read back by an independent reader', async () => {
  const root = path.join(tmp(), 'mlruns');
  const store = new FileStore(root);
  const run = await startRun(
    store,
    {
      experiment: 'nerflow',
      runName: 'baseline',
      description: 'the reference model',
      params: { train: { lstm_units: 100, optimizer: { learning_rate: 0.001 } } },
      tags: { 'nerflow.config': 'baseline' },
    },
    noEnv,
  );

  // while RUNNING: meta.yaml as create_run writes it, deleted_time included
  const expDir = path.join(root, run.experimentId);
  const created = parse(readFileSync(path.join(expDir, run.runId, 'meta.yaml'), 'utf8'), { version: '1.1' });
  assert.deepEqual(Object.keys(created).sort(), [...RUN_KEYS, 'deleted_time'].sort());
  assert.equal(created.status, 1, 'RUNNING is stored as the int 1');
  assert.equal(created.end_time, null);
  assert.equal(created.deleted_time, null);

  await run.logMetrics({ loss: 0.5, val_entity_f1: 1e-5 }, 1, 1700000000123);
  await run.logMetrics({ loss: 0.25, 'per_type/geo': 0.75 }, 2, 1700000000456);
  await run.setTags({ 'stage/name': 'train' });
  const input = Object.freeze({
    name: 'baseline/featurize',
    digest: 'abc123',
    source_type: 'local',
    source: '{"uri": "runs/baseline/featurize"}',
    profile: '{"rows": 3}',
    context: 'training',
  }); // frozen: logging it cannot change what it is compared with
  await run.logInputs([input]);
  const report = path.join(tmp(), 'report.html');
  writeFileSync(report, '<html></html>');
  await run.logArtifact(report, 'evaluation');
  const child = await startRun(store, { experiment: 'nerflow', runName: 'trial-1', parentRunId: run.runId }, noEnv);
  await child.end('FAILED');
  await run.end('FINISHED');

  const exps = readStore(root);
  // the Default experiment '0' and ours, nothing else; a .trash folder as FileStore.__init__ makes
  assert.deepEqual([...exps.keys()].sort(), ['0', run.experimentId].sort());
  assert.ok(statSync(path.join(root, '.trash')).isDirectory());
  const def = exps.get('0')!;
  assert.deepEqual(Object.keys(def.meta).sort(), [
    'artifact_location',
    'creation_time',
    'experiment_id',
    'last_update_time',
    'lifecycle_stage',
    'name',
  ]);
  assert.deepEqual([def.meta.name, def.meta.experiment_id, def.meta.lifecycle_stage], ['Default', '0', 'active']);
  assert.match(
    readFileSync(path.join(root, '0', 'meta.yaml'), 'utf8'),
    /^experiment_id: '0'$/m,
    'a numeric-looking id is a quoted string, as PyYAML writes it',
  );
  const exp = exps.get(run.experimentId)!;
  assert.match(
    run.experimentId,
    /^[1-9]\d{17}$/,
    'experiment ids are 18-digit integers as strings (_generate_unique_integer_id)',
  );
  assert.equal(exp.meta.name, 'nerflow');
  assert.equal(exp.meta.artifact_location, `${pathToFileURL(root).href}/${run.experimentId}`);
  assert.equal(exp.meta.creation_time, exp.meta.last_update_time);

  const r = exp.runs.find((x) => x.id === run.runId)!;
  assert.match(r.id, /^[0-9a-f]{32}$/, 'uuid4 hex');
  assert.deepEqual(
    Object.keys(r.meta).sort(),
    RUN_KEYS,
    'an overwrite drops deleted_time, as _overwrite_run_info does',
  );
  assert.equal(statusName(r.meta.status as number), 'FINISHED');
  assert.equal(r.meta.status, 3);
  assert.deepEqual(
    [r.meta.source_type, r.meta.source_name, r.meta.entry_point_name, r.meta.source_version, r.meta.tags],
    [4, '', '', '', []],
  );
  assert.deepEqual(
    [r.meta.run_uuid, r.meta.run_name, r.meta.lifecycle_stage, r.meta.experiment_id],
    [run.runId, 'baseline', 'active', run.experimentId],
  );
  assert.equal(r.meta.artifact_uri, `${exp.meta.artifact_location}/${run.runId}/artifacts`);
  assert.ok((r.meta.end_time as number) >= (r.meta.start_time as number) && (r.meta.start_time as number) > 1.6e12);

  // metrics: one "<timestamp> <value> <step>" line per value, Python float repr, "/" → sub-folder
  assert.equal(
    readFileSync(path.join(r.dir, 'metrics', 'loss'), 'utf8'),
    '1700000000123 0.5 1\n1700000000456 0.25 2\n',
  );
  assert.equal(readFileSync(path.join(r.dir, 'metrics', 'val_entity_f1'), 'utf8'), '1700000000123 1e-05 1\n');
  assert.deepEqual(r.metrics.get('per_type/geo'), [{ timestamp: 1700000000456, value: 0.75, step: 2 }]);
  assert.ok(statSync(path.join(r.dir, 'metrics', 'per_type')).isDirectory());
  // params and tags: the value, no newline
  assert.equal(readFileSync(path.join(r.dir, 'params', 'train.lstm_units'), 'utf8'), '100');
  assert.equal(r.params.get('train.optimizer.learning_rate'), '0.001');
  assert.equal(r.tags.get('stage/name'), 'train');
  assert.equal(r.tags.get('mlflow.runName'), 'baseline');
  assert.equal(r.tags.get('mlflow.note.content'), 'the reference model');
  assert.equal(r.tags.get('mlflow.source.type'), 'LOCAL');
  assert.equal(r.tags.get('nerflow.config'), 'baseline');
  for (const t of ['mlflow.user', 'mlflow.source.name', 'mlflow.source.git.commit']) assert.ok(r.tags.get(t), t);
  assert.match(r.tags.get('mlflow.source.git.commit')!, /^[0-9a-f]{40}$/, 'this test runs in a git checkout');
  // artifacts under artifacts/<path>/
  assert.equal(readFileSync(path.join(r.dir, 'artifacts', 'evaluation', 'report.html'), 'utf8'), '<html></html>');
  // the nested run
  const c = exp.runs.find((x) => x.id === child.runId)!;
  assert.equal(c.tags.get('mlflow.parentRunId'), run.runId);
  assert.equal(c.meta.status, 4, 'FAILED');
  // dataset inputs: datasets/<md5(name+digest)>, inputs/<md5(dataset_id+run_id)>
  const dsId = md5('baseline/featurize', 'abc123');
  assert.deepEqual(exp.datasets.get(dsId), {
    digest: 'abc123',
    name: 'baseline/featurize',
    profile: '{"rows": 3}',
    schema: null,
    source: '{"uri": "runs/baseline/featurize"}',
    source_type: 'local',
  });
  assert.deepEqual(Object.fromEntries(r.inputs), {
    [md5(dsId, run.runId)]: {
      destination_id: dsId,
      destination_type: 'RUN',
      source_id: dsId,
      source_type: 'DATASET',
      tags: { 'mlflow.data.context': 'training' },
    },
  });

  // and the store's own reader agrees
  const back = await store.getRun(run.runId);
  assert.equal(back.info.status, 'FINISHED');
  assert.equal(back.data.metrics.loss, 0.25);
  assert.deepEqual(
    (await store.getMetricHistory(run.runId, 'loss')).map((m) => [m.step, m.value, m.timestamp]),
    [
      [1, 0.5, 1700000000123],
      [2, 0.25, 1700000000456],
    ],
  );
  assert.deepEqual(await store.readInputs(run.runId), [input], 'the dataset input reads back as logged');
  assert.deepEqual(await store.listArtifacts(run.runId), [{ path: 'evaluation', is_dir: true }]);
  assert.deepEqual(await store.listArtifacts(run.runId, 'evaluation'), [
    { path: 'evaluation/report.html', is_dir: false, file_size: 13 },
  ]);
  assert.deepEqual(
    (await store.searchRuns([run.experimentId], `tags.mlflow.parentRunId = '${run.runId}'`)).map((x) => x.info.run_id),
    [child.runId],
  );
  assert.deepEqual(
    (
      await store.searchRuns(
        [run.experimentId],
        "params.`train.lstm_units` = '100' and attributes.run_name = 'baseline'",
      )
    ).map((x) => x.info.run_id),
    [run.runId],
  );
});

test('file store: MLflow rules — key names, immutable params, one run name, deleted runs, latest metric', async () => {
  const store = new FileStore(path.join(tmp(), 'mlruns'));
  const exp = await store.getOrCreateExperiment('rules');
  const info = await store.createRun({ experimentId: exp, runName: 'r', tags: { 'mlflow.runName': 'r' } });
  await assert.rejects(
    store.createRun({ experimentId: exp, runName: 'a', tags: { 'mlflow.runName': 'b' } }),
    /Both 'run_name' argument and 'mlflow.runName' tag/,
  );
  for (const bad of ['a//b', '../x', '/abs', 'a/', 'x:y', '']) {
    await assert.rejects(
      store.logBatch(info.run_id, { metrics: [{ key: bad, value: 1, step: 0, timestamp: 1 }] }),
      /invalid MLflow metric name/,
      bad,
    );
  }
  assert.ok(!existsSync(path.join(store.root, exp, info.run_id, 'metrics', 'x')), 'nothing escaped the run folder');
  await store.logBatch(info.run_id, { params: { lr: '0.1' } });
  await store.logBatch(info.run_id, { params: { lr: '0.1' } }); // the same value again is fine
  await assert.rejects(store.logBatch(info.run_id, { params: { lr: '0.2' } }), /Changing param values is not allowed/);
  // a long param value is truncated to MLflow's 6000 characters
  const warnings: string[] = [];
  const warned = new FileStore(store.root, { warn: (m) => warnings.push(m) });
  await warned.logBatch(info.run_id, { params: { long: 'x'.repeat(7000) } });
  assert.equal(readFileSync(path.join(store.root, exp, info.run_id, 'params', 'long'), 'utf8').length, 6000);
  assert.match(warnings[0], /7000 characters truncated to 6000/);
  // latest value: highest step, then latest timestamp (FileStore._get_metric_from_file)
  await store.logBatch(info.run_id, {
    metrics: [
      { key: 'm', value: 3, step: 5, timestamp: 10 },
      { key: 'm', value: 1, step: 7, timestamp: 1 },
      { key: 'm', value: 2, step: 7, timestamp: 2 },
    ],
  });
  assert.equal((await store.getRun(info.run_id)).data.metrics.m, 2);
  // renaming through the tag keeps meta.yaml in step (FileStore.set_tag / log_batch)
  await store.logBatch(info.run_id, { tags: { 'mlflow.runName': 'renamed' } });
  assert.equal(parse(readFileSync(path.join(store.root, exp, info.run_id, 'meta.yaml'), 'utf8')).run_name, 'renamed');
  // deleted runs take no more data and leave searches
  await store.deleteRun(info.run_id);
  const meta = parse(readFileSync(path.join(store.root, exp, info.run_id, 'meta.yaml'), 'utf8'));
  assert.equal(meta.lifecycle_stage, 'deleted');
  assert.ok(Number.isInteger(meta.deleted_time));
  await assert.rejects(store.logBatch(info.run_id, { tags: { a: 'b' } }), /must be in 'active' lifecycle_stage/);
  assert.deepEqual(await store.searchRuns([exp]), []);
  await assert.rejects(store.createExperiment('rules'), /already exists/);
});

test('file store reads what MLflow (PyYAML) wrote: legacy lines, quoting, ids that look like numbers', async () => {
  const root = path.join(tmp(), 'mlruns');
  const run = path.join(root, '7', '1e10');
  mkdirSync(path.join(run, 'metrics'), { recursive: true });
  mkdirSync(path.join(root, '.trash'));
  writeFileSync(
    path.join(root, '7', 'meta.yaml'),
    "artifact_location: file:///x/7\ncreation_time: 1\nexperiment_id: '7'\nlast_update_time: 1\nlifecycle_stage: active\nname: legacy\n",
  );
  // run_uuid: 1e10 is a string for PyYAML (YAML 1.1 floats need a dot); a 2-field metric line means step 0
  writeFileSync(
    path.join(run, 'meta.yaml'),
    "artifact_uri: file:///x/7/1e10/artifacts\nend_time: 1700000000999\nentry_point_name: ''\nexperiment_id: '7'\nlifecycle_stage: active\nrun_id: 1e10\nrun_name: 'old: run'\nrun_uuid: 1e10\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: 1700000000000\nstatus: 5\ntags: []\nuser_id: someone\n",
  );
  writeFileSync(path.join(run, 'metrics', 'acc'), '1700000000001 0.9\n1700000000002 1e-05 3\n1700000000003 nan 4\n');
  const store = openStore({ uri: pathToFileURL(root).href, env: noEnv }) as FileStore;
  const r = await store.getRun('1e10');
  assert.deepEqual(
    [r.info.run_id, r.info.run_name, r.info.status, r.info.experiment_id, r.info.user_id],
    ['1e10', 'old: run', 'KILLED', '7', 'someone'],
  );
  const h = await store.getMetricHistory('1e10', 'acc');
  assert.deepEqual(
    h.slice(0, 2).map((m) => [m.step, m.value]),
    [
      [0, 0.9],
      [3, 1e-5],
    ],
  );
  assert.ok(Number.isNaN(h[2].value));
  assert.deepEqual(
    (await store.listExperiments()).map((e) => e.name),
    ['legacy'],
    'an existing store gets no Default experiment added',
  );
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FileStore, startRun, SYNC_DONE_TAG, SYNC_TAG, syncStore, type TrackingLogger } from './index.js';
import { startFakeMlflowServer } from './test-helpers/fake-mlflow-server.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nerflow-sync-'));
const noEnv = {} as NodeJS.ProcessEnv;

function recordingLogger(): TrackingLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    progress: (label, total) => ({
      update: (n, extra) => lines.push(`progress ${label} ${n}/${total} ${extra ?? ''}`),
      finish: (extra) => lines.push(`finish ${label} ${extra ?? ''}`),
    }),
  };
}

/** A sweep: a parent run and two trials nested under it, with everything a run can carry. */
async function localSweep(root: string) {
  const store = new FileStore(root);
  const parent = await startRun(
    store,
    { experiment: 'nerflow', runName: 'sweep', description: 'lr sweep', params: { sweep: { method: 'grid' } } },
    noEnv,
  );
  const children = [];
  for (const [i, lr] of [0.001, 0.003].entries()) {
    const c = await startRun(
      store,
      {
        experiment: 'nerflow',
        runName: `sweep/t${i}`,
        parentRunId: parent.runId,
        params: { train: { lr } },
        tags: { 'nerflow.trial': `t${i}` },
      },
      noEnv,
    );
    await c.logMetrics({ val_entity_f1: 0.5 + i / 10, loss: 1.5 }, 1, 1700000000100 + i);
    await c.logMetrics({ val_entity_f1: 0.7 + i / 10, loss: 0.9 }, 2, 1700000000200 + i);
    await c.logInputs([
      {
        name: 'sweep/featurize',
        digest: 'fp1',
        source_type: 'local',
        source: '{"uri": "runs/sweep/featurize"}',
        context: 'training',
      },
    ]);
    const model = path.join(tmp(), 'model');
    mkdirSync(path.join(model, 'shards'), { recursive: true });
    writeFileSync(path.join(model, 'model.json'), `{"trial": ${i}}`);
    writeFileSync(path.join(model, 'shards', 'w.bin'), Buffer.from([i, 1, 2]));
    await c.logArtifact(model, 'model');
    await c.end(i === 0 ? 'FINISHED' : 'FAILED');
    children.push(c);
  }
  await parent.logMetrics({ best_val_entity_f1: 0.8 }, 0, 1700000000300);
  await parent.end('FINISHED');
  return { store, parent, children };
}

test('sync: every run, param, metric history, tag, input, artifact, status and time reaches the server, parents remapped; a rerun creates nothing', async () => {
  const root = path.join(tmp(), 'mlruns');
  const { store, parent, children } = await localSweep(root);
  const srv = await startFakeMlflowServer();
  try {
    const log = recordingLogger();
    const s1 = await syncStore({ from: root, to: srv.url, log, env: noEnv, rest: { retries: 1, backoffMs: 1 } });
    assert.deepEqual(s1, {
      experiments: 1,
      runsCreated: 3,
      runsUpdated: 0,
      runsSkipped: 0,
      runsDeleted: 0,
      metrics: 9,
      artifacts: 4,
      params: 3,
      tags: 0,
      statuses: 3,
      conflicts: 0,
    });
    assert.ok(
      log.lines.some((l) => l.startsWith('progress mlflow sync 3/3')),
      log.lines.join('\n'),
    );

    const remote = [...srv.runs.values()];
    assert.equal(remote.length, 3);
    const exp = [...srv.experiments.values()].find((e) => e.name === 'nerflow')!;
    const byLocal = new Map(remote.map((r) => [r.tags.get(SYNC_TAG)!, r]));
    for (const localRun of [parent, ...children]) {
      const local = await store.getRun(localRun.runId);
      const r = byLocal.get(localRun.runId)!;
      assert.ok(r, `run ${local.info.run_name} arrived`);
      assert.equal(r.info.experiment_id, exp.experiment_id);
      assert.deepEqual(
        [r.info.run_name, r.info.status, r.info.start_time, r.info.end_time, r.info.user_id],
        [local.info.run_name, local.info.status, local.info.start_time, local.info.end_time, local.info.user_id],
      );
      assert.deepEqual(Object.fromEntries(r.params), local.data.params);
      for (const [k, v] of Object.entries(local.data.tags)) {
        if (k !== 'mlflow.parentRunId') assert.equal(r.tags.get(k), v, `tag ${k}`);
      }
      assert.equal(r.tags.get(SYNC_DONE_TAG), 'true');
      for (const key of Object.keys(local.data.metrics)) {
        const history = (await store.getMetricHistory(localRun.runId, key)).map((m) => [m.step, m.value, m.timestamp]);
        assert.deepEqual(
          r.metrics.filter((m) => m.key === key).map((m) => [m.step, m.value, m.timestamp]),
          history,
          `full history of ${key}`,
        );
      }
    }
    const remoteParent = byLocal.get(parent.runId)!;
    for (const c of children) {
      const r = byLocal.get(c.runId)!;
      assert.equal(r.tags.get('mlflow.parentRunId'), remoteParent.info.run_id, 'parent link remapped to the server id');
      assert.deepEqual(r.inputs, [
        {
          tags: [{ key: 'mlflow.data.context', value: 'training' }],
          dataset: {
            name: 'sweep/featurize',
            digest: 'fp1',
            source_type: 'local',
            source: '{"uri": "runs/sweep/featurize"}',
          },
        },
      ]);
      const base = `${exp.experiment_id}/${r.info.run_id}/artifacts/model`;
      assert.equal(
        srv.artifacts.get(`${base}/model.json`)?.toString(),
        `{"trial": ${r.tags.get('nerflow.trial')!.slice(1)}}`,
      );
      assert.ok(srv.artifacts.has(`${base}/shards/w.bin`));
    }
    assert.deepEqual(remote.map((r) => r.info.status).sort(), ['FAILED', 'FINISHED', 'FINISHED']);

    // the same sync again: found by nerflow.run_uuid, nothing created or uploaded
    srv.requests.length = 0;
    const s2 = await syncStore({ from: root, to: srv.url, env: noEnv });
    assert.deepEqual(s2, {
      experiments: 1,
      runsCreated: 0,
      runsUpdated: 0,
      runsSkipped: 3,
      runsDeleted: 0,
      metrics: 0,
      artifacts: 0,
      params: 0,
      tags: 0,
      statuses: 0,
      conflicts: 0,
    });
    assert.equal(srv.runs.size, 3, 'no duplicates');
    assert.deepEqual(
      srv.requests.filter((r) => r.method !== 'GET' && r.path !== '/api/2.0/mlflow/runs/search').map((r) => r.path),
      [],
      'only lookups',
    );
    for (const r of srv.requests.filter((x) => x.path === '/api/2.0/mlflow/runs/search'))
      assert.match(r.json.filter, /^tags\.`nerflow\.run_uuid` (= '[0-9a-f]{32}'|!= '')$/);
    assert.equal(
      srv.requests.filter((r) => r.path.startsWith('/api/2.0/mlflow-artifacts/')).length,
      0,
      'unchanged artifacts are not even read back',
    );
  } finally {
    await srv.close();
  }
});

test('sync: a run still RUNNING locally is pushed, then completed in place by the next sync once it has ended', async () => {
  const root = path.join(tmp(), 'mlruns');
  const store = new FileStore(root);
  const run = await startRun(store, { experiment: 'live', runName: 'long' }, noEnv);
  await run.logMetrics({ loss: 1 }, 1, 1700000000001);
  const srv = await startFakeMlflowServer();
  try {
    const s1 = await syncStore({ from: root, to: srv.url, env: noEnv });
    assert.equal(s1.runsCreated, 1);
    const first = [...srv.runs.values()][0];
    assert.equal(first.info.status, 'RUNNING');
    assert.equal(first.tags.get(SYNC_DONE_TAG), undefined, 'not marked complete');

    await run.logMetrics({ loss: 0.5 }, 2, 1700000000002);
    await run.end('FINISHED');
    const s2 = await syncStore({ from: root, to: srv.url, env: noEnv });
    assert.deepEqual([s2.runsCreated, s2.runsUpdated, s2.runsSkipped, s2.metrics, s2.statuses], [0, 1, 0, 1, 1]);
    assert.equal(srv.runs.size, 1, 'the same server run, updated');
    assert.equal(first.info.status, 'FINISHED');
    assert.equal(first.tags.get(SYNC_DONE_TAG), 'true');
    assert.deepEqual(
      first.metrics.map((m) => [m.step, m.value]),
      [
        [1, 1],
        [2, 0.5],
      ],
    );
    const s3 = await syncStore({ from: root, to: srv.url, env: noEnv });
    assert.deepEqual([s3.runsCreated, s3.runsUpdated, s3.runsSkipped], [0, 0, 1]);
  } finally {
    await srv.close();
  }
});

test('sync carries later changes: new metric points, a changed artifact, new params and tags, a local deletion; a conflicting param is warned', async () => {
  const root = path.join(tmp(), 'mlruns');
  const { store, parent, children } = await localSweep(root);
  const srv = await startFakeMlflowServer();
  try {
    await syncStore({ from: root, to: srv.url, env: noEnv });
    const byLocal = () => new Map([...srv.runs.values()].map((r) => [r.tags.get(SYNC_TAG)!, r]));
    // what `evaluate --force` does to a finished run: a new test metric point, a rewritten report, a tag
    const c0 = children[0];
    await store.logBatch(c0.runId, {
      metrics: [{ key: 'test_entity_f1', value: 0.81, step: 0, timestamp: 1700000000400 }],
      params: { 'evaluate.split': 'test' },
      tags: { 'nerflow.evaluated': 'yes' },
    });
    const report = path.join(tmp(), 'report.json');
    writeFileSync(report, '{"f1": 0.81}');
    await store.logArtifact(c0.runId, report, 'evaluation');
    const s1 = await syncStore({ from: root, to: srv.url, env: noEnv });
    assert.deepEqual(
      [s1.runsCreated, s1.runsUpdated, s1.runsSkipped, s1.metrics, s1.artifacts, s1.params, s1.tags],
      [0, 1, 2, 1, 1, 1, 1],
    );
    writeFileSync(report, '{"f1": 0.79}'); // same size, other bytes
    await store.logArtifact(c0.runId, report, 'evaluation');
    await store.logBatch(c0.runId, {
      metrics: [{ key: 'test_entity_f1', value: 0.79, step: 0, timestamp: 1700000000500 }],
    });
    const log = recordingLogger();
    const s2 = await syncStore({ from: root, to: srv.url, env: noEnv, log });
    assert.deepEqual([s2.runsUpdated, s2.metrics, s2.artifacts], [1, 1, 1]);
    const remote = byLocal().get(c0.runId)!;
    const base = `${remote.info.experiment_id}/${remote.info.run_id}/artifacts`;
    assert.equal(srv.artifacts.get(`${base}/evaluation/report.json`)?.toString(), '{"f1": 0.79}');
    assert.deepEqual(
      remote.metrics.filter((m) => m.key === 'test_entity_f1').map((m) => m.value),
      [0.81, 0.79],
    );
    assert.equal(remote.params.get('evaluate.split'), 'test');
    assert.match(
      log.lines.at(-1)!,
      /0 runs created, 1 updated, 2 unchanged \(1 experiment; sent 1 metric value, 1 artifact file\)/,
    );
    // a run deleted locally (a superseded sweep parent) is deleted on the server; a param that differs is kept and warned
    await store.deleteRun(parent.runId);
    const remoteC1 = byLocal().get(children[1].runId)!;
    remoteC1.params.set('train.lr', '0.5');
    const log2 = recordingLogger();
    const s3 = await syncStore({ from: root, to: srv.url, env: noEnv, log: log2 });
    assert.deepEqual([s3.runsDeleted, s3.conflicts], [1, 1]);
    assert.equal(byLocal().get(parent.runId)!.info.lifecycle_stage, 'deleted');
    assert.equal(
      byLocal().get(children[1].runId)!.tags.get('mlflow.parentRunId'),
      byLocal().get(parent.runId)!.info.run_id,
      'links to a parent not synced stay',
    );
    assert.ok(
      log2.lines.some((l) => /warn .*param train\.lr is "0\.003" here and "0\.5" on the server/.test(l)),
      log2.lines.join('\n'),
    );
    const s4 = await syncStore({ from: root, to: srv.url, env: noEnv });
    assert.deepEqual(
      [s4.runsCreated, s4.runsUpdated, s4.runsDeleted, s4.metrics, s4.artifacts],
      [0, 0, 0, 0, 0],
      'nothing left to send',
    );
  } finally {
    await srv.close();
  }
});

test('sync: extra run syncers and store syncers (e.g. a model registry) plug in; their counts reach the summary', async () => {
  const { describeSync, RUN_SYNCERS } = await import('./index.js');
  const root = path.join(tmp(), 'mlruns');
  const { parent, children } = await localSweep(root);
  const srv = await startFakeMlflowServer();
  try {
    const seen: string[] = [];
    const s = await syncStore({
      from: root,
      to: srv.url,
      env: noEnv,
      syncers: [...RUN_SYNCERS, { kind: 'probe', sync: async (c) => (seen.push(c.localRun.info.run_id), 0) }],
      storeSyncers: [
        { kind: 'model versions', sync: async (c) => (c.idMap.size === 3 && c.idMap.has(parent.runId) ? 2 : 0) },
      ],
    });
    assert.deepEqual(seen.sort(), [parent.runId, ...children.map((c) => c.runId)].sort());
    assert.deepEqual(s.other, { 'model versions': 2 });
    assert.match(describeSync(s), /sent .*3 status updates, 2 model versions\)/);
  } finally {
    await srv.close();
  }
});

test("sync stays idempotent with identical metric points (the server keeps one) and a tag over MLflow's length limit", async () => {
  const root = path.join(tmp(), 'mlruns');
  const store = new FileStore(root);
  const run = await startRun(store, { experiment: 'e', runName: 'r' }, noEnv);
  await run.logMetrics({ loss: 1 }, 1, 1700000000001);
  await run.logMetrics({ loss: 1 }, 1, 1700000000001);
  await run.setTags({ long: 'x'.repeat(9000) });
  await run.end('FINISHED');
  const srv = await startFakeMlflowServer();
  try {
    const s1 = await syncStore({ from: root, to: srv.url, env: noEnv });
    assert.equal(s1.metrics, 1, 'one of the identical points');
    const s2 = await syncStore({ from: root, to: srv.url, env: noEnv });
    assert.deepEqual([s2.runsSkipped, s2.metrics, s2.tags], [1, 0, 0]);
  } finally {
    await srv.close();
  }
});

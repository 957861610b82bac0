import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  FileStore,
  openStore,
  resolveArtifactUri,
  RestStore,
  startRun,
  TrackingServerError,
  TrackingServerUnreachableError,
} from './index.js';
import { startFakeMlflowServer } from './test-helpers/fake-mlflow-server.js';
import { freePort } from './test-helpers/free-port.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nerflow-rest-'));
const fast = { retries: 3, backoffMs: 1 };

test('REST: every call has the method, path and JSON body of the REST API 2.0 reference', async () => {
  const srv = await startFakeMlflowServer();
  try {
    const store = new RestStore(srv.url, { ...fast, env: {} });
    const exp = await store.getOrCreateExperiment('nerflow');
    const [lookup, create] = srv.requests;
    assert.deepEqual(
      [lookup.method, lookup.path, lookup.query.get('experiment_name'), lookup.body.length],
      ['GET', '/api/2.0/mlflow/experiments/get-by-name', 'nerflow', 0],
    );
    assert.deepEqual(
      [create.method, create.path, create.json, create.headers['content-type']],
      ['POST', '/api/2.0/mlflow/experiments/create', { name: 'nerflow' }, 'application/json'],
    );
    assert.equal(await store.getOrCreateExperiment('nerflow'), exp, 'found by name the second time');

    srv.requests.length = 0;
    const info = await store.createRun({
      experimentId: exp,
      runName: 'r',
      startTime: 1700000000000,
      tags: { 'mlflow.user': 'ann', a: 'b' },
    });
    assert.deepEqual(srv.requests[0].json, {
      experiment_id: exp,
      user_id: 'ann',
      start_time: 1700000000000,
      tags: [
        { key: 'mlflow.user', value: 'ann' },
        { key: 'a', value: 'b' },
      ],
      run_name: 'r',
    });
    assert.equal(srv.requests[0].path, '/api/2.0/mlflow/runs/create');
    assert.equal(info.artifact_uri, `mlflow-artifacts:/${exp}/${info.run_id}/artifacts`);

    srv.requests.length = 0;
    await store.logBatch(info.run_id, {
      metrics: [
        { key: 'loss', value: 0.5, step: 3, timestamp: 1700000000001 },
        { key: 'nan', value: NaN, step: 0, timestamp: 1 },
      ],
      params: { lr: '0.1' },
      tags: { t: 'v' },
    });
    assert.deepEqual([srv.requests[0].method, srv.requests[0].path], ['POST', '/api/2.0/mlflow/runs/log-batch']);
    assert.deepEqual(
      srv.requests[0].json,
      {
        run_id: info.run_id,
        metrics: [
          { key: 'loss', value: 0.5, timestamp: 1700000000001, step: 3 },
          { key: 'nan', value: 'NaN', timestamp: 1, step: 0 },
        ],
        params: [{ key: 'lr', value: '0.1' }],
        tags: [{ key: 't', value: 'v' }],
      },
      'NaN travels as protobuf JSON\'s "NaN"',
    );

    srv.requests.length = 0;
    await store.logInputs(info.run_id, [
      { name: 'ds', digest: 'd1', source_type: 'local', source: '{"uri": "x"}', context: 'training' },
    ]);
    assert.deepEqual(
      [srv.requests[0].path, srv.requests[0].json],
      [
        '/api/2.0/mlflow/runs/log-inputs',
        {
          run_id: info.run_id,
          datasets: [
            {
              tags: [{ key: 'mlflow.data.context', value: 'training' }],
              dataset: { name: 'ds', digest: 'd1', source_type: 'local', source: '{"uri": "x"}' },
            },
          ],
        },
      ],
    );

    srv.requests.length = 0;
    await store.updateRun(info.run_id, { status: 'KILLED', endTime: 1700000000999 });
    assert.deepEqual(
      [srv.requests[0].path, srv.requests[0].json],
      [
        '/api/2.0/mlflow/runs/update',
        { run_id: info.run_id, run_uuid: info.run_id, status: 'KILLED', end_time: 1700000000999 },
      ],
    );

    srv.requests.length = 0;
    const got = await store.getRun(info.run_id);
    assert.deepEqual(
      [srv.requests[0].method, srv.requests[0].path, srv.requests[0].query.get('run_id')],
      ['GET', '/api/2.0/mlflow/runs/get', info.run_id],
    );
    assert.deepEqual(
      [got.info.status, got.info.end_time, got.data.params, got.data.tags.t, got.data.metrics.loss],
      ['KILLED', 1700000000999, { lr: '0.1' }, 'v', 0.5],
    );
    assert.ok(Number.isNaN(got.data.metrics.nan));

    srv.requests.length = 0;
    const hist = await store.getMetricHistory(info.run_id, 'loss');
    assert.deepEqual(
      [srv.requests[0].path, srv.requests[0].query.get('metric_key')],
      ['/api/2.0/mlflow/metrics/get-history', 'loss'],
    );
    assert.deepEqual(hist, [{ key: 'loss', value: 0.5, step: 3, timestamp: 1700000000001 }]);

    srv.requests.length = 0;
    const found = await store.searchRuns([exp], "tags.t = 'v'");
    assert.deepEqual(
      [srv.requests[0].path, srv.requests[0].json],
      [
        '/api/2.0/mlflow/runs/search',
        { experiment_ids: [exp], filter: "tags.t = 'v'", run_view_type: 'ACTIVE_ONLY', max_results: 1000 },
      ],
    );
    assert.deepEqual(
      found.map((r) => r.info.run_id),
      [info.run_id],
    );

    srv.requests.length = 0;
    await store.deleteRun(info.run_id);
    assert.deepEqual(
      [srv.requests[0].path, srv.requests[0].json],
      ['/api/2.0/mlflow/runs/delete', { run_id: info.run_id }],
    );
    assert.deepEqual(await store.searchRuns([exp]), [], 'deleted runs leave searches');
  } finally {
    await srv.close();
  }
});

test('REST: log-batch splits within MLflow limits (2,500 metrics + 250 params → 3 requests; ≤ 1 MB each)', async () => {
  const srv = await startFakeMlflowServer();
  try {
    const warnings: string[] = [];
    const store = new RestStore(srv.url, { ...fast, env: {}, warn: (m) => warnings.push(m) });
    const run = await store.createRun({ experimentId: '0', runName: 'big' });
    srv.requests.length = 0;
    const metrics = Array.from({ length: 2500 }, (_, i) => ({
      key: `m${i % 7}`,
      value: i / 3,
      step: i,
      timestamp: 1700000000000 + i,
    }));
    const params = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p${i}`, String(i)]));
    await store.logBatch(run.run_id, { metrics, params });
    const bodies = srv.requests.map((r) => r.json);
    assert.equal(bodies.length, 3);
    assert.deepEqual(
      bodies.map((b) => [b.params.length, b.tags.length, b.metrics.length]),
      [
        [100, 0, 900],
        [100, 0, 900],
        [50, 0, 700],
      ],
    );
    assert.deepEqual(
      bodies.flatMap((b) => b.metrics.map((m: { step: number }) => m.step)),
      metrics.map((m) => m.step),
      'every metric once, in order',
    );
    assert.equal(srv.runs.get(run.run_id)!.params.size, 250);

    // 2,500 metrics alone → 3 requests (1000, 1000, 500); 250 params alone → 3 (100, 100, 50)
    srv.requests.length = 0;
    await store.logBatch(run.run_id, { metrics });
    assert.deepEqual(
      srv.requests.map((r) => r.json.metrics.length),
      [1000, 1000, 500],
    );
    srv.requests.length = 0;
    await store.logBatch(run.run_id, {
      params: Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`q${i}`, 'v'])),
    });
    assert.deepEqual(
      srv.requests.map((r) => r.json.params.length),
      [100, 100, 50],
    );

    // big values: the 1 MB request cap splits before the counts do; a too-long param is truncated to 6000
    srv.requests.length = 0;
    const bigParams = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`big${i}`, 'x'.repeat(6000)]));
    const bigTags = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`tag${i}`, 'y'.repeat(5000)]));
    await store.logBatch(run.run_id, { params: { ...bigParams, long: 'z'.repeat(7000) }, tags: bigTags });
    assert.ok(srv.requests.length >= 2);
    for (const r of srv.requests) assert.ok(r.body.length <= 1_000_000, `request of ${r.body.length} bytes`);
    assert.equal(srv.runs.get(run.run_id)!.params.get('long')!.length, 6000);
    assert.match(warnings.join('\n'), /param long: value of 7000 characters truncated to 6000/);
    assert.equal(srv.runs.get(run.run_id)!.tags.get('tag99'), 'y'.repeat(5000));
    await assert.rejects(store.logBatch(run.run_id, { params: { 'bad//key': '1' } }), /invalid MLflow param name/);
  } finally {
    await srv.close();
  }
});

test('REST: retries with backoff on 503 and 429 (Retry-After), not on 4xx; auth headers', async () => {
  const srv = await startFakeMlflowServer();
  try {
    const store = new RestStore(srv.url, { retries: 3, backoffMs: 20, env: { MLFLOW_TRACKING_TOKEN: 'tok' } });
    srv.failNext(2, 503);
    const t0 = performance.now();
    await store.createExperiment('retry');
    const waited = performance.now() - t0;
    assert.equal(srv.requests.length, 3, 'two 503s, then 200');
    assert.deepEqual(
      srv.requests.map((r) => r.path),
      Array(3).fill('/api/2.0/mlflow/experiments/create'),
    );
    assert.ok(waited >= 20 + 40, `exponential backoff 20 + 40 ms, waited ${waited.toFixed(0)} ms`);
    assert.equal([...srv.experiments.values()].filter((e) => e.name === 'retry').length, 1);
    assert.ok(
      srv.requests.every((r) => r.headers.authorization === 'Bearer tok'),
      'bearer token from MLFLOW_TRACKING_TOKEN',
    );

    srv.requests.length = 0;
    srv.failNext(1, 429, '0');
    await store.getExperimentByName('retry');
    assert.equal(srv.requests.length, 2, '429 is retried');

    srv.requests.length = 0;
    srv.failNext(10, 503);
    await assert.rejects(
      store.getExperimentByName('retry'),
      (e: unknown) =>
        e instanceof TrackingServerError && e.status === 503 && /gave up after 4 attempts/.test(e.message),
    );
    assert.equal(srv.requests.length, 4, 'bounded: 1 + 3 retries');
    srv.failNext(0, 503);

    srv.requests.length = 0;
    await assert.rejects(
      store.getRun('0123456789abcdef0123456789abcdef'),
      (e: unknown) =>
        e instanceof TrackingServerError &&
        e.status === 404 &&
        e.errorCode === 'RESOURCE_DOES_NOT_EXIST' &&
        e.message.includes(`${srv.url}/api/2.0/mlflow/runs/get`),
    );
    assert.equal(srv.requests.length, 1, 'a 4xx is not retried');

    srv.requireAuth(`Basic ${Buffer.from('ann:s3cret').toString('base64')}`);
    const basic = new RestStore(srv.url, {
      ...fast,
      env: { MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: 's3cret' },
    });
    assert.ok(await basic.getExperimentByName('retry'), 'basic auth from MLFLOW_TRACKING_USERNAME/PASSWORD');
    await assert.rejects(
      new RestStore(srv.url, { ...fast, env: {} }).getExperimentByName('retry'),
      (e: unknown) => e instanceof TrackingServerError && e.status === 401,
    );
    const both = new RestStore(srv.url, {
      ...fast,
      env: { MLFLOW_TRACKING_TOKEN: 'tok', MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: 's3cret' },
    });
    await assert.rejects(
      both.getExperimentByName('retry'),
      (e: unknown) => e instanceof TrackingServerError && e.status === 401,
      'a token wins over user/password, as in MLflow',
    );
    assert.equal(srv.requests.at(-1)!.headers.authorization, 'Bearer tok');
  } finally {
    await srv.close();
  }
});

test('REST: an unreachable server is a clear error naming the URL, after bounded retries', async () => {
  const port = await freePort(); // a port nothing listens on
  const uri = `http://127.0.0.1:${port}`;
  const store = new RestStore(uri, { retries: 2, backoffMs: 1, env: {} });
  const t0 = performance.now();
  await assert.rejects(store.getOrCreateExperiment('x'), (e: unknown) => {
    assert.ok(e instanceof TrackingServerUnreachableError);
    assert.equal(e.trackingUri, uri);
    assert.match(
      e.message,
      new RegExp(`cannot reach the MLflow tracking server at ${uri.replace(/\./g, '\\.')} \\(ECONNREFUSED; 3 attempts`),
    );
    assert.match(e.message, /start one with `mlflow server`.* or unset MLFLOW_TRACKING_URI/i);
    return true;
  });
  assert.ok(performance.now() - t0 < 2000);
});

test("REST: artifacts go to the proxied artifact endpoint of the run's mlflow-artifacts: URI; listing through artifacts/list", async () => {
  const srv = await startFakeMlflowServer();
  try {
    const store = new RestStore(srv.url, { ...fast, env: {} });
    const exp = await store.getOrCreateExperiment('art');
    const run = await store.createRun({ experimentId: exp, runName: 'a' });
    const dir = tmp();
    writeFileSync(path.join(dir, 'report.json'), '{"x":1}');
    mkdirSync(path.join(dir, 'model', 'sub dir'), { recursive: true });
    writeFileSync(path.join(dir, 'model', 'model.json'), '{}');
    writeFileSync(path.join(dir, 'model', 'sub dir', 'weights.bin'), Buffer.from([1, 2, 3]));
    srv.requests.length = 0;
    await store.logArtifact(run.run_id, path.join(dir, 'report.json'), 'evaluation');
    await store.logArtifact(run.run_id, path.join(dir, 'model'), 'model');
    const puts = srv.requests.filter((r) => r.method === 'PUT');
    assert.deepEqual(
      puts.map((r) => r.path),
      [
        `/api/2.0/mlflow-artifacts/artifacts/${exp}/${run.run_id}/artifacts/evaluation/report.json`,
        `/api/2.0/mlflow-artifacts/artifacts/${exp}/${run.run_id}/artifacts/model/model.json`,
        `/api/2.0/mlflow-artifacts/artifacts/${exp}/${run.run_id}/artifacts/model/sub%20dir/weights.bin`,
      ],
    );
    assert.equal(puts[0].headers['content-type'], 'application/json');
    assert.deepEqual([...srv.artifacts.get(`${exp}/${run.run_id}/artifacts/model/sub dir/weights.bin`)!], [1, 2, 3]);
    assert.deepEqual(await store.listArtifacts(run.run_id), [
      { path: 'evaluation', is_dir: true },
      { path: 'model', is_dir: true },
    ]);
    assert.deepEqual(await store.listArtifacts(run.run_id, 'model/sub dir'), [
      { path: 'model/sub dir/weights.bin', is_dir: false, file_size: 3 },
    ]);
    const list = srv.requests.filter((r) => r.path === '/api/2.0/mlflow/artifacts/list').at(-1)!;
    assert.deepEqual([list.query.get('run_id'), list.query.get('path')], [run.run_id, 'model/sub dir']);
  } finally {
    await srv.close();
  }
  assert.equal(
    resolveArtifactUri('mlflow-artifacts:/1/abc/artifacts', 'http://h:5000'),
    'http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts',
  );
  assert.equal(
    resolveArtifactUri('mlflow-artifacts://art:8080/1/abc/artifacts', 'https://h:5000'),
    'https://art:8080/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts',
  );
  assert.equal(
    resolveArtifactUri('mlflow-artifacts:/1/abc/artifacts', 'http://h/mlflow/'),
    'http://h/mlflow/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts',
  );
  assert.throws(
    () => resolveArtifactUri('s3://bucket/1/abc/artifacts', 'http://h:5000'),
    /does not proxy artifacts for this experiment.*Start `mlflow server` with --artifacts-destination/,
  );
});

test('REST: searches, histories and listings follow next_page_token', async () => {
  const srv = await startFakeMlflowServer();
  srv.pageSize = 2;
  try {
    const store = new RestStore(srv.url, { ...fast, env: {} });
    const exp = await store.getOrCreateExperiment('pages');
    const ids = [];
    for (let i = 0; i < 5; i++)
      ids.push((await store.createRun({ experimentId: exp, runName: `r${i}`, startTime: 1000 + i })).run_id);
    assert.deepEqual(
      (await store.searchRuns([exp])).map((r) => r.info.run_id),
      ids.reverse(),
      'all 5 over 3 pages, newest first',
    );
    await store.logBatch(ids[0], {
      metrics: Array.from({ length: 5 }, (_, i) => ({ key: 'm', value: i, step: i, timestamp: i })),
    });
    assert.deepEqual(
      (await store.getMetricHistory(ids[0], 'm')).map((m) => m.step),
      [0, 1, 2, 3, 4],
    );
  } finally {
    await srv.close();
  }
});

test('openStore: MLFLOW_TRACKING_URI overrides the caller, http(s) → REST, file: or a path → file store, MLFLOW_EXPERIMENT_NAME wins', async () => {
  assert.ok(openStore({ uri: null, root: '/tmp/x', env: {} }) instanceof FileStore);
  assert.equal((openStore({ uri: null, root: '/tmp/x', env: {} }) as FileStore).root, '/tmp/x/mlruns');
  assert.ok(openStore({ uri: '/tmp/y', env: { MLFLOW_TRACKING_URI: 'http://h:5000' } }) instanceof RestStore);
  assert.equal(openStore({ uri: 'http://a:1', env: { MLFLOW_TRACKING_URI: 'https://b:2/' } }).uri, 'https://b:2');
  assert.equal((openStore({ uri: 'file:///tmp/z', env: {} }) as FileStore).root, '/tmp/z');
  assert.equal(
    (openStore({ uri: 'http://ignored:1', env: { MLFLOW_TRACKING_URI: 'file:///tmp/w' } }) as FileStore).root,
    '/tmp/w',
  );
  assert.throws(() => openStore({ uri: 'sqlite:///mlflow.db', env: {} }), /mlflow server --backend-store-uri sqlite/);

  const root = path.join(tmp(), 'mlruns');
  const store = new FileStore(root);
  const run = await startRun(
    store,
    { experiment: 'from-config', runName: 'r' },
    { MLFLOW_EXPERIMENT_NAME: 'from-env' },
  );
  await run.end();
  assert.deepEqual((await store.listExperiments()).map((e) => e.name).sort(), ['Default', 'from-env']);
});

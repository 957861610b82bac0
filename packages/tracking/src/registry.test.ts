import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FileStore } from './file-store.js';
import { fetchRunArtifacts, openRegistry, registerRunModel } from './registry.js';
import { RestStore } from './rest-store.js';
import { syncRegistry } from './registry-sync.js';
import { syncStore } from './sync.js';
import { mlflowSh, realMlflowSkip, startRealMlflow } from './test-helpers/real-mlflow.js';
import type { TrackingStore } from './types.js';

/** A run with a model/ artifact folder and a test F1, registered; returns what registration said. */
async function trainedRun(store: TrackingStore, exp: string, f1: number, tmp: string, name: string) {
  const expId = await store.getOrCreateExperiment(exp);
  const run = await store.createRun({ experimentId: expId, runName: `f1-${f1}` });
  const model = path.join(tmp, `model-${name}-${f1}`);
  mkdirSync(model, { recursive: true });
  writeFileSync(path.join(model, 'model.json'), JSON.stringify({ f1 }));
  writeFileSync(path.join(model, 'weights.bin'), Buffer.from([1, 2, 3, Math.round(f1 * 100)]));
  await store.logArtifact(run.run_id, model, 'model');
  await store.logBatch(run.run_id, { metrics: [{ key: 'test_entity_f1', value: f1, step: 0, timestamp: Date.now() }] });
  const r = await registerRunModel(store, {
    runId: run.run_id,
    name,
    artifactPath: 'model',
    flavor: { format: 'nerflow-model' },
    metric: f1,
    tmpDir: path.join(tmp, `t-${name}-${f1}`),
  });
  return { runId: run.run_id, ...r };
}

async function championMoves(store: TrackingStore, tmp: string, name = 'nerflow-test') {
  const a = await trainedRun(store, 'reg', 0.7, tmp, name);
  assert.equal(a.version.version, '1');
  assert.equal(a.champion, true);
  assert.equal(a.previous, null);
  const b = await trainedRun(store, 'reg', 0.6, tmp, name);
  assert.equal(b.version.version, '2');
  assert.equal(b.champion, false, 'a worse model does not take the alias');
  assert.deepEqual(b.previous, { version: '1', metric: 0.7 });
  const c = await trainedRun(store, 'reg', 0.8, tmp, name);
  assert.equal(c.champion, true);
  const reg = openRegistry(store);
  assert.equal((await reg.getModelVersionByAlias(name, 'champion'))?.version, '3');
  assert.equal((await reg.getModelVersion(name, '2'))?.run_id, b.runId);
  assert.equal(await reg.getModelVersion(name, '9'), null);
  assert.equal(await reg.getModelVersionByAlias(name, 'nope'), null);
  assert.deepEqual(
    (await reg.listModelVersions(name)).map((v) => v.version),
    ['1', '2', '3'],
  );
  // the champion's files come back through either store
  const dir = await fetchRunArtifacts(store, c.runId, 'model', path.join(tmp, `cache-${name}`));
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')), { f1: 0.8 });
  assert.deepEqual([...readFileSync(path.join(dir, 'weights.bin'))], [1, 2, 3, 80]);
  assert.match(readFileSync(path.join(dir, 'MLmodel'), 'utf8'), /flavors:\n {2}nerflow:\n {4}format: nerflow-model/);
  return { a, b, c };
}

test(
  "file store registry: versions, champion alias only on a better F1; MLflow's own FileStore reads it back",
  { skip: realMlflowSkip },
  async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-reg-'));
    const root = path.join(tmp, 'mlruns');
    const store = new FileStore(root);
    const { c } = await championMoves(store, tmp);
    {
      // MLflow's own client on the folder (no server needed for a file store)
      const python = async (code: string) =>
        (
          await promisify(execFile)(mlflowSh, ['python', '-c', code], {
            timeout: 120_000,
            cwd: tmp,
            env: { ...process.env, MLFLOW_TRACKING_URI: `file://${root}` },
          })
        ).stdout;
      const seen = JSON.parse(
        (
          await python(`
import json
from mlflow import MlflowClient
c = MlflowClient('file://${root}')
vs = c.search_model_versions("name='nerflow-test'")
m = c.get_registered_model('nerflow-test')
ch = c.get_model_version_by_alias('nerflow-test', 'champion')
print(json.dumps({'versions': sorted([[str(v.version), v.run_id, v.status] for v in vs]), 'champion': str(ch.version), 'aliases': m.aliases,
  'uri': c.get_model_version_download_uri('nerflow-test', '3')}))`)
        )
          .trim()
          .split('\n')
          .at(-1)!,
      );
      assert.equal(seen.versions.length, 3);
      assert.deepEqual(seen.versions[2], ['3', c.runId, 'READY']);
      assert.equal(seen.champion, '3');
      assert.deepEqual(seen.aliases, { champion: '3' });
      assert.ok(seen.uri.endsWith(`${c.runId}/artifacts/model`), seen.uri);
    }
  },
);

test(
  "REST registry against a real MLflow server (versions, alias, artifact download; MLflow's client agrees), and mlflow sync carrying a file store's registry there",
  { skip: realMlflowSkip },
  async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-reg-'));
    const mlf = await startRealMlflow();
    try {
      const store = new RestStore(mlf.uri);
      const { c } = await championMoves(store, tmp, 'nerflow-rest');
      const seen = await mlf.pythonJson<{ champion: string; run: string; n: number }>(`
import json
from mlflow import MlflowClient
c = MlflowClient()
ch = c.get_model_version_by_alias('nerflow-rest', 'champion')
print(json.dumps({'champion': str(ch.version), 'run': ch.run_id, 'n': len(c.search_model_versions("name='nerflow-rest'"))}))`);
      assert.deepEqual(seen, { champion: '3', run: c.runId, n: 3 });

      // sync: a file store's runs and registry → the server
      const root = path.join(tmp, 'mlruns');
      await championMoves(new FileStore(root), tmp, 'nerflow-test');
      // syncStore carries the registry itself (as `nerflow mlflow sync` does)
      const first = (await syncStore({ from: root, to: mlf.uri })).registry;
      assert.deepEqual(first, {
        models: 1,
        versionsCreated: 3,
        versionsSkipped: 0,
        versionsMissingRun: 0,
        aliasesSet: 1,
        aliasesKept: 0,
      });
      const second = (await syncStore({ from: root, to: mlf.uri })).registry;
      assert.deepEqual(second, {
        models: 1,
        versionsCreated: 0,
        versionsSkipped: 3,
        versionsMissingRun: 0,
        aliasesSet: 0,
        aliasesKept: 0,
      });
      const synced = await mlf.pythonJson<{ champion: string; f1: string; runName: string; n: number }>(`
import json
from mlflow import MlflowClient
c = MlflowClient()
ch = c.get_model_version_by_alias('nerflow-test', 'champion')
print(json.dumps({'champion': str(ch.version), 'f1': ch.tags['nerflow.test_entity_f1'], 'runName': c.get_run(ch.run_id).info.run_name,
  'n': len(c.search_model_versions("name='nerflow-test'"))}))`);
      assert.deepEqual(synced, { champion: '3', f1: '0.8', runName: 'f1-0.8', n: 3 });
      // a second machine's store syncing into the same server: its versions are its own (its "version 1" is
      // not mistaken for the first store's), and champion moves only to a model that beats the server's
      const rootB = path.join(tmp, 'mlruns-b');
      await championMoves(new FileStore(rootB), path.join(tmp, 'b'), 'nerflow-test');
      const warnings: string[] = [];
      const log = {
        info: () => undefined,
        warn: (m: string) => void warnings.push(m),
        progress: () => ({ update: () => undefined, finish: () => undefined }),
      };
      const fromB = (await syncStore({ from: rootB, to: mlf.uri, log })).registry;
      assert.deepEqual(fromB, {
        models: 1,
        versionsCreated: 3,
        versionsSkipped: 0,
        versionsMissingRun: 0,
        aliasesSet: 0,
        aliasesKept: 1,
      });
      assert.match(
        warnings.join('\n'),
        /nerflow-test@champion stays at the server's version 3 \(test entity F1 0\.8; this store's champion, version 3, has 0\.8, which does not beat it\)/,
      );
      await trainedRun(new FileStore(rootB), 'reg', 0.9, path.join(tmp, 'b'), 'nerflow-test');
      const better = (await syncStore({ from: rootB, to: mlf.uri })).registry!;
      // registry: false leaves the registry alone (the runs only)
      assert.equal((await syncStore({ from: rootB, to: mlf.uri, registry: false })).registry, undefined);
      assert.deepEqual(
        [better.versionsCreated, better.versionsSkipped, better.aliasesSet, better.aliasesKept],
        [1, 3, 1, 0],
      );
      const merged = await mlf.pythonJson<{ champion: string; f1: string; n: number; runs: number }>(`
import json
from mlflow import MlflowClient
c = MlflowClient()
ch = c.get_model_version_by_alias('nerflow-test', 'champion')
vs = c.search_model_versions("name='nerflow-test'")
print(json.dumps({'champion': str(ch.version), 'f1': ch.tags['nerflow.test_entity_f1'], 'n': len(vs), 'runs': len({v.run_id for v in vs})}))`);
      assert.deepEqual(merged, { champion: '7', f1: '0.9', n: 7, runs: 7 });
      // the first store syncing again changes nothing: the server's champion (0.9) beats its own (0.8)
      const againA = await syncRegistry({ from: root, to: mlf.uri });
      assert.deepEqual(
        [againA.versionsCreated, againA.versionsSkipped, againA.aliasesSet, againA.aliasesKept],
        [0, 3, 0, 1],
      );
      const champ = (await openRegistry(store).getModelVersionByAlias('nerflow-test', 'champion'))!;
      const dir = await fetchRunArtifacts(store, champ.run_id, 'model', path.join(tmp, 'cache2'));
      assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')), { f1: 0.9 });
    } finally {
      await mlf.stop();
    }
  },
);

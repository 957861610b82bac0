import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { linkNodeModules } from '../../packages/core/src/test-helpers/linked-workspace.js';
import { readStore, statusName, type ReadRun } from '../../packages/tracking/src/test-helpers/mlflow-layout-reader.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A copy of this workspace (packages, Nx config and plugin) with its own configs/ and runs/. Its
 * node_modules links every dependency to this repo's, except @nerflow/*, which links to the copied
 * packages: so the code that runs, and the code nerflow fingerprints, is the copy's.
 */
function workspace(configs: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-nx-'));
  for (const f of ['package.json', 'package-lock.json', 'nx.json', 'tsconfig.base.json', 'tsconfig.json'])
    cpSync(path.join(repo, f), path.join(root, f));
  cpSync(path.join(repo, 'tools'), path.join(root, 'tools'), { recursive: true });
  cpSync(path.join(repo, 'packages'), path.join(root, 'packages'), {
    recursive: true,
    filter: (src) => path.basename(src) !== 'node_modules',
  });
  linkNodeModules(repo, root);
  mkdirSync(path.join(root, 'configs'));
  for (const [name, text] of Object.entries(configs)) writeFileSync(path.join(root, 'configs', name), text);
  return root;
}

function nx(root: string, ...args: string[]) {
  const r = spawnSync(
    process.execPath,
    [path.join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args, '--output-style=stream'],
    {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        CI: 'true',
        NX_DAEMON: 'false',
        NX_NO_CLOUD: 'true',
        NX_TUI: 'false',
        NX_ISOLATE_PLUGINS: 'false',
        FORCE_COLOR: '0',
        NERFLOW_ROOT: root,
        MLFLOW_TRACKING_URI: '',
      },
    },
  );
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

function runs(root: string): ReadRun[] {
  return [...readStore(path.join(root, 'runs', 'mlruns')).values()].flatMap((e) => e.runs);
}

const corpus = path.join(repo, 'data/ner_dataset.csv.gz');
const sweep = (units: number[]) =>
  `data:\n  path: ${corpus}\n  limit_sentences: 300\ntrain:\n  epochs: 1\n  embedding_dim: 8\ntracking:\n  experiment: nx-e2e\nsweep:\n  method: grid\n  params:\n    train.lstm_units: [${units.join(', ')}]\n`;

test('Nx per-trial targets: trials as separate cached tasks, then one MLflow parent run holding every trial; a new grid value runs only its trial', () => {
  const root = workspace({ 'tsw.yaml': sweep([4, 6]) });
  const first = nx(root, 'run', 'train:sweep-tsw', '--parallel=2');
  assert.equal(first.code, 0, first.out);
  const check = (n: number) => {
    const all = runs(root);
    const live = all.filter((r) => r.meta.lifecycle_stage === 'active');
    const parents = live.filter((r) => r.tags.get('nerflow.kind') === 'sweep');
    assert.equal(parents.length, 1, 'one live parent run for the sweep');
    const children = live.filter((r) => r.tags.get('nerflow.kind') === 'trial');
    assert.equal(children.length, n);
    for (const c of children)
      assert.equal(c.tags.get('mlflow.parentRunId'), parents[0].id, 'every trial under the parent');
    for (const r of all) assert.notEqual(statusName(Number(r.meta.status)), 'RUNNING', `run ${r.id} left RUNNING`);
    assert.ok(parents[0].params.has('best.train.lstm_units'));
    return { all, parent: parents[0] };
  };
  const a = check(2);
  assert.equal((first.out.match(/ingest: [\d,]+ rows/g) ?? []).length, 1, 'the data is prepared once, not per trial');

  const again = nx(root, 'run', 'train:sweep-tsw', '--parallel=2');
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /from the cache instead of running the command for 4 out of 4 tasks/);
  assert.equal(runs(root).length, a.all.length, 'a cached run logs nothing new');

  writeFileSync(path.join(root, 'configs', 'tsw.yaml'), sweep([4, 6, 5]));
  const more = nx(root, 'run', 'train:sweep-tsw', '--parallel=2');
  assert.equal(more.code, 0, more.out);
  assert.equal((more.out.match(/train: trial 1\/1 /g) ?? []).length, 1, `only the new trial trains:\n${more.out}`);
  const b = check(3);
  assert.notEqual(b.parent.id, a.parent.id);
  assert.equal(
    b.all.find((r) => r.id === a.parent.id)?.meta.lifecycle_stage,
    'deleted',
    'the parent it replaces is deleted, as MLflow deletes runs',
  );
});

test("a train-code change reruns train and then evaluate (Nx hashes train's manifests into evaluate), never a stale cached report", () => {
  const tiny = `data:\n  path: ${corpus}\n  limit_sentences: 300\ntrain:\n  epochs: 1\n  lstm_units: 8\n  embedding_dim: 8\ntracking:\n  experiment: nx-e2e\n`;
  const root = workspace({ 'tiny.yaml': tiny });
  const ran = (out: string, task: string) => new RegExp(`> nx run ${task} --config tiny\\.yaml\\s*$`, 'm').test(out);
  const first = nx(root, 'run-many', '-t', 'evaluate', '--config', 'tiny.yaml');
  assert.equal(first.code, 0, first.out);
  assert.ok(ran(first.out, 'evaluate:evaluate'), first.out);

  writeFileSync(
    path.join(root, 'packages/train/src/sweep.ts'),
    `${readFileSync(path.join(root, 'packages/train/src/sweep.ts'), 'utf8')}// a change to train's code\n`,
  );
  const second = nx(root, 'run-many', '-t', 'evaluate', '--config', 'tiny.yaml');
  assert.equal(second.code, 0, second.out);
  assert.match(second.out, /> nx run ingest:ingest --config tiny\.yaml\s+\[local cache\]/);
  assert.ok(ran(second.out, 'train:train'), `train reruns:\n${second.out}`);
  assert.ok(ran(second.out, 'evaluate:evaluate'), `evaluate reruns, not restored from the cache:\n${second.out}`);
  const trainFp = JSON.parse(readFileSync(path.join(root, 'runs/tiny/train/main/manifest.json'), 'utf8')).fingerprint;
  assert.equal(
    JSON.parse(readFileSync(path.join(root, 'runs/tiny/evaluate/main/manifest.json'), 'utf8')).upstream.train,
    trainFp,
    'the report is of the model on disk',
  );
});

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { parse } from 'yaml';
import { repoRoot } from '@nerflow/core';

/**
 * SIGTERM sent to the wrapper a user starts nerflow with (npx, npm run, Nx through npx, Nx itself)
 * must stop nerflow the way a SIGTERM to nerflow does: its MLflow run ends KILLED, no staging folder
 * is left, no nerflow process goes on training. npm passes the signal only to an intermediate
 * `sh -c`; nerflow follows its launcher (core's stopWithWrapper).
 */

const repo = repoRoot();
const corpus = path.join(repo, 'data/ner_dataset.csv.gz');
let root: string;

before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'nerflow-signals-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'nx.json'), '{}');
  writeFileSync(
    path.join(root, 'configs', 'sig.yaml'),
    `data:\n  path: ${corpus}\n  limit_sentences: 200\ntrain:\n  epochs: 400\n  lstm_units: 8\n  embedding_dim: 8\n  early_stopping: { patience: 1000 }\ntracking:\n  experiment: sig\n`,
  );
  for (const stage of ['ingest', 'featurize']) {
    const r = spawnSync(
      process.execPath,
      [path.join(repo, 'packages/cli/bin/nerflow.js'), stage, '--config', 'sig.yaml'],
      { env: env(), encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
  }
});

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    NERFLOW_ROOT: root,
    MLFLOW_TRACKING_URI: '',
    CI: 'true',
    NX_CACHE_DIRECTORY: path.join(root, '.nx-cache'),
    NX_WORKSPACE_DATA_DIRECTORY: path.join(root, '.nx-data'),
    NX_DAEMON: 'false',
    NX_ISOLATE_PLUGINS: 'false',
    NX_NO_CLOUD: 'true',
    NX_TUI: 'false',
  };
  for (const k of Object.keys(e)) if (k.startsWith('npm_') || k.startsWith('NX_TASK_')) delete e[k];
  return e;
}

/** The trial runs of the workspace's store: status (1 RUNNING, 5 KILLED) and the owner pid. */
function runs(): { status: number; pid: number; dir: string }[] {
  const store = path.join(root, 'runs', 'mlruns');
  const out = [];
  for (const exp of existsSync(store) ? readdirSync(store) : []) {
    for (const id of readdirSync(path.join(store, exp))) {
      const dir = path.join(store, exp, id);
      if (!existsSync(path.join(dir, 'meta.yaml')) || !existsSync(path.join(dir, 'tags', 'nerflow.owner.pid')))
        continue;
      out.push({
        status: parse(readFileSync(path.join(dir, 'meta.yaml'), 'utf8')).status,
        pid: Number(readFileSync(path.join(dir, 'tags', 'nerflow.owner.pid'), 'utf8')),
        dir,
      });
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const launchers: [string, string, string[]][] = [
  ['npx nerflow', 'npx', ['nerflow', 'train', '--config', 'sig.yaml', '--force']],
  ['npm run nerflow', 'npm', ['run', 'nerflow', '--', 'train', '--config', 'sig.yaml', '--force']],
  [
    'npx nx run train:train',
    'npx',
    ['nx', 'run', 'train:train', '--config', 'sig.yaml', '--force', '--skip-nx-cache', '--output-style=stream'],
  ],
];

for (const [name, cmd, args] of launchers) {
  test(`SIGTERM to \`${name} …\` reaches nerflow: its run ends KILLED, no staging folder, no process left`, async () => {
    const before = new Set(runs().map((r) => r.dir));
    const p = spawn(cmd, args, { cwd: repo, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const collect = (d: Buffer) => (out += d);
    p.stdout.on('data', collect);
    p.stderr.on('data', collect);
    const closed = new Promise<void>((r) => p.on('close', () => r()));
    const deadline = Date.now() + 120_000;
    while (!/epoch 5\//.test(out)) {
      assert.ok(Date.now() < deadline, `training did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const [run] = runs().filter((r) => !before.has(r.dir));
    assert.ok(run, 'the run was created');
    p.kill('SIGTERM');
    await closed;
    while (alive(run.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(run.pid), `nerflow (pid ${run.pid}) goes on after its launcher was stopped:\n${out.slice(-2000)}`);
    assert.equal(
      runs().find((r) => r.dir === run.dir)!.status,
      5,
      `the run is KILLED, not RUNNING:\n${out.slice(-2000)}`,
    );
    assert.deepEqual(
      readdirSync(path.join(root, 'runs/sig/train')).filter((n) => n.includes('.staging-')),
      [],
    );
  });
}

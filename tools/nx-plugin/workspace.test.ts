import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: plain ESM, no types
import { testFiles } from '../test-files.mjs';
// @ts-expect-error: plain ESM, no types
import { createNodesV2 } from './workspace.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const folders = [...readdirSync(path.join(repo, 'packages')).map((p) => `packages/${p}`), 'tools'];

type Target = { cache: boolean; options: { command: string } };
type Nodes = [string, { projects?: Record<string, { targets: Record<string, Target> }> }][];

test('every package and tools/ has cached test, lint and typecheck targets; Nx tests exactly the files npm test does', async () => {
  const files = [...folders.filter((f) => f !== 'tools').map((f) => `${f}/package.json`), 'tools/test.mjs'];
  const nodes: Nodes = await createNodesV2[1](files, {}, { workspaceRoot: repo });
  const byFolder = new Map(nodes.flatMap(([, r]) => Object.entries(r.projects ?? {})));
  const tested: string[] = [];
  for (const folder of folders) {
    const targets = byFolder.get(folder)?.targets;
    assert.ok(targets, `${folder} is a project with targets`);
    for (const name of ['test', 'lint', 'typecheck'])
      assert.equal(targets[name]?.cache, true, `${folder}:${name} is cached`);
    assert.equal(targets.test.options.command, `node tools/test.mjs ${folder}`, 'the same runner as npm test');
    tested.push(...testFiles(repo, [path.join(repo, folder)]));
  }
  assert.deepEqual(
    tested.sort(),
    testFiles(repo),
    "the projects' test targets together run every file npm test runs, once",
  );
});

test('Nx sees the targets; `affected` picks only what a change can break', () => {
  const nx = (...args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args, '--json'], {
      cwd: repo,
      encoding: 'utf8',
      env: {
        ...process.env,
        NX_DAEMON: 'false',
        NX_NO_CLOUD: 'true',
        NX_ISOLATE_PLUGINS: 'false',
        NX_CACHE_DIRECTORY: path.join(repo, '.nx', 'cache-test'),
      },
    });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as string[]).sort();
  };
  assert.equal(nx('show', 'projects', '-t', 'typecheck').length, folders.length);
  const affected = nx('show', 'projects', '--affected', '--files=packages/metrics/src/entity.ts', '-t', 'test');
  assert.deepEqual(
    affected,
    ['@nerflow/cli', '@nerflow/metrics', 'evaluate', 'ingest', 'predict', 'tools', 'train'],
    'metrics and what imports it (ingest checks tag schemes with it, predict decodes entities with it), not featurize, core or nn',
  );
});

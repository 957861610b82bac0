import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { codeVersion, listSourceFiles, workspaceDependencies } from './hash.js';
import { packageDir } from './paths.js';

test('the code version covers what runs (source, the AssemblyScript kernel, the compiled wasm), not tests or test helpers', async () => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-code-')), 'nn');
  const put = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  };
  put('package.json', '{"name": "@nerflow/nn"}');
  put('src/model.ts', 'export const a = 1;');
  put('src/model.test.ts', 'test');
  put('src/test-helpers/fake.ts', 'helper');
  put('assembly/lstm.ts', 'kernel');
  put('wasm/lstm.wasm', 'wasm v1');
  put('README.md', 'docs');
  const v0 = await codeVersion([dir]);
  const changes = (rel: string, text: string) => async () => {
    const before = await codeVersion([dir]);
    put(rel, text);
    return before !== (await codeVersion([dir]));
  };
  assert.equal(await changes('wasm/lstm.wasm', 'wasm v2')(), true, 'a rebuilt lstm.wasm');
  assert.equal(await changes('assembly/lstm.ts', 'kernel 2')(), true, "the kernel's source");
  assert.equal(await changes('src/model.ts', 'export const a = 2;')(), true, 'the TypeScript source');
  assert.equal(
    await changes('package.json', '{"name": "@nerflow/nn", "dependencies": {"x": "1"}}')(),
    true,
    'its dependencies',
  );
  assert.equal(await changes('src/model.test.ts', 'test 2')(), false, 'a test');
  assert.equal(await changes('src/test-helpers/fake.ts', 'helper 2')(), false, 'a test helper inside src/');
  assert.equal(await changes('README.md', 'docs 2')(), false, 'the docs');
  assert.notEqual(v0, await codeVersion([dir]));
});

test("a stage's packages come from package.json dependencies, and cover every @nerflow package its code imports", async () => {
  assert.deepEqual(workspaceDependencies('train'), ['core', 'metrics', 'nn', 'tracking', 'train', 'viz']);
  assert.deepEqual(workspaceDependencies('ingest'), ['core', 'ingest', 'metrics']); // metrics: the tag-scheme module
  for (const pkg of ['ingest', 'featurize', 'train', 'evaluate', 'cli']) {
    const deps = workspaceDependencies(pkg);
    const src = path.join(packageDir(pkg), 'src');
    for (const rel of await listSourceFiles(src)) {
      for (const m of readFileSync(path.join(src, rel), 'utf8').matchAll(/(?:from |import\()'@nerflow\/([a-z-]+)/g)) {
        assert.ok(
          deps.includes(m[1]),
          `${pkg}/src/${rel} imports @nerflow/${m[1]}: add it to packages/${pkg}/package.json dependencies`,
        );
      }
    }
  }
});

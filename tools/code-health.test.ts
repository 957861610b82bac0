// Repository-wide "one truth per fact" checks: things a reviewer would otherwise have to re-check by hand.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { listSourceFiles, repoRoot } from '@nerflow/core';

const root = repoRoot();
const packages = readdirSync(path.join(root, 'packages')).filter((p) =>
  existsSync(path.join(root, 'packages', p, 'package.json')),
);
const sources = async (pkg: string) => {
  const src = path.join(root, 'packages', pkg, 'src');
  return (await listSourceFiles(src)).map((rel) => ({
    rel: `packages/${pkg}/src/${rel}`,
    text: readFileSync(path.join(src, rel), 'utf8'),
  }));
};

test('one seeded RNG: mulberry32 is defined once, in core (and ported once to the kernel, tested against it)', async () => {
  const defs: string[] = [];
  for (const pkg of packages) for (const f of await sources(pkg)) if (/0x6d2b79f5/.test(f.text)) defs.push(f.rel);
  assert.deepEqual(defs, ['packages/core/src/rng.ts']);
  // the kernel's dropout masks (2-thread training) draw from the same generator in AssemblyScript: the one port,
  // which kernel-split.test.ts checks bit for bit against Mulberry32.maskInto
  const assembly = path.join(root, 'packages', 'nn', 'assembly');
  const ports = readdirSync(assembly).filter((f) => /0x6d2b79f5/.test(readFileSync(path.join(assembly, f), 'utf8')));
  assert.deepEqual(ports, ['dropout.ts']);
});

test('every dependency a package declares is one its code imports (no dead dependencies)', async () => {
  // @tensorflow/tfjs imports these itself; nn pins them to the same 4.22 beside it
  const pinned: Record<string, string[]> = {
    nn: ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers'],
  };
  for (const pkg of packages) {
    const dir = path.join(root, 'packages', pkg);
    const deps = Object.keys(JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).dependencies ?? {});
    const text =
      (await sources(pkg)).map((f) => f.text).join('\n') +
      (existsSync(path.join(dir, 'bin'))
        ? readdirSync(path.join(dir, 'bin'))
            .map((f) => readFileSync(path.join(dir, 'bin', f), 'utf8'))
            .join('\n')
        : '');
    for (const dep of deps) {
      if (pinned[pkg]?.includes(dep)) continue;
      assert.ok(
        new RegExp(`['"]${dep.replace(/[/.]/g, '\\$&')}(/[^'"]*)?['"]`).test(text),
        `packages/${pkg}/package.json declares ${dep}, which nothing in it imports`,
      );
    }
  }
});

test('no Python bytecode is committed, and .gitignore keeps it out', () => {
  const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n');
  assert.deepEqual(
    tracked.filter((f) => /__pycache__|\.pyc$/.test(f)),
    [],
  );
  assert.match(readFileSync(path.join(root, '.gitignore'), 'utf8'), /^__pycache__\/$/m);
});

test('docs and messages point at files that exist, and do not call the fused model.json a TensorFlow.js format', async () => {
  const lint = readFileSync(path.join(root, 'eslint.config.js'), 'utf8');
  for (const m of lint.matchAll(/\(([\w./<>-]+\.md)\)/g)) {
    for (const stage of ['ingest', 'featurize', 'train', 'evaluate']) {
      const file = m[1].replace('<stage>', stage);
      assert.ok(
        existsSync(path.join(root, file)),
        `eslint.config.js's boundary message points at ${file}, which is not in the repo`,
      );
    }
  }
  const docs = [
    path.join(root, 'README.md'),
    ...packages.map((p) => path.join(root, 'packages', p, 'README.md')).filter(existsSync),
  ];
  const texts = [
    ...docs.map((f) => ({ rel: path.relative(root, f), text: readFileSync(f, 'utf8') })),
    ...(await Promise.all(packages.map(sources))).flat(),
  ];
  for (const { rel, text } of texts) assert.doesNotMatch(text, /(TensorFlow\.js|TF\.js) format/, rel);
});

test('a formatter with a line width, checked in CI', () => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  assert.ok(pkg.devDependencies.prettier, 'prettier is a dev dependency');
  assert.equal(pkg.scripts['format:check'], 'prettier --check .');
  assert.equal(JSON.parse(readFileSync(path.join(root, '.prettierrc.json'), 'utf8')).printWidth, 120);
  assert.match(readFileSync(path.join(root, '.ci/run'), 'utf8'), /^npm run -s format:check$/m);
});

test('no hand-copied package lists: nx.json names no npm package (package-lock.json, in every input, covers them)', () => {
  const nx = JSON.parse(readFileSync(path.join(root, 'nx.json'), 'utf8'));
  assert.doesNotMatch(JSON.stringify(nx.namedInputs), /externalDependencies/);
  assert.ok(nx.namedInputs.sharedGlobals.includes('{workspaceRoot}/package-lock.json'));
});

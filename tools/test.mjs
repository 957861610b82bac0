#!/usr/bin/env node
// Runs every *.test.ts under packages/ and tools/ with Node's test runner (TypeScript through tsx),
// then prints the one summary line CI reads: "N passed, N failed".
// Usage: npm test [-- <path filter>...]   e.g. npm test -- packages/core
// Nx runs the same script per project: `npx nx run-many -t test` (README: "Tests through Nx").
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testFiles } from './test-files.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2).map((f) => path.resolve(f));

const files = testFiles(root, filters);
if (!files.length) {
  console.error('no test files matched');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
  {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  },
);
let tail = '';
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d.toString()).slice(-4000);
});
child.on('close', (code) => {
  const num = (label) => Number((tail.match(new RegExp(`^ℹ ${label} (\\d+)`, 'm')) ?? [])[1] ?? NaN);
  const passed = num('pass');
  const failed = num('fail') + (num('cancelled') || 0);
  const skipped = num('skipped') || 0;
  if (Number.isNaN(passed) || Number.isNaN(failed)) {
    console.log(`0 passed, 1 failed`);
    process.exit(code || 1);
  }
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code ?? 1);
});

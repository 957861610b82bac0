import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { replaceDirAtomic, writeFileAtomic } from './atomic.js';

test('writeFileAtomic leaves no temp files behind', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-atomic-'));
  await writeFileAtomic(path.join(dir, 'a.txt'), 'one');
  await writeFileAtomic(path.join(dir, 'a.txt'), 'two');
  assert.equal(readFileSync(path.join(dir, 'a.txt'), 'utf8'), 'two');
  assert.deepEqual(readdirSync(dir), ['a.txt']);
});

test('replaceDirAtomic keeps the old folder when the build fails', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'nerflow-atomic-'));
  const out = path.join(parent, 'out');
  mkdirSync(out);
  writeFileSync(path.join(out, 'keep.txt'), 'old');
  await assert.rejects(
    replaceDirAtomic(out, async (staging) => {
      writeFileSync(path.join(staging, 'keep.txt'), 'half-written');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(readFileSync(path.join(out, 'keep.txt'), 'utf8'), 'old');
  assert.deepEqual(readdirSync(parent), ['out']);
  await replaceDirAtomic(out, async (staging) => writeFileSync(path.join(staging, 'new.txt'), 'new'));
  assert.deepEqual(readdirSync(out), ['new.txt']);
  assert.deepEqual(readdirSync(parent), ['out']);
});

test('replaceDirAtomic removes the staging folders of dead processes beside it, never a live one', async () => {
  const { spawnSync } = await import('node:child_process');
  const parent = mkdtempSync(path.join(tmpdir(), 'nerflow-atomic-'));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  }).stdout;
  const deadDir = path.join(parent, `.out.staging-${dead}-0123abcd`);
  const liveDir = path.join(parent, `.out.staging-${process.ppid}-0123abcd`);
  const other = path.join(parent, '.notes-1-0123abcd');
  for (const d of [deadDir, liveDir, other]) mkdirSync(d);
  writeFileSync(path.join(deadDir, 'half.bin'), 'x');
  await replaceDirAtomic(path.join(parent, 'out'), async (staging) => writeFileSync(path.join(staging, 'a.txt'), 'a'));
  assert.deepEqual(readdirSync(parent).sort(), ['.notes-1-0123abcd', `.out.staging-${process.ppid}-0123abcd`, 'out']);
});

test('removeLiveStagingSync removes the folder being built (what a signal handler calls before dying)', async () => {
  const { removeLiveStagingSync } = await import('./atomic.js');
  const parent = mkdtempSync(path.join(tmpdir(), 'nerflow-atomic-'));
  let release!: () => void;
  const building = replaceDirAtomic(path.join(parent, 'out'), async (staging) => {
    writeFileSync(path.join(staging, 'half.bin'), 'x');
    await new Promise<void>((r) => (release = r));
    writeFileSync(path.join(staging, 'late.bin'), 'x');
  });
  while (!release) await new Promise((r) => setTimeout(r, 5));
  assert.equal(readdirSync(parent).filter((n) => n.includes('.staging-')).length, 1);
  removeLiveStagingSync();
  assert.deepEqual(readdirSync(parent), []);
  release();
  await assert.rejects(building, /ENOENT/);
  assert.deepEqual(readdirSync(parent), []);
});

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
  await assert.rejects(replaceDirAtomic(out, async (staging) => {
    writeFileSync(path.join(staging, 'keep.txt'), 'half-written');
    throw new Error('boom');
  }), /boom/);
  assert.equal(readFileSync(path.join(out, 'keep.txt'), 'utf8'), 'old');
  assert.deepEqual(readdirSync(parent), ['out']);
  await replaceDirAtomic(out, async (staging) => writeFileSync(path.join(staging, 'new.txt'), 'new'));
  assert.deepEqual(readdirSync(out), ['new.txt']);
  assert.deepEqual(readdirSync(parent), ['out']);
});

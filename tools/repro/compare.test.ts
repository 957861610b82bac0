import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { compareRunDirs } from './compare.js';

/** A run folder with one trained trial: its manifest (fingerprint, output hashes), history and run.json. */
function fakeRun({ fingerprint = 'f1', weights = 'aaa', loss = 0.5 } = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-repro-'));
  mkdirSync(path.join(dir, 'train', 'main'), { recursive: true });
  writeFileSync(
    path.join(dir, 'train', 'main', 'manifest.json'),
    JSON.stringify({
      fingerprint,
      outputs: [
        { path: 'model/weights.bin', sha256: weights },
        { path: 'history.json', sha256: 'bbb' },
      ],
      counts: { epochs: 1 },
    }),
  );
  writeFileSync(
    path.join(dir, 'train', 'main', 'history.json'),
    JSON.stringify([{ epoch: 1, loss, val_entity_f1: 0.7 }]),
  );
  writeFileSync(path.join(dir, 'train', 'main', 'run.json'), JSON.stringify({ started_at: String(Math.random()) }));
  return dir;
}

function copyOf(dir: string): string {
  const b = mkdtempSync(path.join(tmpdir(), 'nerflow-repro-'));
  cpSync(dir, b, { recursive: true });
  return b;
}

test('identical runs (clock times aside) reproduce', () => {
  const a = fakeRun();
  const b = copyOf(a);
  writeFileSync(path.join(b, 'train', 'main', 'run.json'), JSON.stringify({ started_at: 'later' }));
  assert.deepEqual(compareRunDirs(a, b), []);
});

test('a planted difference in weights, a metric or a fingerprint is reported', () => {
  const a = fakeRun();
  const b = fakeRun({ fingerprint: 'f2', weights: 'zzz', loss: 0.5000001 });
  const d = compareRunDirs(a, b);
  assert.ok(
    d.some((l) => l.includes('train/main/model/weights.bin: sha256 aaa ≠ zzz')),
    d.join('\n'),
  );
  assert.ok(
    d.some((l) => l.includes('train/main/manifest.json: fingerprint f1 ≠ f2')),
    d.join('\n'),
  );
  assert.ok(
    d.some((l) => l.includes('train/main/history.json: 0.loss: 0.5 ≠ 0.5000001')),
    d.join('\n'),
  );
});

test('a stage missing from one run is reported', () => {
  const a = fakeRun();
  const b = mkdtempSync(path.join(tmpdir(), 'nerflow-repro-'));
  assert.ok(compareRunDirs(a, b).some((l) => l.includes('only in the first run')));
});

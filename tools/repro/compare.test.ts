import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { compareRunDirs } from './compare.js';

function fakeRun(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-repro-'));
  mkdirSync(path.join(dir, 'train', 'main'), { recursive: true });
  writeFileSync(
    path.join(dir, 'train', 'main', 'manifest.json'),
    JSON.stringify({
      fingerprint: 'f1',
      outputs: [
        { path: 'model/weights.bin', sha256: 'aaa' },
        { path: 'history.json', sha256: 'bbb' },
      ],
      counts: { epochs: 1 },
    }),
  );
  writeFileSync(
    path.join(dir, 'train', 'main', 'history.json'),
    JSON.stringify([{ epoch: 1, loss: 0.5, val_entity_f1: 0.7 }]),
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
  const b = copyOf(a);
  writeFileSync(
    path.join(b, 'train', 'main', 'manifest.json'),
    JSON.stringify({
      fingerprint: 'f2',
      outputs: [
        { path: 'model/weights.bin', sha256: 'zzz' },
        { path: 'history.json', sha256: 'bbb' },
      ],
      counts: { epochs: 1 },
    }),
  );
  writeFileSync(
    path.join(b, 'train', 'main', 'history.json'),
    JSON.stringify([{ epoch: 1, loss: 0.5000001, val_entity_f1: 0.7 }]),
  );
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

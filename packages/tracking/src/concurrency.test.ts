import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withFileLock } from './fs-util.js';
import { FileStore, TrackingEnvironmentError } from './index.js';
import { readStore } from './test-helpers/mlflow-layout-reader.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = () => mkdtempSync(path.join(tmpdir(), 'nerflow-conc-'));

/** Run a child script with tsx; resolves with its stdout. */
function child(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

/** Children wait for this moment, so their work really overlaps. */
const barrier = () => String(Date.now() + 1500);

test('two processes log 1,000 metric values each into the same run at once: no line lost, interleaved or corrupt', async () => {
  const root = path.join(tmp(), 'mlruns');
  const store = new FileStore(root);
  const exp = await store.getOrCreateExperiment('shared');
  const run = await store.createRun({ experimentId: exp, runName: 'both' });
  const script = path.join(tmp(), 'writer.mts');
  writeFileSync(
    script,
    `import { FileStore } from ${JSON.stringify(path.join(here, 'index.ts'))};
const [root, runId, who, at] = process.argv.slice(2);
const store = new FileStore(root);
while (Date.now() < Number(at)) await new Promise((r) => setTimeout(r, 5));
for (let i = 0; i < 1000; i++) {
  // one call per value: 1,000 separate O_APPEND writes per process into one file
  await store.logBatch(runId, { metrics: [{ key: 'shared/loss', value: Number(who) * 1e6 + i + 0.123456789, step: i, timestamp: 1700000000000 + i }] });
}
console.log('done');`,
  );
  const at = barrier();
  await Promise.all(['1', '2'].map((who) => child(script, [root, run.run_id, who, at])));
  const text = readFileSync(path.join(root, exp, run.run_id, 'metrics', 'shared', 'loss'), 'utf8');
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  assert.equal(lines.length, 2000, 'nothing lost');
  const seen = { 1: [] as number[], 2: [] as number[] };
  let switches = 0;
  for (const [k, line] of lines.entries()) {
    if (k && line.split(' ')[1][0] !== lines[k - 1].split(' ')[1][0]) switches++;
    const m = /^(\d+) ([12])(\d{6})\.123456789 (\d+)$/.exec(line);
    assert.ok(m, `corrupt or interleaved line: ${JSON.stringify(line)}`);
    const i = Number(m[3]);
    assert.equal(Number(m[1]), 1700000000000 + i);
    assert.equal(Number(m[4]), i);
    seen[Number(m[2]) as 1 | 2].push(i);
  }
  const expected = Array.from({ length: 1000 }, (_, i) => i);
  assert.deepEqual(seen[1], expected, 'process 1: every value, in order');
  assert.deepEqual(seen[2], expected, 'process 2: every value, in order');
  assert.ok(switches > 10, `the two writers really overlapped (${switches} alternations)`);
  console.log(`# ${switches} alternations between the two writers`);
  // MLflow's reader view (strict) agrees
  const read = readStore(root).get(exp)!.runs[0];
  assert.equal(read.metrics.get('shared/loss')!.length, 2000);
  assert.equal((await store.getMetricHistory(run.run_id, 'shared/loss')).length, 2000);
});

test('four processes creating experiment "nerflow" at once get one experiment id, and each logs its own run', async () => {
  const root = path.join(tmp(), 'mlruns');
  const script = path.join(tmp(), 'creator.mts');
  writeFileSync(
    script,
    `import { FileStore } from ${JSON.stringify(path.join(here, 'index.ts'))};
const [root, at] = process.argv.slice(2);
const store = new FileStore(root);
while (Date.now() < Number(at)) await new Promise((r) => setTimeout(r, 2));
const exp = await store.getOrCreateExperiment('nerflow');
const run = await store.createRun({ experimentId: exp, runName: 'r' + process.pid });
await store.updateRun(run.run_id, { status: 'FINISHED', endTime: Date.now() });
console.log(exp + ' ' + run.run_id);`,
  );
  const at = barrier();
  const outs = await Promise.all([1, 2, 3, 4].map(() => child(script, [root, at])));
  const ids = new Set(outs.map((o) => o.split(' ')[0]));
  assert.equal(ids.size, 1, `one experiment id, got ${[...ids].join(', ')}`);
  const exps = readStore(root);
  assert.deepEqual(
    [...exps.values()].map((e) => e.meta.name).sort(),
    ['Default', 'nerflow'],
    'exactly one Default and one nerflow',
  );
  assert.equal(exps.get([...ids][0])!.runs.length, 4);
  assert.equal(new Set(outs.map((o) => o.split(' ')[1])).size, 4, 'unique run ids');
  assert.deepEqual(
    readdirSync(root).filter((f) => f.includes('lock') || f.endsWith('.tmp')),
    [],
    'no lock or temp file left behind',
  );
});

test('a store lock held by a live process is an environment problem (kind "environment"), naming the lock file and the fix', async () => {
  const lock = path.join(tmp(), 'store.lock');
  writeFileSync(lock, String(process.pid)); // this process is alive, so the lock is not stale
  await assert.rejects(
    withFileLock(lock, async () => 1, { timeoutMs: 50 }),
    (e: unknown) => {
      assert.ok(e instanceof TrackingEnvironmentError && e.kind === 'environment');
      assert.match(e.message, /store\.lock: held by another process .*delete the file/);
      return true;
    },
  );
});

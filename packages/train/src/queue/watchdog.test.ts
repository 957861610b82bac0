import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Logger, Progress } from '@nerflow/core';
import { beatingLogger, beatSender, hangPoint, Watchdog, type TrialBeat } from './watchdog.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('watchdog: silent for its timeout → onStall once, naming the last stage; beats keep it quiet', async () => {
  const stalls: string[] = [];
  const w = new Watchdog(0.3, 'start-up', (why) => stalls.push(why));
  for (let i = 0; i < 6; i++) {
    await sleep(100);
    w.beat(i === 3 ? "tracking: logging the run's inputs" : undefined);
  }
  assert.deepEqual(stalls, [], 'beats every 100 ms: never stalled');
  await sleep(600);
  assert.deepEqual(stalls, ["no progress for 0.3 s in tracking: logging the run's inputs"]);
  assert.equal(w.stalled, stalls[0]);
  await sleep(300);
  assert.equal(stalls.length, 1, 'reported once');
  w.stop();

  const quiet: string[] = [];
  const never = new Watchdog(0.2, 'x', (why) => quiet.push(why));
  never.stop();
  await sleep(400);
  assert.deepEqual(quiet, [], 'stopped: never fires');
});

test('watchdog: beats go out on every stage change and at most once a second for the same stage', () => {
  const sent: TrialBeat[] = [];
  const beat = beatSender((m) => sent.push(m));
  beat('epoch 1/3 (batches)');
  for (let i = 0; i < 1000; i++) beat('epoch 1/3 (batches)');
  beat('tracking: uploading the checkpoint of epoch 1');
  beat('epoch 2/3 (batches)');
  assert.deepEqual(
    sent.map((m) => m.stage),
    ['epoch 1/3 (batches)', 'tracking: uploading the checkpoint of epoch 1', 'epoch 2/3 (batches)'],
  );
  assert.ok(sent.every((m) => m.type === 'beat'));
});

test("watchdog: a logger's progress bars beat on every update (the training loop's batches are progress)", () => {
  const stages: string[] = [];
  const updates: number[] = [];
  const bar: Progress = { update: (n) => updates.push(n), finish: () => undefined };
  const base: Logger = { info() {}, warn() {}, debug() {}, progress: () => bar };
  const log = beatingLogger(base, (s) => stages.push(s));
  const p = log.progress('epoch 2/6', 3, 'batches');
  p.update(1);
  p.update(2);
  p.finish();
  assert.deepEqual(updates, [1, 2], 'the bar still draws');
  assert.deepEqual(stages, ['epoch 2/6 (batches)', 'epoch 2/6 (batches)', 'epoch 2/6 (batches)', 'epoch 2/6: done']);
});

test('watchdog: the fault injection hangs at its point only (scoped by config, once per marker file)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-hang-'));
  try {
    const once = path.join(dir, 'hung');
    const env = { NERFLOW_TEST_HANG_AT: 'log-inputs@queue-hang', NERFLOW_TEST_HANG_ONCE: once };
    const settled = (p: Promise<void>) => Promise.race([p.then(() => true), sleep(100).then(() => false)]);
    assert.equal(await settled(hangPoint('start-run', 'queue-hang', env)), true, 'another point');
    assert.equal(await settled(hangPoint('log-inputs', 'other-config', env)), true, 'another config');
    assert.equal(await settled(hangPoint('log-inputs', 'queue-hang', {})), true, 'no env: never');
    assert.equal(await settled(hangPoint('log-inputs', 'queue-hang', env)), false, 'hangs');
    assert.ok(existsSync(once));
    assert.equal(await settled(hangPoint('log-inputs', 'queue-hang', env)), true, 'the second time passes');
    assert.equal(await settled(hangPoint('log-inputs', 'any', { NERFLOW_TEST_HANG_AT: 'log-inputs' })), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

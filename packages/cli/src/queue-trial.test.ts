import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '@nerflow/core';

/**
 * Issue 17's hang: a `nerflow queue-trial` whose trial failed (there: runs/log-inputs answered 400) printed its
 * error and then never exited, its stdin and IPC channel (both from its worker, as here) keeping it alive, while
 * the worker renewed the job's lock for ever. A failing trial process must exit 1 with its error, at once.
 */
test('queue-trial: a trial that fails exits 1 with its error (stdin and IPC from the worker do not keep it alive)', async () => {
  const root = repoRoot();
  const job = {
    sweep: 's',
    config: 'configs/no-such-config.yaml',
    overrides: [],
    trial: 't-1',
    label: 'x',
    trainHash: 'h',
    trackingUri: 'http://127.0.0.1:9',
    experiment: 'e',
    parentRunId: '',
  };
  const child = spawn(
    process.execPath,
    [path.join(root, 'packages/cli/bin/nerflow.js'), 'queue-trial', '--job-id', 'j', '--job', JSON.stringify(job)],
    { cwd: root, stdio: ['pipe', 'pipe', 'pipe', 'ipc'], env: { ...process.env, NERFLOW_ROOT: root } },
  );
  let err = '';
  const beats: string[] = [];
  child.stderr!.on('data', (d) => (err += d));
  child.on('message', (m: { type: string; stage?: string }) => m.type === 'beat' && beats.push(m.stage!));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    new Promise<number | string | null>((r) => child.on('close', (c, s) => r(s ?? c))),
    new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), 30_000))),
  ]);
  clearTimeout(timer);
  if (code === 'hung') child.kill('SIGKILL');
  assert.equal(code, 1, `the failed trial process did not exit:\n${err}`);
  assert.match(err, /no-such-config\.yaml/);
  assert.deepEqual(beats.slice(0, 2), ['started', 'loading the config'], 'the watchdog heard it start');
});

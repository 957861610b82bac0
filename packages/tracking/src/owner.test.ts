import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  currentOwner,
  endDeadRuns,
  FileStore,
  ownerFromTags,
  ownerIsGone,
  OWNER_TAGS,
  processStart,
  resumeRun,
  RunNotResumableError,
  startRun,
} from './index.js';

const noEnv = {} as NodeJS.ProcessEnv;
const store = () => new FileStore(path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-owner-')), 'mlruns'));
/** The pid of a process that has exited. */
const deadPid = () =>
  Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

test('owner: this process is alive; an exited pid, a reused pid (other start) are gone; another host only with otherHosts', () => {
  const me = currentOwner();
  assert.equal(me.host, os.hostname());
  assert.equal(me.pid, process.pid);
  if (process.platform === 'linux') assert.match(me.start!, /^[0-9a-f-]{36}\/\d+$/, '<boot id>/<start ticks>');
  assert.deepEqual(ownerIsGone(me).gone, false);
  const dead = ownerIsGone({ ...me, pid: deadPid() });
  assert.equal(dead.gone, true);
  assert.match(dead.why, /owner process \d+ on .* no longer exists/);
  if (process.platform === 'linux') {
    const reused = ownerIsGone({ ...me, start: `${me.start!.split('/')[0]}/1` });
    assert.deepEqual([reused.gone, /now belongs to another process/.test(reused.why)], [true, true]);
    assert.match(ownerIsGone({ ...me, start: 'another-boot/1' }).why, /the host rebooted since/);
    assert.equal(processStart(process.pid), me.start);
  }
  const far = { host: 'elsewhere', pid: 1, start: null };
  assert.deepEqual(ownerIsGone(far).gone, false);
  assert.match(ownerIsGone(far).why, /on host elsewhere, not this one/);
  assert.equal(ownerIsGone(far, { otherHosts: true }).gone, true);
  assert.deepEqual(ownerFromTags({}), null);
  assert.deepEqual(ownerFromTags({ [OWNER_TAGS.host]: 'h', [OWNER_TAGS.pid]: '7', [OWNER_TAGS.start]: '' }), {
    host: 'h',
    pid: 7,
    start: null,
  });
});

test('endDeadRuns: ends only runs whose owner is provably gone, KILLED with why; dry run and live runs untouched', async () => {
  const s = store();
  const live = await startRun(s, { experiment: 'e', runName: 'live' }, noEnv);
  const dead = await startRun(
    s,
    { experiment: 'e', runName: 'dead', tags: { [OWNER_TAGS.pid]: String(deadPid()), [OWNER_TAGS.start]: '' } },
    noEnv,
  );
  const far = await startRun(s, { experiment: 'e', runName: 'far', tags: { [OWNER_TAGS.host]: 'elsewhere' } }, noEnv);
  const none = await startRun(s, { experiment: 'e', runName: 'none' }, noEnv);
  await s.logBatch(none.runId, { tags: { [OWNER_TAGS.host]: '' } });
  const done = await startRun(
    s,
    { experiment: 'e', runName: 'done', tags: { [OWNER_TAGS.pid]: String(deadPid()), [OWNER_TAGS.start]: '' } },
    noEnv,
  );
  await done.end('FINISHED');
  const dry = await endDeadRuns(s, { dryRun: true });
  assert.deepEqual(
    dry.ended.map((r) => r.runName),
    ['dead'],
  );
  assert.equal((await s.getRun(dead.runId)).info.status, 'RUNNING', 'dry run');
  const warned: string[] = [];
  const r = await endDeadRuns(s, { log: { info: () => undefined, warn: (m) => warned.push(m) } });
  assert.deepEqual(
    r.ended.map((x) => x.runName),
    ['dead'],
  );
  assert.deepEqual(r.kept.map((x) => x.runName).sort(), ['far', 'live', 'none']);
  const ended = await s.getRun(dead.runId);
  assert.equal(ended.info.status, 'KILLED');
  assert.ok(ended.info.end_time);
  assert.match(ended.data.tags['nerflow.ended_by'], /no longer exists; ended KILLED at \d{4}-/);
  assert.equal(ended.data.tags['nerflow.status'], 'killed');
  assert.match(
    warned[0],
    /run dead \(\w+\) was still RUNNING but its owner process \d+ .* no longer exists: marked KILLED/,
  );
  for (const id of [live.runId, far.runId, none.runId]) assert.equal((await s.getRun(id)).info.status, 'RUNNING');
  assert.equal((await s.getRun(done.runId)).info.status, 'FINISHED', 'ended runs are never touched');
  const all = await endDeadRuns(s, { otherHosts: true });
  assert.deepEqual(
    all.ended.map((x) => x.runName),
    ['far'],
  );
});

test('resumeRun: RUNNING again, this process as owner, resumes counted; a deleted or unknown run is refused', async () => {
  const s = store();
  const run = await startRun(s, { experiment: 'e', runName: 'r', tags: { [OWNER_TAGS.pid]: '1' } }, noEnv);
  await run.logMetrics({ loss: 1 }, 1, 1000);
  await run.end('KILLED');
  const ended = (await s.getRun(run.runId)).info.end_time;
  const again = await resumeRun(s, run.runId);
  let r = await s.getRun(run.runId);
  assert.deepEqual(
    [r.info.status, r.info.end_time, r.data.tags['nerflow.resumes'], r.data.tags[OWNER_TAGS.pid]],
    ['RUNNING', ended, '1', String(process.pid)],
  );
  await again.logMetrics({ loss: 0.5 }, 2, 2000);
  await again.end('FINISHED');
  await (await resumeRun(s, run.runId, { tags: { extra: 'x' } })).end('FINISHED');
  r = await s.getRun(run.runId);
  assert.deepEqual([r.info.status, r.data.tags['nerflow.resumes'], r.data.tags.extra], ['FINISHED', '2', 'x']);
  assert.equal(r.data.tags['nerflow.status'], 'killed', "FINISHED leaves the caller's outcome tag alone");
  assert.deepEqual(
    (await s.getMetricHistory(run.runId, 'loss')).map((p) => p.step),
    [1, 2],
    'one history',
  );
  await s.deleteRun(run.runId);
  await assert.rejects(
    resumeRun(s, run.runId),
    (e) => e instanceof RunNotResumableError && /it is deleted/.test(e.message),
  );
  await assert.rejects(resumeRun(s, 'f'.repeat(32)), /is not in the tracking store/);
});

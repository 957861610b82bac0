import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { FileStore, startRun, withRun } from './index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = () => mkdtempSync(path.join(tmpdir(), 'nerflow-life-'));
const noEnv = {} as NodeJS.ProcessEnv;

/** status and end_time straight from meta.yaml (3 FINISHED, 4 FAILED, 5 KILLED). */
async function meta(store: FileStore, runId: string): Promise<{ status: number; end_time: number | null }> {
  const info = (await store.getRun(runId)).info;
  const file = path.join(store.root, info.experiment_id, runId, 'meta.yaml');
  return parse(readFileSync(file, 'utf8'));
}

test('lifecycle: a body that throws ends the run FAILED and rethrows; a body that returns ends it FINISHED', async () => {
  const store = new FileStore(path.join(tmp(), 'mlruns'));
  let failedId = '';
  await assert.rejects(
    withRun(store, { experiment: 'e', runName: 'boom', env: noEnv }, async (run) => {
      failedId = run.runId;
      await run.logMetrics({ loss: 1 }, 1);
      throw new Error('boom');
    }),
    /boom/,
  );
  const failed = await meta(store, failedId);
  assert.equal(failed.status, 4, 'FAILED');
  assert.ok(Number.isInteger(failed.end_time));

  const value = await withRun(store, { experiment: 'e', runName: 'ok', env: noEnv }, async (run) => run.runId);
  assert.equal((await meta(store, value)).status, 3, 'FINISHED');

  // a run is ended once: a later end() does not overwrite the first status
  const run = await startRun(store, { experiment: 'e', runName: 'once' }, noEnv);
  await run.end('KILLED');
  await run.end('FINISHED');
  assert.equal((await meta(store, run.runId)).status, 5);
  assert.equal(process.listenerCount('SIGTERM'), 0, 'no signal handler left behind');
});

/** A child process with a guarded parent run and a guarded nested run, idle until signalled. */
function sleeper(root: string): Promise<{ child: ReturnType<typeof spawn>; ids: string[] }> {
  const script = path.join(tmp(), 'sleeper.mts');
  writeFileSync(
    script,
    `import { writeFileSync } from 'node:fs';
import { FileStore, onSignalExit, startRun } from ${JSON.stringify(path.join(here, 'index.ts'))};
const store = new FileStore(process.argv[2]);
onSignalExit((signal) => writeFileSync(process.argv[2] + '.hook', signal));
const parent = await startRun(store, { experiment: 'e', runName: 'sweep' }, {});
await parent.guard(async () => {
  const trial = await startRun(store, { experiment: 'e', runName: 'trial', parentRunId: parent.runId }, {});
  await trial.guard(async () => {
    console.log(parent.runId + ' ' + trial.runId);
    await new Promise((r) => setTimeout(r, 30000));
  });
});`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, root], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) =>
    child.stdout!.once('data', (d) => resolve({ child, ids: String(d).trim().split(' ') })),
  );
}

for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const) {
  test(`lifecycle: ${signal} mid-run ends the run and its nested run KILLED, then the process dies of ${signal} (a shell shows ${code})`, async () => {
    const root = path.join(tmp(), 'mlruns');
    const { child, ids } = await sleeper(root);
    child.kill(signal);
    const [exitCode, exitSignal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
      child.on('close', (c, s) => r([c, s])),
    );
    // no other handler in the child: the signal is re-raised with its default action
    assert.deepEqual(
      [exitCode, exitSignal],
      [null, signal],
      `died of ${signal} (exit ${exitCode}, signal ${exitSignal})`,
    );
    const store = new FileStore(root);
    for (const id of ids) {
      const m = await meta(store, id);
      assert.equal(m.status, 5, `run ${id} is KILLED, not left RUNNING`);
      assert.ok(Number.isInteger(m.end_time));
      assert.equal((await store.getRun(id)).data.tags['nerflow.status'], 'killed', 'the status tag agrees');
    }
    assert.equal(readFileSync(`${root}.hook`, 'utf8'), signal, 'the onSignalExit hook ran before the process died');
  });
}

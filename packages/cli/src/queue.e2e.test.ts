import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '@nerflow/core';
import { linkNodeModules } from '../../core/src/test-helpers/linked-workspace.js';
import { realMlflowSkip, startRealMlflow } from '../../tracking/src/test-helpers/real-mlflow.js';
import { redisSkip, startRedis } from '../../train/src/queue/test-helpers/redis-server.js';

/**
 * The trial queue end to end, as on several machines: a real redis-server, the real MLflow server, and three
 * `nerflow worker`s, each in its own copy of the workspace (sources and data copied; node_modules linked, with
 * @nerflow/* pointing into the copy). One worker is killed with SIGKILL mid-trial, as a machine that dies.
 */

const src = repoRoot();

/** A copy of this checkout without node_modules, runs/ or .git; node_modules are links, @nerflow/* → the copy's packages. */
function copyWorkspace(dest: string): string {
  mkdirSync(dest, { recursive: true });
  const skip = new Set(['node_modules', 'runs', '.git', '.nx']);
  for (const e of readdirSync(src)) {
    if (skip.has(e)) continue;
    cpSync(path.join(src, e), path.join(dest, e), {
      recursive: true,
      filter: (p) =>
        !path
          .relative(src, p)
          .split(path.sep)
          .some((s) => skip.has(s)),
    });
  }
  linkNodeModules(src, dest);
  return dest;
}

const sweepYaml = (units: number[]) => `extends: smoke.yaml
description: queue e2e
data:
  limit_sentences: 600
train:
  epochs: 6
  lstm_units: 8
  embedding_dim: 8
  early_stopping: { monitor: val_entity_f1, patience: 50, restore_best: true }
sweep:
  method: grid
  params:
    train.lstm_units: [${units.join(', ')}]
  attempts: 3
tracking:
  experiment: queue-e2e
`;

interface Proc {
  p: ChildProcess;
  err: () => string;
  closed: Promise<number | string | null>;
  /** detached: its own process group (a worker and its trial processes), killed as one */
  detached: boolean;
}

/** What the running test started: on its deadline each one's last lines are printed and all are killed. */
interface Fleet {
  procs: Proc[];
  services: { name: string; stop(): Promise<void>; log?: () => string }[];
}
let fleet: Fleet = { procs: [], services: [] };

function start(root: string, env: Record<string, string>, args: string[], detached = false): Proc {
  const p = spawn(process.execPath, [path.join(root, 'packages/cli/bin/nerflow.js'), ...args], {
    cwd: root,
    detached,
    env: { ...process.env, NERFLOW_ROOT: root, CI: 'true', ...env },
  });
  let err = '';
  p.stderr!.on('data', (d) => (err += d));
  p.stdout!.on('data', (d) => (err += d));
  const closed = new Promise<number | string | null>((r) => p.on('close', (c, s) => r(s ?? c)));
  const proc = { p, err: () => err, closed, detached };
  fleet.procs.push(proc);
  return proc;
}

const alive = (w: Proc) => w.p.exitCode === null && w.p.signalCode === null;
const lastLines = (text: string, n = 15) => text.trim().split('\n').slice(-n).join('\n');

/**
 * The test body within `seconds` (about 3× its normal run on the 2-core CI machine): over that, every
 * process it started (workers with their trial processes, enqueuers, redis-server, the MLflow server) is
 * killed and the test fails with each one's last lines, so a hang costs CI minutes, never its whole budget.
 */
function withDeadline(seconds: number, body: () => Promise<void>): () => Promise<void> {
  return async () => {
    fleet = { procs: [], services: [] };
    const run = body();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), seconds * 1000)));
    try {
      if ((await Promise.race([run, expired])) !== 'expired') return;
      const report = [
        ...fleet.procs.map(
          (w) =>
            `--- ${w.p.spawnargs.slice(2, 4).join(' ')} (pid ${w.p.pid}, ${alive(w) ? 'still running' : 'ended'}):\n` +
            lastLines(w.err()),
        ),
        ...fleet.services.map((s) => `--- ${s.name}:\n${lastLines(s.log?.() ?? '(no log)')}`),
      ].join('\n');
      for (const w of fleet.procs.filter(alive)) {
        try {
          if (w.detached) process.kill(-w.p.pid!, 'SIGKILL');
          else w.p.kill('SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
      await Promise.all(fleet.services.map((s) => s.stop().catch(() => undefined)));
      await Promise.race([run.catch(() => undefined), new Promise((r) => setTimeout(r, 20_000))]);
      throw new Error(
        `over its ${seconds} s budget: every process it started was killed. Their last lines:\n${report}`,
      );
    } finally {
      clearTimeout(timer);
    }
  };
}

/** One redis-server and one MLflow server for the file's tests (each test has its own experiments and sweeps). */
let shared: Promise<{
  redis: Awaited<ReturnType<typeof startRedis>>;
  mlflow: Awaited<ReturnType<typeof startRealMlflow>>;
}> | null = null;
after(async () => {
  const s = await shared?.catch(() => null);
  await s?.redis.stop();
  await s?.mlflow.stop();
});

async function services() {
  shared ??= (async () => {
    const redis = await startRedis();
    try {
      return { redis, mlflow: await startRealMlflow() };
    } catch (e) {
      await redis.stop();
      throw e;
    }
  })();
  const { redis, mlflow } = await shared;
  fleet.services.push({ name: 'redis-server', stop: () => redis.stop() });
  fleet.services.push({
    name: `MLflow server ${mlflow.uri}`,
    stop: () => mlflow.stop(),
    log: () => {
      try {
        return readFileSync(path.join(mlflow.dir, 'server.log'), 'utf8');
      } catch {
        return '(no server.log)';
      }
    },
  });
  return { redis, mlflow };
}

/** One Redis command in the inline protocol; its reply line (`:0`, `+OK`, …). */
function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => s.write(`${command}\r\n`));
    s.once('data', (d) => (s.destroy(), resolve(d.toString().trim())));
    s.once('error', reject);
  });
}

async function until(what: string, cond: () => boolean, seconds: number): Promise<void> {
  for (let t = 0; !cond(); t++) {
    if (t > seconds * 10) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  'queue: 3 workers in their own workspaces, one SIGKILLed mid-trial; every trial once under one parent; enqueue twice adds nothing, a new grid value one',
  // normally ~150 s with the machine's load at 10
  { skip: redisSkip || realMlflowSkip, timeout: 520_000 },
  withDeadline(450, async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'nerflow-queue-e2e-'));
    const t0 = Date.now();
    const marks: string[] = [];
    const mark = (what: string) => marks.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`);
    const { redis, mlflow } = await services();
    const workers: Proc[] = [];
    const logs: Proc[] = [];
    const enqueuerLog = () => logs.map((p) => p.err()).join('\n---\n');
    try {
      mark('redis and MLflow up');
      const roots = [0, 1, 2, 3].map((i) => copyWorkspace(path.join(base, `machine-${i}`)));
      for (const r of roots) writeFileSync(path.join(r, 'configs/queue-e2e.yaml'), sweepYaml([6, 8, 10, 12, 14, 16]));
      const env = { MLFLOW_TRACKING_URI: mlflow.uri, NERFLOW_QUEUE: '' };
      // fault injection (packages/train/src/queue/watchdog.ts, test-only): the first trial of the queue-hang
      // sweep to reach runs/log-inputs awaits a promise that never settles, as issue 17's hung trial did
      const hangEnv = {
        ...env,
        NERFLOW_TEST_HANG_AT: 'log-inputs@queue-hang',
        NERFLOW_TEST_HANG_ONCE: path.join(base, 'hung-once'),
      };
      // the first worker trains two trials at once (--concurrency 2: two trial processes, a core each)
      for (const [i, r] of roots.slice(1).entries())
        workers.push(
          start(
            r,
            hangEnv,
            ['worker', '--queue', redis.url, '--lock-seconds', '5', ...(i === 0 ? ['--concurrency', '2'] : [])],
            true,
          ),
        );
      mark('workspaces copied, workers started');
      const enqueuer = roots[0];
      const run = start(enqueuer, env, ['train', '--config', 'queue-e2e.yaml', '--queue', redis.url]);
      logs.push(run);

      // kill the worker that reaches epoch 2 of a trial first: the whole machine (worker and its trial process)
      let killed: { worker: number; trial: string } | null = null;
      await until(
        'a worker in epoch 2',
        () => workers.some((w) => /\[(t-[0-9a-f]+)\] epoch 2\/6 \S+ batches 100%/.test(w.err())),
        600,
      );
      const victim = workers.findIndex((w) => /\[(t-[0-9a-f]+)\] epoch 2\/6 \S+ batches 100%/.test(w.err()));
      killed = {
        worker: victim,
        trial: /\[(t-[0-9a-f]+)\] epoch 2\/6 \S+ batches 100%/.exec(workers[victim].err())![1],
      };
      process.kill(-workers[victim].p.pid!, 'SIGKILL');
      assert.equal(await workers[victim].closed, 'SIGKILL');
      // every trial the machine was training when it died (two when it was the --concurrency 2 worker)
      const victimLog = workers[victim].err();
      const ended = new Set([...victimLog.matchAll(/: end (t-[0-9a-f]+) /g)].map((m) => m[1]));
      const killedTrials = [...victimLog.matchAll(/: start (t-[0-9a-f]+) /g)]
        .map((m) => m[1])
        .filter((t) => !ended.has(t));
      assert.ok(killedTrials.includes(killed.trial), victimLog);

      mark('worker killed');
      const code = await run.closed;
      mark('sweep collected');
      assert.equal(
        code,
        0,
        `nerflow train on the queue failed:\n${run.err()}\n--- workers:\n${workers.map((w) => w.err()).join('\n---\n')}`,
      );
      const log = run.err();
      assert.match(log, /queued 6 new trial\(s\)/);
      const others = workers
        .filter((_, i) => i !== victim)
        .map((w) => w.err())
        .join('\n');
      assert.match(
        others,
        new RegExp(
          `\\[${killed.trial}\\] train: ${killed.trial}: reopened MLflow run \\w+ of an earlier attempt, resuming after epoch [12] from its checkpoint`,
        ),
        others,
      );
      for (const t of killedTrials)
        assert.match(
          others,
          new RegExp(`\\[${t}\\] train: ${t}: reopened MLflow run \\w+ of an earlier attempt`),
          others,
        );
      // --concurrency 2: the first worker had two trials running at once (two starts before its first end)
      const first = workers[0].err();
      const firstEnd = first.search(/: end t-/);
      assert.ok(
        [...first.slice(0, firstEnd < 0 ? undefined : firstEnd).matchAll(/: start t-/g)].length >= 2,
        `the --concurrency 2 worker never trained two trials at once:\n${first}`,
      );

      // what MLflow's own client sees
      const seen = await mlflow.pythonJson<{
        runs: {
          id: string;
          name: string;
          status: string;
          parent: string | null;
          kind: string;
          trial: string | null;
          resumes: string | null;
          steps: number[];
        }[];
      }>(`
import json, mlflow
from mlflow.tracking import MlflowClient
c = MlflowClient()
exp = c.get_experiment_by_name('queue-e2e')
out = []
for r in c.search_runs([exp.experiment_id], max_results=1000):
    t = r.data.tags
    steps = sorted(m.step for m in c.get_metric_history(r.info.run_id, 'loss'))
    out.append(dict(id=r.info.run_id, name=r.info.run_name, status=r.info.status, parent=t.get('mlflow.parentRunId'), kind=t.get('nerflow.kind'), trial=t.get('nerflow.trial'), resumes=t.get('nerflow.resumes'), steps=steps))
print(json.dumps(dict(runs=out)))`);
      mark('MLflow checked');
      const parents = seen.runs.filter((r) => r.kind === 'sweep');
      const trials = seen.runs.filter((r) => r.kind === 'trial');
      assert.equal(parents.length, 1, 'one parent run');
      assert.equal(trials.length, 6, 'exactly 6 child runs');
      assert.deepEqual(new Set(trials.map((r) => r.parent)), new Set([parents[0].id]));
      assert.equal(new Set(trials.map((r) => r.trial)).size, 6);
      assert.deepEqual(
        seen.runs.filter((r) => r.status !== 'FINISHED').map((r) => `${r.name} ${r.status}`),
        [],
        'no run left RUNNING (or failed)',
      );
      for (const r of trials)
        assert.deepEqual(r.steps, [1, 2, 3, 4, 5, 6], `${r.trial}: every epoch logged once, in one run`);
      const resumed = trials.filter((r) => r.resumes);
      assert.deepEqual(
        resumed.map((r) => [r.trial, r.resumes]).sort(),
        killedTrials.map((t) => [t, '1']).sort(),
        'only the killed trials were resumed, once each',
      );

      // collected by the enqueuer: trials.csv, best/ downloaded from its run
      const trainDir = path.join(enqueuer, 'runs/queue-e2e/train');
      const csv = readFileSync(path.join(trainDir, 'trials.csv'), 'utf8').trim().split('\n');
      assert.equal(csv.length, 7, csv.join('\n'));
      const best = JSON.parse(readFileSync(path.join(trainDir, 'best/best.json'), 'utf8'));
      assert.ok(trials.some((r) => r.id === best.mlflow_run_id));
      assert.ok(existsSync(path.join(trainDir, 'best/model/model.json')));
      assert.ok(existsSync(path.join(trainDir, 'best/model/nerflow.json')));

      // meanwhile (in the time of the next two checks): a sweep one of whose trials hangs (the fault injection
      // above); its worker's watchdog (sweep.trial_timeout: 20) kills it, the attempt fails, BullMQ retries it
      const hangYaml = sweepYaml([5, 7])
        .replace('epochs: 6', 'epochs: 2')
        .replace('attempts: 3', 'attempts: 3\n  trial_timeout: 20')
        .replace('experiment: queue-e2e', 'experiment: queue-hang');
      for (const r of roots) writeFileSync(path.join(r, 'configs/queue-hang.yaml'), hangYaml);
      const hang = start(enqueuer, env, ['train', '--config', 'queue-hang.yaml', '--queue', redis.url]);
      logs.push(hang);

      // enqueue again: nothing new
      const again = start(enqueuer, env, ['train', '--config', 'queue-e2e.yaml', '--queue', redis.url, '--no-wait']);
      assert.equal(await again.closed, 0, again.err());
      assert.match(again.err(), /queued 0 new trial\(s\); already there: 6 completed/);

      // a new grid value (every checkout updated, as after a git pull): one trial queued, the sweep collected again under the same parent
      for (const r of roots)
        writeFileSync(path.join(r, 'configs/queue-e2e.yaml'), sweepYaml([6, 8, 10, 12, 14, 16, 18]));
      const more = start(enqueuer, env, ['train', '--config', 'queue-e2e.yaml', '--queue', redis.url]);
      logs.push(more);
      assert.equal(await more.closed, 0, more.err());
      assert.match(more.err(), /queued 1 new trial\(s\); already there: 6 completed/);
      const status = start(enqueuer, env, ['sweep', 'status', '--config', 'queue-e2e.yaml', '--queue', redis.url]);
      logs.push(status);
      assert.equal(await status.closed, 0, status.err());
      assert.match(status.err(), /7 trials: 7 done; best so far: t-[0-9a-f]+ val_entity_f1 0\.\d{4}/);
      const after = await mlflow.pythonJson<{ parents: number; children: number; running: number }>(`
import json
from mlflow.tracking import MlflowClient
c = MlflowClient()
exp = c.get_experiment_by_name('queue-e2e')
runs = c.search_runs([exp.experiment_id], max_results=1000)
ps = [r for r in runs if r.data.tags.get('nerflow.kind') == 'sweep']
print(json.dumps(dict(parents=len(ps), children=sum(1 for r in runs if r.data.tags.get('mlflow.parentRunId') == ps[0].info.run_id), running=sum(1 for r in runs if r.info.status == 'RUNNING'))))`);
      assert.deepEqual(after, { parents: 1, children: 7, running: 0 });
      mark('grid value added, collected, checked');

      // a trial that fails on every worker (here: its config is missing from the workers' checkouts) is tried
      // sweep.attempts times, then marked failed with its error; the sweep's parent run ends FAILED
      writeFileSync(
        path.join(enqueuer, 'configs/queue-broken.yaml'),
        sweepYaml([4, 5]).replace('attempts: 3', 'attempts: 2'),
      );
      const broken = start(enqueuer, env, ['train', '--config', 'queue-broken.yaml', '--queue', redis.url]);
      logs.push(broken);
      assert.equal(await broken.closed, 1, broken.err());
      assert.match(broken.err(), /t-[0-9a-f]+ failed after 2 attempt\(s\): .*queue-broken\.yaml/);
      assert.match(broken.err(), /error: train: 2 trial\(s\) failed every attempt/);
      const st = start(enqueuer, env, ['sweep', 'status', '--config', 'queue-broken.yaml', '--queue', redis.url]);
      logs.push(st);
      assert.equal(await st.closed, 0, st.err());
      assert.match(st.err(), /2 trials: 2 failed; best so far: none yet/);
      assert.match(st.err(), /failed .* 2 attempt\(s\): .*queue-broken\.yaml/);
      const statuses = await mlflow.pythonJson<string[]>(`
import json
from mlflow.tracking import MlflowClient
c = MlflowClient()
exp = c.get_experiment_by_name('queue-e2e')
print(json.dumps(sorted(r.info.status for r in c.search_runs([exp.experiment_id], max_results=1000) if r.data.tags.get('nerflow.config') == 'queue-broken')))`);
      assert.deepEqual(statuses, ['FAILED']);
      mark('failing sweep checked');

      const all = () => `${hang.err()}\n--- workers:\n${workers.map((w) => w.err()).join('\n---\n')}`;
      assert.equal(await hang.closed, 0, all());
      const workerLogs = workers.map((w) => w.err()).join('\n');
      const stall = new RegExp(
        "worker \\S+: (t-[0-9a-f]+): no progress for 20 s in tracking: logging the run's inputs " +
          '\\(runs/log-inputs, run (\\w+)\\) \\(trial timeout 20 s\\): killing its process \\d+',
      ).exec(workerLogs);
      assert.ok(stall, `the watchdog did not kill the hung trial:\n${all()}`);
      const [, hungTrial, hungRun] = stall;
      // before the kill, the trial said what it still waited on
      assert.match(
        workerLogs,
        new RegExp(`\\[${hungTrial}\\] train: diagnostics for the watchdog: active resources \\[`),
      );
      assert.match(
        workerLogs,
        new RegExp(`end ${hungTrial} failed \\(attempt 1/3\\) after \\S+: no progress for 20 s`),
      );
      assert.match(
        workerLogs,
        new RegExp(`start ${hungTrial} \\(lstm_units=\\d+\\) of sweep queue-hang-\\w+, attempt 2/3`),
      );
      assert.match(
        workerLogs,
        new RegExp(`\\[${hungTrial}\\] train: ${hungTrial}: reopened MLflow run ${hungRun} of an earlier attempt`),
      );
      mark('hung trial killed by the watchdog and retried');

      // fixed (the config reaches the workers' checkouts): --retry-failed queues the failed trials again with
      // fresh attempts, and the sweep's parent run is reopened and ends FINISHED
      for (const r of roots.slice(1))
        writeFileSync(
          path.join(r, 'configs/queue-broken.yaml'),
          sweepYaml([4, 5]).replace('attempts: 3', 'attempts: 2'),
        );
      const retried = start(enqueuer, env, [
        'train',
        '--config',
        'queue-broken.yaml',
        '--queue',
        redis.url,
        '--retry-failed',
      ]);
      logs.push(retried);
      assert.equal(await retried.closed, 0, retried.err());
      assert.match(retried.err(), /queued 0 new trial\(s\), 2 failed one\(s\) again/);
      const fixed = await mlflow.pythonJson<{
        broken: string[];
        hang: [string, string, string, string | null, number[]][];
      }>(`
import json
from mlflow.tracking import MlflowClient
c = MlflowClient()
exp = c.get_experiment_by_name('queue-e2e')
broken = sorted(r.data.tags.get('nerflow.kind') + ' ' + r.info.status
                for r in c.search_runs([exp.experiment_id], max_results=1000)
                if r.data.tags.get('nerflow.config') == 'queue-broken')
hang = [[r.info.run_id, r.data.tags.get('nerflow.kind'), r.info.status, r.data.tags.get('nerflow.resumes'),
         sorted(m.step for m in c.get_metric_history(r.info.run_id, 'loss'))]
        for r in c.search_runs([c.get_experiment_by_name('queue-hang').experiment_id], max_results=1000)]
print(json.dumps(dict(broken=broken, hang=hang)))`);
      assert.deepEqual(fixed.broken, ['sweep FINISHED', 'trial FINISHED', 'trial FINISHED']);
      // the hung trial: one run, reopened once, every epoch logged once; nothing left RUNNING
      const hangRuns = new Map(fixed.hang.map(([id, ...rest]) => [id, rest]));
      assert.deepEqual(hangRuns.get(hungRun), ['trial', 'FINISHED', '1', [1, 2]]);
      assert.deepEqual(fixed.hang.map(([, kind, status]) => `${kind} ${status}`).sort(), [
        'sweep FINISHED',
        'trial FINISHED',
        'trial FINISHED',
      ]);
      mark('failed trials retried');
    } finally {
      if (process.env.NERFLOW_E2E_LOG) {
        writeFileSync(
          process.env.NERFLOW_E2E_LOG,
          [...marks, `=== enqueuer`, enqueuerLog(), ...workers.map((w, i) => `=== worker ${i + 1}\n${w.err()}`)].join(
            '\n',
          ),
        );
      }
      for (const w of workers) if (w.p.exitCode === null && w.p.signalCode === null) process.kill(-w.p.pid!, 'SIGTERM');
      await Promise.all(workers.map((w) => Promise.race([w.closed, new Promise((r) => setTimeout(r, 10_000))])));
      for (const w of workers) if (w.p.exitCode === null && w.p.signalCode === null) process.kill(-w.p.pid!, 'SIGKILL');
      rmSync(base, { recursive: true, force: true });
    }
  }),
);

const pruneYaml = (name: string, rates: number[], pruner: string, epochs: number) => `extends: smoke.yaml
description: queue pruning e2e (${name})
data:
  limit_sentences: 1500
train:
  epochs: ${epochs}
  lstm_units: 12
  embedding_dim: 8
  early_stopping: { monitor: val_loss, patience: 50 }
sweep:
  method: grid
  params:
    train.optimizer.learning_rate: [${rates.join(', ')}]
  metric: val_loss
  goal: minimize
  pruner: ${pruner}
tracking:
  experiment: queue-prune
  registered_model: nerflow-queue-prune
`;

test(
  'queue: 2 workers; a trial is pruned by the median pruner, another by the halving pruner, from the histories ' +
    'other workers logged to MLflow; the collected best is scored on test and registered, champion moved only by a ' +
    'better test F1; Ctrl-C on the waiting enqueuer leaves collection to the last worker',
  // normally ~120 s with the machine's load at 10
  { skip: redisSkip || realMlflowSkip, timeout: 420_000 },
  withDeadline(360, async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'nerflow-queue-prune-'));
    const { redis, mlflow } = await services();
    const workers: Proc[] = [];
    try {
      const roots = [0, 1, 2].map((i) => copyWorkspace(path.join(base, `machine-${i}`)));
      // two learning trials first, then one that cannot learn (lr 1e-7): it reaches epoch 2 after the first
      // two did (they are taken first), and its val_loss is far above their median: pruned at epoch 2 or 3
      const median = '{ type: median, warmup_epochs: 1, min_trials: 2 }';
      for (const r of roots) {
        writeFileSync(path.join(r, 'configs/queue-prune.yaml'), pruneYaml('a', [0.02, 0.03, 1e-7], median, 5));
        // the halving pruner (rung at epoch 3): the trial that cannot learn, taken third, meets the other two's
        // epoch-3 values at its rung and is pruned there
        const halving = '{ type: halving, warmup_epochs: 1 }';
        writeFileSync(path.join(r, 'configs/queue-prune-b.yaml'), pruneYaml('b', [0.02, 0.03, 1e-7], halving, 3));
      }
      const env = { MLFLOW_TRACKING_URI: mlflow.uri, NERFLOW_QUEUE: '' };
      for (const r of roots.slice(1)) workers.push(start(r, env, ['worker', '--queue', redis.url], true));
      await until('two workers ready', () => workers.every((w) => /taking trials from/.test(w.err())), 120);
      const enqueuer = roots[0];
      const run = start(enqueuer, env, ['train', '--config', 'queue-prune.yaml', '--queue', redis.url]);
      const code = await run.closed;
      const all = () => `${run.err()}\n--- workers:\n${workers.map((w) => w.err()).join('\n---\n')}`;
      assert.equal(code, 0, all());

      const seen = await mlflow.pythonJson<{
        runs: { id: string; lr: string; status: string; worker: string; steps: number[]; test_f1: number | null }[];
        versions: { version: string; run_id: string; f1: string }[];
        champion: string | null;
      }>(`
import json
from mlflow.tracking import MlflowClient
c = MlflowClient()
exp = c.get_experiment_by_name('queue-prune')
runs = []
for r in c.search_runs([exp.experiment_id], max_results=1000):
    t = r.data.tags
    if t.get('nerflow.kind') != 'trial': continue
    steps = sorted(m.step for m in c.get_metric_history(r.info.run_id, 'val_loss'))
    runs.append(dict(id=r.info.run_id, lr=r.data.params['train.optimizer.learning_rate'],
                     status=t.get('nerflow.status'),
                     worker=t.get('nerflow.worker'), steps=steps, test_f1=r.data.metrics.get('test_entity_f1')))
vs = [dict(version=v.version, run_id=v.run_id, f1=v.tags.get('nerflow.test_entity_f1'))
      for v in c.search_model_versions("name='nerflow-queue-prune'")]
champ = c.get_model_version_by_alias('nerflow-queue-prune', 'champion').version if vs else None
print(json.dumps(dict(runs=runs, versions=vs, champion=champ)))`);
      const bad = seen.runs.find((r) => Number(r.lr) < 1e-6)!;
      const good = seen.runs.filter((r) => r !== bad);
      assert.equal(seen.runs.length, 3, all());
      assert.equal(bad.status, 'pruned', `the lr 1e-7 trial was not pruned:\n${all()}`);
      assert.ok(bad.steps.length >= 2 && bad.steps.length < 5, `pruned after epoch 2..4: ${bad.steps}`);
      for (const g of good) assert.deepEqual([g.status, g.steps], ['finished', [1, 2, 3, 4, 5]]);
      // each worker has a workspace of its own: what the pruner compared with came from the tracking server,
      // and at least one of those histories was logged by the other worker
      assert.equal(new Set(seen.runs.map((r) => r.worker)).size, 2, 'both workers trained');
      assert.ok(good.some((g) => g.worker !== bad.worker));
      assert.match(all(), /pruned after epoch \d \(val_loss \d+\.\d+ is worse than the other trials\)/);

      // collection: the best trial (lowest val_loss) scored on test, logged to its run, registered as the
      // first version of the model, champion
      const best = JSON.parse(readFileSync(path.join(enqueuer, 'runs/queue-prune/train/best/best.json'), 'utf8'));
      const report = JSON.parse(
        readFileSync(path.join(enqueuer, 'runs/queue-prune/evaluate/best/report.json'), 'utf8'),
      );
      assert.equal(report.trial, best.trial);
      const bestRun = seen.runs.find((r) => r.id === best.mlflow_run_id)!;
      assert.ok(good.includes(bestRun), 'the best trial is a learning one');
      assert.equal(bestRun.test_f1, report.entity.micro.f1, 'test entity F1 logged to the best run');
      assert.deepEqual(
        seen.versions.map((v) => [v.version, v.run_id, Number(v.f1)]),
        [['1', bestRun.id, report.entity.micro.f1]],
      );
      assert.equal(seen.champion, '1');
      assert.match(run.err(), /registered nerflow-queue-prune version 1 \(test entity F1 \d\.\d{4}\) → now @champion/);

      // collected again (enqueue with nothing new): the same best run is not registered twice
      const again = start(enqueuer, env, ['train', '--config', 'queue-prune.yaml', '--queue', redis.url]);
      assert.equal(await again.closed, 0, again.err());
      assert.match(again.err(), /already registered as nerflow-queue-prune version 1/);

      // another sweep into the same registered model (the halving pruner, above); its enqueuer is stopped with
      // Ctrl-C while it waits: the trials go on, and the worker that finishes the last one collects the sweep on
      // its machine, scores the best on test and registers version 2; champion moves to it only if its test
      // entity F1 beats version 1's
      const other = start(enqueuer, env, ['train', '--config', 'queue-prune-b.yaml', '--queue', redis.url]);
      await until('the enqueuer waiting', () => /waiting for 3 trial\(s\) on the queue/.test(other.err()), 120);
      other.p.kill('SIGINT');
      // 130, or death by SIGINT (what the shell shows as 130): tracking's signal handling re-raises the signal
      assert.ok([130, 'SIGINT'].includes((await other.closed)!), other.err());
      assert.match(
        other.err(),
        /stopped waiting; the trials go on on the workers, and the last one to finish collects/,
      );
      assert.doesNotMatch(other.err(), /collecting the sweep/);
      // it stopped waiting before it died: workers no longer leave collection to it
      const sweepB = /train: sweep (queue-prune-b-\w+) on /.exec(other.err())![1];
      assert.equal(await redisCommand(redis.port, `EXISTS nerflow:sweep:${sweepB}:waiter`), ':0');
      const collector = () => workers.find((w) => /collected sweep queue-prune-b-/.test(w.err()));
      await until('a worker collecting queue-prune-b', () => !!collector(), 300).catch((e: Error) => {
        throw new Error(`${e.message}\n${other.err()}\n${all()}`);
      });
      const after = await mlflow.pythonJson<{
        versions: [string, number][];
        champion: string;
        b: { lr: string; status: string; worker: string; steps: number[] }[];
      }>(`
import json
from mlflow.tracking import MlflowClient
c = MlflowClient()
name = 'nerflow-queue-prune'
vs = sorted((v.version, float(v.tags['nerflow.test_entity_f1'])) for v in c.search_model_versions(f"name='{name}'"))
exp = c.get_experiment_by_name('queue-prune')
b = [dict(lr=r.data.params['train.optimizer.learning_rate'], status=r.data.tags.get('nerflow.status'),
          worker=r.data.tags.get('nerflow.worker'),
          steps=sorted(m.step for m in c.get_metric_history(r.info.run_id, 'val_loss')))
     for r in c.search_runs([exp.experiment_id], max_results=1000)
     if r.data.tags.get('nerflow.config') == 'queue-prune-b' and r.data.tags.get('nerflow.kind') == 'trial']
print(json.dumps(dict(versions=vs, champion=c.get_model_version_by_alias(name, 'champion').version, b=b)))`);
      // halving across workers: the lr 1e-7 trial pruned at its rung (epoch 3) from the histories on the server,
      // at least one of them logged by the other worker
      const badB = after.b.find((r) => Number(r.lr) < 1e-6)!;
      assert.equal(after.b.length, 3, JSON.stringify(after.b));
      assert.deepEqual([badB.status, badB.steps], ['pruned', [1, 2, 3]], `halving did not prune:\n${all()}`);
      assert.ok(after.b.some((r) => r !== badB && r.worker !== badB.worker));
      assert.equal(new Set(after.b.map((r) => r.worker)).size, 2, 'both workers trained');
      assert.deepEqual(
        after.versions.map(([v]) => v),
        ['1', '2'],
      );
      const [[, f1a], [, f1b]] = after.versions;
      assert.equal(after.champion, f1b > f1a ? '2' : '1', `champion: v1 F1 ${f1a}, v2 F1 ${f1b}`);
      assert.match(
        collector()!.err(),
        f1b > f1a
          ? /registered nerflow-queue-prune version 2 .* → now @champion/
          : /version 2 .*@champion stays at version 1/,
      );
      const machine = roots[1 + workers.indexOf(collector()!)];
      assert.ok(
        existsSync(path.join(machine, 'runs/queue-prune-b/evaluate/best/report.json')),
        'scored on its machine',
      );
    } finally {
      for (const w of workers) if (w.p.exitCode === null && w.p.signalCode === null) process.kill(-w.p.pid!, 'SIGTERM');
      await Promise.all(workers.map((w) => Promise.race([w.closed, new Promise((r) => setTimeout(r, 10_000))])));
      for (const w of workers) if (w.p.exitCode === null && w.p.signalCode === null) process.kill(-w.p.pid!, 'SIGKILL');
      rmSync(base, { recursive: true, force: true });
    }
  }),
);

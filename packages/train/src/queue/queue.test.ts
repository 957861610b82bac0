import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { EnvironmentError, loadConfig, silentLogger, ValidationError, type StageContext } from '@nerflow/core';
import { Worker } from 'bullmq';
import { activeRun, FileStore, openStore } from '@nerflow/tracking';
import { startFakeMlflowServer } from '../../../tracking/src/test-helpers/fake-mlflow-server.js';
import { expandTrials } from '../sweep.js';
import { collectSweep } from './collect.js';
import { openQueue, QUEUE_NAME, redisConnection, resolveQueueUrl } from './connection.js';
import { enqueueSweep, readSweepRecord } from './enqueue.js';
import { sweepKey, trialJobId, type TrialJobData, type TrialJobResult } from './identity.js';
import { downloadCheckpoint, QUEUE_TAGS, trackedHistories, uploadCheckpoint } from './trial-job.js';
import { redisSkip, startRedis } from './test-helpers/redis-server.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A workspace with configs/q.yaml (a grid over lstm_units) and a ctx for it. */
function workspace(units: number[], extra = ''): StageContext {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-queue-'));
  dirs.push(root);
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'nx.json'), '{}');
  writeFileSync(
    path.join(root, 'configs/q.yaml'),
    `train:\n  epochs: 2\n${extra}sweep:\n  params:\n    train.lstm_units: [${units.join(', ')}]\n`,
  );
  return { config: loadConfig('q.yaml', { root }), root, log: silentLogger, force: false };
}

test('job ids: the same trial keeps its id when a grid value is added; another setting or code is a new job; the sweep key ignores the grid', () => {
  const a = workspace([8, 16]);
  const ids = (ctx: StageContext, code = 'c1') =>
    expandTrials(ctx.config).map((t) =>
      trialJobId(sweepKey(ctx.config, ctx.root, 'http://m', 'e'), t, ctx.config, ctx.root, code),
    );
  const before = ids(a);
  assert.equal(new Set(before).size, 2);
  assert.match(before[0], /^q-[0-9a-f]{8}\.t-[0-9a-f]{10}\.[0-9a-f]{10}$/);
  writeFileSync(
    path.join(a.root, 'configs/q.yaml'),
    'train:\n  epochs: 2\nsweep:\n  params:\n    train.lstm_units: [8, 16, 32]\n',
  );
  const grown = { ...a, config: loadConfig('q.yaml', { root: a.root }) };
  assert.deepEqual(ids(grown).slice(0, 2), before, 'existing trials keep their job ids');
  assert.equal(sweepKey(grown.config, a.root, 'http://m', 'e'), sweepKey(a.config, a.root, 'http://m', 'e'));
  assert.notDeepEqual(ids(a, 'c2'), before, 'new code: new jobs');
  writeFileSync(
    path.join(a.root, 'configs/q.yaml'),
    'train:\n  epochs: 3\nsweep:\n  params:\n    train.lstm_units: [8, 16]\n',
  );
  assert.notDeepEqual(
    ids({ ...a, config: loadConfig('q.yaml', { root: a.root }) }),
    before,
    'another epoch count: new jobs',
  );
  assert.notEqual(
    sweepKey(a.config, a.root, 'http://other', 'e'),
    sweepKey(a.config, a.root, 'http://m', 'e'),
    'another tracking server: another sweep',
  );
});

test('queue URLs: redis://[user:pw@]host:port/db parsed; anything else is a user error naming it; --queue beats NERFLOW_QUEUE beats sweep.queue', () => {
  assert.deepEqual(
    (({ host, port, db, username, password }) => ({ host, port, db, username, password }))(
      redisConnection('redis://u:p%40ss@10.0.0.5:6380/2'),
    ),
    { host: '10.0.0.5', port: 6380, db: 2, username: 'u', password: 'p@ss' },
  );
  assert.equal(redisConnection('redis://h').port, 6379);
  assert.throws(
    () => redisConnection('http://h:6379'),
    (e: Error) => e instanceof ValidationError && /http:\/\/h:6379: not a Redis URL/.test(e.message),
  );
  assert.throws(() => redisConnection('redis://h:6379/x'), /database after the port must be a number/);
  assert.equal(resolveQueueUrl('redis://a', 'redis://c', { NERFLOW_QUEUE: 'redis://b' }), 'redis://a');
  assert.equal(resolveQueueUrl(undefined, 'redis://c', { NERFLOW_QUEUE: 'redis://b' }), 'redis://b');
  assert.equal(resolveQueueUrl(undefined, 'redis://c', {}), 'redis://c');
  assert.equal(resolveQueueUrl(undefined, null, {}), null);
  const ctx = workspace([8]);
  writeFileSync(path.join(ctx.root, 'configs/bad.yaml'), 'sweep:\n  queue: localhost:6379\n');
  assert.throws(() => loadConfig('bad.yaml', { root: ctx.root }), /sweep\.queue[\s\S]*redis:\/\/host:port\/db/);
});

test('a Redis that does not answer is an environment error naming the URL and how to start one', async () => {
  const url = 'redis://127.0.0.1:1/0';
  await assert.rejects(
    openQueue(url),
    (e: Error) =>
      e instanceof EnvironmentError &&
      e.message.includes(`queue ${url}: cannot reach Redis`) &&
      e.message.includes('redis-server --port 6379'),
  );
});

test('pruning across workers reads the other runs of the sweep from the tracking store: same sweep, current fingerprints, not itself', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-queue-store-'));
  dirs.push(root);
  const store = new FileStore(root);
  const exp = await store.getOrCreateExperiment('x');
  const make = async (sweep: string, fp: string, values: number[]) => {
    const r = await store.createRun({
      experimentId: exp,
      tags: { [QUEUE_TAGS.sweep]: sweep, [QUEUE_TAGS.fingerprint]: fp },
    });
    // logged out of order: the history is by step
    await store.logBatch(r.run_id, {
      metrics: values.map((value, i) => ({ key: 'val_entity_f1', value, step: i + 1, timestamp: 1000 - i })).reverse(),
    });
    return r.run_id;
  };
  const self = await make('s1', 'fp-a', [0.1]);
  await make('s1', 'fp-b', [0.5, 0.6, 0.7]);
  await make('s1', 'fp-old', [0.9]); // an earlier version of the sweep's settings or code
  await make('s2', 'fp-b', [0.8]); // another sweep
  const h = await trackedHistories(store, exp, 's1', new Set(['fp-a', 'fp-b']), self, 'val_entity_f1');
  assert.deepEqual(h, [[0.5, 0.6, 0.7]]);
});

test(
  'enqueue on a real Redis: every trial once by job id; again adds nothing; a new grid value adds one; one parent run kept',
  { skip: redisSkip },
  async () => {
    const redis = await startRedis();
    const mlflow = await startFakeMlflowServer();
    const env = process.env.MLFLOW_TRACKING_URI;
    process.env.MLFLOW_TRACKING_URI = mlflow.url;
    try {
      const ctx = workspace([8, 16, 32]);
      const q = await openQueue(redis.url);
      try {
        const first = await enqueueSweep(ctx, q);
        assert.equal(first.added.length, 3);
        assert.ok(first.parentRunId);
        const again = await enqueueSweep(ctx, q);
        assert.deepEqual(again.added, []);
        assert.deepEqual(
          again.existing.map((e) => e.state),
          ['waiting', 'waiting', 'waiting'],
        );
        assert.equal(again.parentRunId, first.parentRunId);
        writeFileSync(
          path.join(ctx.root, 'configs/q.yaml'),
          'train:\n  epochs: 2\nsweep:\n  params:\n    train.lstm_units: [8, 16, 32, 64]\n',
        );
        const grown = await enqueueSweep({ ...ctx, config: loadConfig('q.yaml', { root: ctx.root }) }, q);
        assert.equal(grown.added.length, 1);
        assert.equal(grown.parentRunId, first.parentRunId);
        assert.equal(await q.queue.count(), 4);
        const job = (await q.queue.getJob((await readSweepRecord(q, first.sweep))!.trials[3].jobId))!;
        assert.equal(job.opts.attempts, 3, 'sweep.attempts (default 3) bounds the retries');
        assert.equal(job.data.trackingUri, mlflow.url);
        assert.equal(job.data.config, 'configs/q.yaml');
        const parents = [...mlflow.runs.values()].filter((r) => r.tags.get('nerflow.kind') === 'sweep');
        assert.equal(parents.length, 1);
      } finally {
        await q.close();
      }
      // a local tracking store cannot be shared by workers on other machines
      process.env.MLFLOW_TRACKING_URI = '';
      const q2 = await openQueue(redis.url);
      try {
        await assert.rejects(
          enqueueSweep(workspace([8, 16]), q2),
          /a queued sweep logs to an MLflow tracking server[\s\S]*MLFLOW_TRACKING_URI/,
        );
      } finally {
        await q2.close();
      }
    } finally {
      if (env === undefined) delete process.env.MLFLOW_TRACKING_URI;
      else process.env.MLFLOW_TRACKING_URI = env;
      await mlflow.close();
      await redis.stop();
    }
  },
);

test('checkpoints in the run: two slots and a pointer; best/ is uploaded only when it is not last/ without the optimizer state', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-queue-ckpt-'));
  dirs.push(root);
  const store = new FileStore(path.join(root, 'mlruns'));
  const exp = await store.getOrCreateExperiment('x');
  const run = activeRun(store, (await store.createRun({ experimentId: exp })).run_id, exp);
  const work = path.join(root, 'work');
  const save = (dir: string, weights: string, optimizer: boolean) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'model.json'), '{"m":1}');
    writeFileSync(path.join(dir, 'weights.bin'), weights);
    if (optimizer) writeFileSync(path.join(dir, 'optimizer.bin'), `adam-${weights}`);
  };
  // epoch 1 improved: best/ = last/ without the optimizer
  save(path.join(work, 'last'), 'w1', true);
  save(path.join(work, 'best'), 'w1', false);
  writeFileSync(path.join(work, 'state.json'), '{"epochsDone":1}');
  await uploadCheckpoint(run, work, 1);
  assert.deepEqual(
    (await store.listArtifacts(run.runId, 'checkpoint/a')).map((a) => a.path),
    ['checkpoint/a/last', 'checkpoint/a/state.json'],
  );
  // epoch 2 did not improve: best/ stays w1 and goes into slot b
  save(path.join(work, 'last'), 'w2', true);
  writeFileSync(path.join(work, 'state.json'), '{"epochsDone":2}');
  await uploadCheckpoint(run, work, 2);
  assert.ok((await store.listArtifacts(run.runId, 'checkpoint/b')).some((a) => a.path === 'checkpoint/b/best'));
  const back = path.join(root, 'back');
  assert.equal(await downloadCheckpoint(store, run.runId, back), 2);
  assert.equal(readFileSync(path.join(back, 'last/weights.bin'), 'utf8'), 'w2');
  assert.equal(readFileSync(path.join(back, 'best/weights.bin'), 'utf8'), 'w1');
  assert.equal(readFileSync(path.join(back, 'state.json'), 'utf8'), '{"epochsDone":2}');
  // epoch 3 improved: slot a again; its stale best/ (none here) is ignored and best/ is rebuilt from last/
  save(path.join(work, 'last'), 'w3', true);
  save(path.join(work, 'best'), 'w3', false);
  await uploadCheckpoint(run, work, 3);
  const again = path.join(root, 'again');
  assert.equal(await downloadCheckpoint(store, run.runId, again), 3);
  assert.equal(readFileSync(path.join(again, 'best/weights.bin'), 'utf8'), 'w3');
  assert.ok(!existsSync(path.join(again, 'best/optimizer.bin')), 'best/ has no optimizer state');
  assert.ok(existsSync(path.join(again, 'last/optimizer.bin')));
  // a run without a checkpoint (killed in its first epoch)
  const fresh = activeRun(store, (await store.createRun({ experimentId: exp })).run_id, exp);
  assert.equal(await downloadCheckpoint(store, fresh.runId, path.join(root, 'none')), 0);
});

test(
  'collection when the last two trials end together on two workers: each looks; the sweep is collected exactly once',
  { skip: redisSkip },
  async () => {
    const redis = await startRedis();
    const mlflow = await startFakeMlflowServer();
    const env = process.env.MLFLOW_TRACKING_URI;
    process.env.MLFLOW_TRACKING_URI = mlflow.url;
    const q = await openQueue(redis.url);
    const worker = new Worker<TrialJobData, TrialJobResult>(
      QUEUE_NAME,
      async (job) => {
        const store = openStore({ uri: job.data.trackingUri });
        const exp = await store.getOrCreateExperiment(job.data.experiment);
        const run = await store.createRun({ experimentId: exp });
        // both trials end at the same moment, as two 1-epoch trials started together on two workers
        await started.then(() => new Promise((r) => setTimeout(r, 50)));
        return {
          runId: run.run_id,
          status: 'finished',
          epochs: 1,
          bestEpoch: 1,
          bestValue: null,
          metric: null,
          metricName: 'val_entity_f1',
          seconds: 0,
          worker: `w${job.id}`,
        };
      },
      { connection: redisConnection(redis.url, true), concurrency: 2, autorun: false },
    );
    let release!: () => void;
    const started = new Promise<void>((r) => (release = r));
    try {
      const ctx = workspace([8, 16]);
      const { sweep } = await enqueueSweep(ctx, q);
      // a look at a sweep not drained takes no lock: a lock held means its holder saw the sweep drained and
      // collects (a look holding it while a trial still ran made the last trial's worker give up: nobody collected)
      const set = q.redis.set.bind(q.redis);
      const locked: string[] = [];
      q.redis.set = ((...a: Parameters<typeof set>) => (locked.push(String(a[0])), set(...a))) as typeof q.redis.set;
      assert.equal(await collectSweep(ctx, q, sweep, {}, { ifUncollected: true }), null);
      assert.deepEqual(locked, []);
      q.redis.set = set;
      const looks: Promise<unknown>[] = [];
      // each worker looks when its own trial completes (worker.ts maybeCollect)
      worker.on('completed', () => looks.push(collectSweep(ctx, q, sweep, {}, { ifUncollected: true })));
      worker.on('active', () => {
        if (++active === 2) release();
      });
      let active = 0;
      void worker.run();
      await until(() => looks.length === 2);
      const results = await Promise.all(looks);
      assert.equal(results.filter(Boolean).length, 1, 'collected once, by one of the two');
      assert.ok(existsSync(path.join(ctx.root, 'runs/q/train/trials.csv')));
      // a worker that looks again later (another trial of another sweep ended) finds nothing new to collect
      assert.equal(await collectSweep(ctx, q, sweep, {}, { ifUncollected: true }), null);
    } finally {
      await worker.close();
      await q.close();
      if (env === undefined) delete process.env.MLFLOW_TRACKING_URI;
      else process.env.MLFLOW_TRACKING_URI = env;
      await mlflow.close();
      await redis.stop();
    }
  },
);

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 300) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

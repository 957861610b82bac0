import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Job } from 'bullmq';
import { fmtSeconds, repoRoot, usableCores, type Logger, type StageContext } from '@nerflow/core';
import { collectSweep, type CollectHooks } from './collect.js';
import { openQueue, QUEUE_NAME, redisConnection } from './connection.js';
import { readSweepRecord } from './enqueue.js';
import { sweepKeys, workerName, type TrialJobData, type TrialJobProgress, type TrialJobResult } from './identity.js';
import { DEFAULT_TRIAL_TIMEOUT_S, Watchdog } from './watchdog.js';

export interface WorkerOptions {
  url: string;
  /** Trials this worker trains at once (each in its own process). */
  concurrency: number;
  log: Logger;
  /** Load a job's config in this checkout (the CLI's stage context). */
  context: (config: string, overrides: string[]) => StageContext;
  /** Make the trial's inputs current: ingest and featurize (no-ops when their fingerprints match). */
  prepare: (ctx: StageContext) => Promise<void>;
  hooks?: CollectHooks;
  /**
   * How long a job's lock lives without renewal (BullMQ lockDuration), seconds: a worker that dies holds its
   * trial this long before another worker takes it. Default 30.
   */
  lockSeconds?: number;
  /**
   * Seconds a trial process may go without progress (watchdog.ts) before it is killed and the attempt fails;
   * overrides the job's sweep.trial_timeout. Default: the job's, else DEFAULT_TRIAL_TIMEOUT_S (900).
   */
  trialTimeout?: number;
  /** Extra arguments for the trial process (--verbose, --quiet). */
  childArgs?: string[];
}

export interface RunningWorker {
  name: string;
  /** Stop: running trials are ended KILLED and go back to the queue (another worker resumes them). */
  close(): Promise<void>;
  /** Resolves when the worker has closed. */
  closed: Promise<void>;
}

/**
 * `nerflow worker`: take trials from the queue and train each in a child process (`nerflow queue-trial`), so
 * this process stays free to renew the job's lock while the kernel trains. A job that throws is retried (its
 * attempts are bounded by sweep.attempts) and resumes its run from the last checkpoint; a worker that dies
 * leaves its job stalled, and BullMQ hands it to another worker once the lock expired.
 */
export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const name = workerName();
  const { log } = o;
  const children = new Set<ChildProcess>();
  const prepared = new Map<string, Promise<void>>();
  const bin = path.join(repoRoot(), 'packages/cli/bin/nerflow.js');
  const lockDuration = (o.lockSeconds ?? 30) * 1000;

  // one prepare at a time per config: two trials of one config must not featurize into the same folder at once
  const prepare = (ctx: StageContext) => {
    const key = `${ctx.config.file}\0${ctx.config.overrides.join('\0')}`;
    const next = (prepared.get(key) ?? Promise.resolve()).catch(() => undefined).then(() => o.prepare(ctx));
    prepared.set(key, next);
    return next;
  };

  const processor = async (job: Job<TrialJobData, TrialJobResult>): Promise<TrialJobResult> => {
    const d = job.data;
    const attempt = `attempt ${job.attemptsMade + 1}/${job.opts.attempts ?? 1}`;
    log.info(`worker ${name}: start ${d.trial} (${d.label}) of sweep ${d.sweep}, ${attempt}`);
    const t0 = performance.now();
    await job.updateProgress({ worker: name } satisfies TrialJobProgress);
    let ctx: StageContext;
    try {
      ctx = o.context(d.config, d.overrides);
      await prepare(ctx);
    } catch (e) {
      // this checkout cannot run the trial (config missing or different, data missing): another attempt may
      const why = (e as Error).message;
      log.warn(`worker ${name}: end ${d.trial} failed (${attempt}) before training: ${why}`);
      throw new Error(`on ${name}: ${why}`);
    }
    let result: TrialJobResult | null = null;
    let tail: string[] = [];
    const timeout = o.trialTimeout ?? d.trialTimeout ?? DEFAULT_TRIAL_TIMEOUT_S;
    let watchdog: Watchdog | null = null;
    const code = await new Promise<number | string | null>((resolve) => {
      const args = [bin, 'queue-trial', '--job-id', job.id!, '--job', JSON.stringify(d), ...(o.childArgs ?? [])];
      const child = spawn(process.execPath, args, {
        stdio: ['pipe', 'inherit', 'pipe', 'ipc'],
        // each of `concurrency` trials plans its kernel threads for its share of the cores (train.threads auto)
        env: {
          ...process.env,
          NERFLOW_ROOT: ctx.root,
          NERFLOW_WORKER_NAME: name,
          MLFLOW_TRACKING_URI: d.trackingUri,
          NERFLOW_CPUS: String(Math.max(1, Math.floor(usableCores() / Math.max(1, o.concurrency)))),
        },
      });
      children.add(child);
      // a trial that makes no progress (a promise that never settles, a deadlock) is killed: the attempt fails
      // and BullMQ tries again; SIGTERM ends its run KILLED when it can, SIGKILL 5 s later in any case
      watchdog = new Watchdog(timeout, 'start-up (no "started" handshake from the trial process yet)', (why) => {
        log.warn(`worker ${name}: ${d.trial}: ${why} (trial timeout ${timeout} s): killing its process ${child.pid}`);
        // first its diagnostics (SIGUSR2: what it still waits on, into its output), then SIGTERM, SIGKILL
        const alive = () => child.exitCode === null && child.signalCode === null;
        child.kill('SIGUSR2');
        setTimeout(() => alive() && child.kill('SIGTERM'), 1000).unref();
        setTimeout(() => alive() && child.kill('SIGKILL'), 6000).unref();
      });
      let buf = '';
      child.stderr!.on('data', (chunk) => {
        buf += chunk;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          if (!l.trim()) continue;
          const line = l.replace(/\r/g, '');
          process.stderr.write(`[${d.trial}] ${line}\n`);
          tail = [...tail, line].slice(-12);
        }
      });
      child.on(
        'message',
        (m: { type: string; stage?: string; progress?: Omit<TrialJobProgress, 'worker'>; result?: TrialJobResult }) => {
          watchdog?.beat(m.type === 'beat' ? m.stage : undefined);
          if (m.type === 'progress')
            void job.updateProgress({ worker: name, ...m.progress } satisfies TrialJobProgress).catch(() => undefined);
          if (m.type === 'result' && m.result) result = m.result;
        },
      );
      child.on('close', (c, signal) => {
        watchdog?.stop();
        children.delete(child);
        resolve(signal ?? c);
      });
    });
    const took = fmtSeconds((performance.now() - t0) / 1000);
    if (code === 0 && result) {
      const r: TrialJobResult = result;
      log.info(
        `worker ${name}: end ${d.trial} ${r.status} after ${r.epochs} epoch(s) in ${took}; best ${r.metricName} ${r.metric?.toFixed(4) ?? '-'} (MLflow run ${r.runId})`,
      );
      return r;
    }
    const stalled = (watchdog as Watchdog | null)?.stalled;
    if (stalled) {
      log.warn(`worker ${name}: end ${d.trial} failed (${attempt}) after ${took}: ${stalled}`);
      throw new Error(`${stalled} on ${name} (trial timeout ${timeout} s; its last output: ${tail.at(-1) ?? 'none'})`);
    }
    const why = tail.filter((l) => /error|Error/.test(l)).at(-1) ?? tail.at(-1) ?? 'no output';
    log.warn(
      `worker ${name}: end ${d.trial} failed (${attempt}, ${typeof code === 'string' ? `killed by ${code}` : `exit ${code}`}) after ${took}: ${why}`,
    );
    throw new Error(`${typeof code === 'string' ? `killed by ${code}` : `exit ${code}`} on ${name}: ${why}`);
  };

  const { Worker } = await import('bullmq'); // loaded by a worker only (connection.ts)
  const worker = new Worker<TrialJobData, TrialJobResult>(QUEUE_NAME, processor, {
    connection: redisConnection(o.url, true),
    concurrency: o.concurrency,
    lockDuration,
    stalledInterval: lockDuration,
    // a worker that died (killed, machine gone) leaves its trial stalled; allow as many as attempts
    maxStalledCount: 5,
    autorun: false,
  });
  worker.on('error', (e) => log.warn(`worker ${name}: Redis: ${e.message}`));

  // one connection for the sweep records and collection, for the worker's life (not one per job: a Queue
  // closed while it still connects emits an error nobody can catch)
  const q = await openQueue(o.url);
  // the last trial of a sweep done and nobody waiting for it: collect the sweep here
  const maybeCollect = async (job: Job<TrialJobData, TrialJobResult> | undefined) => {
    if (!job) return;
    try {
      if (await q.redis.exists(sweepKeys(job.data.sweep).waiter)) return;
      const record = await readSweepRecord(q, job.data.sweep);
      if (!record) return;
      const ctx = o.context(record.config, record.overrides);
      const done = await collectSweep(ctx, q, job.data.sweep, o.hooks, { ifUncollected: true });
      if (done)
        log.info(
          `worker ${name}: collected sweep ${job.data.sweep} (${done.summaries.length} trials${done.failed.length ? `, ${done.failed.length} failed` : ''})`,
        );
    } catch (e) {
      log.warn(`worker ${name}: could not collect sweep ${job.data.sweep}: ${(e as Error).message}`);
    }
  };
  worker.on('completed', (job) => void maybeCollect(job));
  worker.on('failed', (job) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) void maybeCollect(job);
  });

  await worker.waitUntilReady();
  const closed = worker.run();
  log.info(
    `worker ${name}: taking trials from ${o.url} (queue ${QUEUE_NAME}, ${o.concurrency} at a time); Ctrl-C stops`,
  );
  return {
    name,
    closed: closed.then(() => undefined),
    async close() {
      for (const c of children) c.kill('SIGTERM');
      await worker.close(true);
      await q.close();
    },
  };
}

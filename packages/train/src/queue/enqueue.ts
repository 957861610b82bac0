import type { Job } from 'bullmq';
import { ExitError, fmtSeconds, hashValue, runsRoot, ValidationError, type StageContext } from '@nerflow/core';
import {
  flattenParams,
  guardRun,
  openStore,
  resolveExperimentName,
  resolveTrackingUri,
  resumeRun,
  startRun,
} from '@nerflow/tracking';
import { expandTrials, trialLabel } from '../sweep.js';
import { trainCodeVersion } from '../train.js';
import { collectSweep, type CollectHooks } from './collect.js';
import { openQueue, type QueueHandle } from './connection.js';
import {
  configRef,
  sweepKey,
  sweepKeys,
  trialJobId,
  type SweepRecord,
  type TrialJobData,
  type TrialJobProgress,
  type TrialJobResult,
} from './identity.js';

export interface QueueTrainOptions {
  /** redis://host:port/db */
  url: string;
  /** Wait for the trials and collect the sweep (default); false returns once they are queued. */
  wait?: boolean;
  /** Queue again the trials that failed every attempt earlier. */
  retryFailed?: boolean;
  hooks?: CollectHooks;
  /** Seconds between looks at the queue while waiting (default 1). */
  pollSeconds?: number;
}

export interface EnqueueResult {
  sweep: string;
  added: string[];
  existing: { trial: string; state: string }[];
  retried: string[];
  parentRunId: string;
}

/** The sweep's record in Redis, or null. */
export async function readSweepRecord(q: QueueHandle, sweep: string): Promise<SweepRecord | null> {
  const text = await q.redis.get(sweepKeys(sweep).record);
  return text ? (JSON.parse(text) as SweepRecord) : null;
}

/** The tracking server every worker logs to: a queued sweep needs one (workers on other machines cannot reach a local folder). */
export function queueTrackingUri(ctx: StageContext): string {
  const uri = resolveTrackingUri({ uri: ctx.config.tracking.uri, root: runsRoot(ctx.root) });
  if (!/^https?:\/\//i.test(uri)) {
    throw new ValidationError(
      `${ctx.config.file}: a queued sweep logs to an MLflow tracking server that every worker reaches, but the tracking URI is ${uri}. ` +
        'Set tracking.uri or MLFLOW_TRACKING_URI to http://host:port (start one with `mlflow server --host 0.0.0.0 --port 5000`).',
    );
  }
  return uri;
}

/**
 * Put every trial of the config on the queue, by job id (see trialJobId): a trial already queued, running or
 * done is not added again. The sweep's MLflow parent run is opened here (or reopened when new trials join a
 * collected sweep), so every trial's run is its child from the start.
 */
export async function enqueueSweep(
  ctx: StageContext,
  q: QueueHandle,
  o: { retryFailed?: boolean } = {},
): Promise<EnqueueResult> {
  const { config, root } = ctx;
  if (ctx.force) {
    throw new ValidationError(
      '--force with a queue: a queued trial is identified by its settings, data and code, and one that is done stays done. ' +
        'To train again, change a setting (e.g. train.seed), or train here without the queue.',
    );
  }
  const trackingUri = queueTrackingUri(ctx);
  const experiment = resolveExperimentName(config.tracking.experiment);
  const sweep = sweepKey(config, root, trackingUri, experiment);
  const code = await trainCodeVersion();
  const trials = expandTrials(config);
  const jobs = trials.map((t) => ({ t, jobId: trialJobId(sweep, t, config, root, code) }));
  const store = openStore({ uri: trackingUri });
  const experimentId = await store.getOrCreateExperiment(experiment);
  const { queue, redis } = q;
  const keys = sweepKeys(sweep);
  const old = await readSweepRecord(q, sweep);

  const existing: EnqueueResult['existing'] = [];
  const retried: string[] = [];
  const fresh: typeof jobs = [];
  for (const j of jobs) {
    const job = await queue.getJob(j.jobId);
    if (!job) {
      fresh.push(j);
      continue;
    }
    const state = await job.getState();
    if (state === 'failed' && o.retryFailed) {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      retried.push(j.t.id);
    } else existing.push({ trial: j.t.id, state });
  }

  // the parent run: one per sweep, kept across enqueues; reopened when trials are added to a finished sweep
  let parentRunId = '';
  if (trials.length > 1) {
    const parent = old?.parentRunId ? await store.getRun(old.parentRunId).catch(() => null) : null;
    if (parent && parent.info.lifecycle_stage === 'active') {
      parentRunId = parent.info.run_id;
      if (parent.info.status !== 'RUNNING' && (fresh.length || retried.length))
        await resumeRun(store, parent.info.run_id);
    } else {
      const run = await startRun(store, {
        experiment,
        runName: `${config.name}-sweep`,
        description: `Sweep of ${config.name} on the queue: ${trials.length} trials (${config.sweep?.method}) over ${Object.keys(config.sweep?.params ?? {}).join(', ')}`,
        tags: { 'nerflow.config': config.name, 'nerflow.kind': 'sweep', 'nerflow.queue_sweep': sweep },
        params: flattenParams({ sweep: { ...config.sweep, queue: null } }),
      });
      parentRunId = run.runId;
    }
  }
  const record: SweepRecord = {
    sweep,
    config: configRef(config, root),
    overrides: config.overrides,
    trackingUri,
    experimentId,
    parentRunId,
    metric: config.sweep?.metric ?? 'val_entity_f1',
    goal: config.sweep?.goal ?? 'maximize',
    trials: jobs.map((j) => ({ trial: j.t.id, jobId: j.jobId, label: trialLabel(j.t), overrides: j.t.overrides })),
  };
  // written before the jobs exist, so a worker that finishes one finds the sweep
  await redis.set(keys.record, JSON.stringify(record));
  const attempts = config.sweep?.attempts ?? 3;
  for (const { t, jobId } of fresh) {
    const data: TrialJobData = {
      sweep,
      config: record.config,
      overrides: config.overrides,
      trial: t.id,
      label: trialLabel(t),
      trainHash: hashValue(t.train),
      trackingUri,
      experiment,
      parentRunId,
      ...(config.sweep?.trial_timeout ? { trialTimeout: config.sweep.trial_timeout } : {}),
    };
    await queue.add('trial', data, {
      jobId,
      attempts,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: false,
      removeOnFail: false,
    });
  }
  return { sweep, added: fresh.map((j) => j.t.id), existing, retried, parentRunId };
}

type JobState = Awaited<ReturnType<Job['getState']>>;
const DONE: JobState[] = ['completed', 'failed'];

/** Every trial's job state and what the worker reported. */
export async function sweepJobs({ queue }: QueueHandle, record: SweepRecord) {
  return Promise.all(
    record.trials.map(async (t) => {
      // the state first, then the job: a job read before a state it has since left (a retry that then failed)
      // would pair the last attempt's state with an earlier attempt's count and reason
      const known = await queue.getJobState(t.jobId);
      const job = (await queue.getJob(t.jobId)) as Job<TrialJobData, TrialJobResult> | undefined;
      const state: JobState | 'missing' = job && known !== 'unknown' ? (known as JobState) : 'missing';
      return {
        ...t,
        job,
        state,
        progress: (job?.progress && typeof job.progress === 'object' ? job.progress : {}) as TrialJobProgress,
      };
    }),
  );
}

/**
 * `nerflow train` on a queue: enqueue, then (unless wait is false) follow the trials until every one is done or
 * failed and collect the sweep: trials.csv, best/ and the parent run. Ctrl-C while waiting leaves the trials to
 * the workers (the last one to finish collects the sweep).
 */
export async function queueTrain(ctx: StageContext, o: QueueTrainOptions): Promise<void> {
  const { log } = ctx;
  const q = await openQueue(o.url);
  try {
    const r = await enqueueSweep(ctx, q, { retryFailed: o.retryFailed });
    const states = Object.entries(
      r.existing.reduce<Record<string, number>>((acc, e) => ((acc[e.state] = (acc[e.state] ?? 0) + 1), acc), {}),
    );
    log.info(
      `train: sweep ${r.sweep} on ${o.url}: queued ${r.added.length} new trial(s)${r.retried.length ? `, ${r.retried.length} failed one(s) again` : ''}` +
        `${r.existing.length ? `; already there: ${states.map(([s, n]) => `${n} ${s}`).join(', ')}` : ''}${r.parentRunId ? `; MLflow parent run ${r.parentRunId}` : ''}`,
    );
    const failedBefore = r.existing.filter((e) => e.state === 'failed').map((e) => e.trial);
    if (failedBefore.length && !o.retryFailed)
      log.warn(
        `train: ${failedBefore.length} trial(s) failed every attempt earlier (${failedBefore.join(', ')}): \`--retry-failed\` queues them again; \`nerflow sweep status\` shows their errors`,
      );
    if (o.wait === false) {
      log.info(
        `train: not waiting (--no-wait): start workers with \`nerflow worker --queue ${o.url}\`; \`nerflow sweep status --config ${ctx.config.name}\` follows them; the last worker to finish collects the sweep`,
      );
      return;
    }
    await waitAndCollect(ctx, q, r.sweep, o);
  } finally {
    await q.close();
  }
}

async function waitAndCollect(ctx: StageContext, q: QueueHandle, sweep: string, o: QueueTrainOptions): Promise<void> {
  const { log } = ctx;
  const { redis } = q;
  const keys = sweepKeys(sweep);
  const t0 = performance.now();
  const seen = new Map<string, string>();
  let announced = false;
  // Ctrl-C: stop waiting and hand collection to the worker that finishes last (this process no longer waits).
  // Through tracking's signal handling, which awaits this before the process dies of the signal: with a handler
  // of its own the process could die before the waiter key is deleted, and a worker finishing the last trial
  // within the key's 15 s would leave the sweep uncollected
  const release = guardRun({
    end: async () => {
      log.info(
        `train: stopped waiting; the trials go on on the workers, and the last one to finish collects the sweep`,
      );
      await redis.del(keys.waiter).catch(() => undefined);
    },
  });
  try {
    await follow();
  } finally {
    release();
  }
  log.info(
    `train: every trial of ${sweep} is done (${fmtSeconds((performance.now() - t0) / 1000)}); collecting the sweep`,
  );
  const collected = await collectSweep(ctx, q, sweep, o.hooks);
  await redis.del(keys.waiter);
  if (collected?.failed.length)
    throw new ExitError(
      `train: ${collected.failed.length} trial(s) failed every attempt: ${collected.failed.join(', ')} (\`nerflow sweep status --config ${ctx.config.name}\` shows why; \`--retry-failed\` queues them again)`,
    );

  async function follow() {
    while (true) {
      await redis.set(keys.waiter, String(process.pid), 'PX', 15_000); // while this lives, workers leave collection to us
      const record = (await readSweepRecord(q, sweep))!;
      const jobs = await sweepJobs(q, record);
      for (const j of jobs) {
        const p = j.progress;
        const key = `${j.state}${j.state === 'active' ? `@${p.worker ?? ''}#${p.epoch ?? 0}` : ''}`;
        if (seen.get(j.trial) === key) continue;
        const wasRunning = seen.get(j.trial)?.startsWith(`active@${p.worker ?? ''}#`);
        seen.set(j.trial, key);
        if (j.state === 'active' && p.worker && !wasRunning) {
          log.info(
            `train: ${j.trial} running on ${p.worker}${j.job?.attemptsMade || j.job?.stalledCounter ? ' (again: an earlier attempt failed or its worker died)' : ''}`,
          );
        }
        if (j.state === 'active' && p.epoch)
          log.info(
            `train: ${j.trial} epoch ${p.epoch}/${p.epochs} on ${p.worker}: ${record.metric} ${p.value?.toFixed(4) ?? '-'}`,
          );
        else if (j.state === 'completed') {
          const rv = j.job!.returnvalue;
          log.info(
            `train: ${j.trial} ${rv.status} after ${rv.epochs} epoch(s) on ${rv.worker}; best ${record.metric} ${rv.metric?.toFixed(4) ?? '-'}`,
          );
        } else if (j.state === 'failed')
          log.warn(`train: ${j.trial} failed after ${j.job!.attemptsMade} attempt(s): ${j.job!.failedReason}`);
      }
      const gone = jobs.filter((j) => j.state === 'missing');
      if (gone.length)
        throw new ExitError(
          `train: ${gone.map((j) => j.trial).join(', ')}: no longer on the queue (removed from Redis?); run the same command again to queue them`,
        );
      if (jobs.every((j) => DONE.includes(j.state as JobState))) break;
      if (!announced) {
        const waiting = jobs.filter((j) => !DONE.includes(j.state as JobState)).length;
        log.info(`train: waiting for ${waiting} trial(s) on the queue (Ctrl-C stops waiting, not the trials)`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, (o.pollSeconds ?? 1) * 1000));
    }
  }
}

import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  hashValue,
  METRIC_NAMES,
  replaceDirAtomic,
  stageDir,
  writeFileAtomic,
  type EpochRecord,
  type HistoryEntry,
  type StageContext,
} from '@nerflow/core';
import { activeRun, downloadArtifacts, openStore } from '@nerflow/tracking';
import { writeTrialsTable, type TrialSummary } from '../trials-table.js';
import { sweepJobs, readSweepRecord } from './enqueue.js';
import type { QueueHandle } from './connection.js';
import { sweepKeys } from './identity.js';

/** The best trial once a sweep is collected. */
export interface BestTrial {
  trial: string;
  runId: string;
  value: number;
  overrides: Record<string, unknown>;
  /** the folder the model was downloaded to (runs/<name>/train/best/model) */
  modelDir: string;
  /** the tracking server of the sweep (the best run is there) */
  trackingUri: string;
  /** its per-epoch metrics, from the tracking server */
  history: HistoryEntry[];
}

export interface CollectHooks {
  /**
   * Once best/ is downloaded: score the best model and register it in the model registry (the CLI wires
   * evaluate's `evaluateSweepBest`: a stage does not import another). A failure is a warning: the sweep is
   * collected all the same.
   */
  registerBestModel?: (best: BestTrial, ctx: StageContext) => Promise<void>;
}

const HISTORY_KEYS = [...METRIC_NAMES, 'epoch_seconds', 'tokens_per_s'] as const;

type SweepJobs = Awaited<ReturnType<typeof sweepJobs>>;
const drained = (jobs: SweepJobs) => jobs.every((j) => j.state === 'completed' || j.state === 'failed');

/**
 * Collect a drained sweep, once (a Redis lock: the waiting enqueuer, or else the worker that finished last):
 * trials.csv and the plot from every trial's run on the tracking server, best/ downloaded from the best run's
 * model, and the parent run ended with the best trial's settings. Returns null when the sweep is not drained,
 * another process holds the lock (it collects), or (`ifUncollected`, a worker) it was collected after its last
 * trial ended.
 */
export async function collectSweep(
  ctx: StageContext,
  q: QueueHandle,
  sweep: string,
  hooks: CollectHooks = {},
  o: { ifUncollected?: boolean } = {},
) {
  const { log } = ctx;
  const { redis } = q;
  const keys = sweepKeys(sweep);
  const first = await readSweepRecord(q, sweep);
  // drained? Looked at before the lock: two workers whose last trials end together both see their own job done,
  // so the one that ends last sees the sweep drained (under a lock taken first, it could find the other's lock
  // held for a look that saw its job still running, and nobody would collect)
  if (!first || !drained(await sweepJobs(q, first))) return null;
  const token = `${process.pid}-${Date.now()}`;
  if ((await redis.set(keys.collect, token, 'PX', 600_000, 'NX')) !== 'OK') return null;
  try {
    const record = await readSweepRecord(q, sweep);
    if (!record) return null;
    const jobs = await sweepJobs(q, record);
    if (!drained(jobs)) return null;
    // what this collection covers: every job and when it ended (a retried or added trial changes it)
    const covers = hashValue(jobs.map((j) => [j.jobId, j.state, j.job?.finishedOn ?? null]));
    if (o.ifUncollected) {
      const prev = await redis.get(keys.record + ':collected');
      if (prev && (JSON.parse(prev) as { covers?: string }).covers === covers) return null;
    }
    const store = openStore({ uri: record.trackingUri });
    const summaries: TrialSummary[] = [];
    const failed: string[] = [];
    for (const j of jobs) {
      const runId = j.state === 'completed' ? j.job!.returnvalue.runId : (j.progress.runId ?? null);
      if (j.state === 'failed') failed.push(j.trial);
      const history: Partial<EpochRecord>[] = [];
      if (runId) {
        for (const key of HISTORY_KEYS) {
          for (const p of await store.getMetricHistory(runId, key))
            (history[p.step - 1] ??= { epoch: p.step })[key] = p.value;
        }
      }
      summaries.push({
        trial: j.trial,
        label: j.label,
        overrides: j.overrides,
        history: history.filter(Boolean),
        status: j.state === 'completed' ? j.job!.returnvalue.status : 'failed',
        seconds: j.state === 'completed' ? j.job!.returnvalue.seconds : null,
        mlflowRunId: runId,
      });
    }
    const trainDir = stageDir(ctx.root, ctx.config.name, 'train');
    await writeTrialsTable(trainDir, summaries, { metric: record.metric, goal: record.goal });
    let best: BestTrial | null = null;
    for (const j of jobs) {
      if (j.state !== 'completed') continue;
      const rv = j.job!.returnvalue;
      if (rv.metric === null || !Number.isFinite(rv.metric)) continue;
      if (!best || (record.goal === 'maximize' ? rv.metric > best.value : rv.metric < best.value)) {
        const history = summaries.find((s) => s.trial === j.trial)?.history ?? [];
        best = {
          trial: j.trial,
          runId: rv.runId,
          value: rv.metric,
          overrides: j.overrides,
          modelDir: path.join(trainDir, 'best', 'model'),
          trackingUri: record.trackingUri,
          history: history.map((h) =>
            Object.fromEntries(['epoch', ...METRIC_NAMES].map((k) => [k, h[k as keyof EpochRecord]])),
          ) as HistoryEntry[],
        };
      }
    }
    if (best) {
      const b = best;
      await replaceDirAtomic(path.join(trainDir, 'best'), async (staging) => {
        await downloadArtifacts(store, b.runId, 'model', path.join(staging, 'model'));
        await writeFileAtomic(
          path.join(staging, 'best.json'),
          JSON.stringify({ trial: b.trial, overrides: b.overrides, value: b.value, mlflow_run_id: b.runId }, null, 2) +
            '\n',
        );
      });
      log.info(
        `train: best trial ${b.trial} (${record.metric} ${b.value.toFixed(4)}) → ${path.relative(process.cwd(), path.join(trainDir, 'best'))} (downloaded from MLflow run ${b.runId})`,
      );
    }
    if (record.parentRunId) {
      const parent = activeRun(store, record.parentRunId, record.experimentId);
      // best settings as tags: a sweep's parent is collected again when trials are added, and params never change
      if (best) {
        await parent.setTags({
          'nerflow.best_trial': best.trial,
          'nerflow.best_run': best.runId,
          ...Object.fromEntries(Object.entries(best.overrides).map(([k, v]) => [`best.${k}`, String(v)])),
        });
        await parent.logMetrics(
          { [`best_${record.metric}`]: best.value, trials: summaries.length, failed_trials: failed.length },
          0,
        );
      }
      for (const f of ['trials.csv', 'trials.svg', 'trials.png'])
        if (existsSync(path.join(trainDir, f))) await parent.logArtifact(path.join(trainDir, f));
      await parent.end(failed.length ? 'FAILED' : 'FINISHED');
    }
    if (best && hooks.registerBestModel) {
      try {
        await hooks.registerBestModel(best, ctx);
      } catch (e) {
        log.warn(
          `train: the best trial ${best.trial} was collected but not evaluated or registered: ${(e as Error).message}`,
        );
      }
    }
    await redis.set(
      keys.record + ':collected',
      JSON.stringify({
        at: new Date().toISOString(),
        by: process.pid,
        covers,
        best: best && { ...best, history: undefined },
        failed,
      }),
    );
    return { summaries, best, failed };
  } finally {
    if ((await redis.get(keys.collect)) === token) await redis.del(keys.collect);
  }
}

import os from 'node:os';
import path from 'node:path';
import { hashValue, type Config, type Goal, type MetricName } from '@nerflow/core';
import type { Trial } from '../sweep.js';

/** What a worker needs to run one queued trial in its own checkout. */
export interface TrialJobData {
  /** The sweep (see sweepKey). */
  sweep: string;
  /** The config file, relative to the workspace root (posix separators): every machine has the same checkout. */
  config: string;
  /** The enqueuer's --set overrides. */
  overrides: string[];
  trial: string;
  label: string;
  /** hashValue(trial.train) as the enqueuer expanded it: a worker whose checkout expands it differently refuses. */
  trainHash: string;
  /** Where every worker logs (the enqueuer's MLflow tracking server). */
  trackingUri: string;
  experiment: string;
  /** The sweep's MLflow parent run ('' for a single trial). */
  parentRunId: string;
  /** sweep.trial_timeout: seconds without progress before a worker kills the trial (absent: the worker's default). */
  trialTimeout?: number;
}

/** What a worker reports while it trains (job progress). */
export interface TrialJobProgress {
  worker: string;
  runId?: string;
  epoch?: number;
  epochs?: number;
  value?: number;
  resumedAfter?: number;
}

/** A finished job's return value. */
export interface TrialJobResult {
  runId: string;
  status: string;
  epochs: number;
  bestEpoch: number;
  bestValue: number | null;
  /** the sweep metric's best value */
  metric: number | null;
  /** the sweep metric's name (val_entity_f1, …) */
  metricName: MetricName;
  seconds: number;
  worker: string;
}

export function configRef(config: Config, root: string): string {
  return path.relative(root, config.file).split(path.sep).join('/');
}

/**
 * A sweep's identity in the queue: the config (name and file) and where it logs. Not its grid, so adding a
 * grid value keeps the sweep (and every trial already queued); a new tracking server or experiment is a new sweep.
 */
export function sweepKey(config: Config, root: string, trackingUri: string, experiment: string): string {
  return `${config.name}-${hashValue({ config: configRef(config, root), trackingUri, experiment }).slice(0, 8)}`;
}

/**
 * A trial's job id: the sweep, the trial and a hash of everything its result depends on that the enqueuer knows
 * (the data and featurize sections, the trial's train section, the code). Enqueuing the same sweep again adds
 * nothing; a changed setting or new code is a new job.
 */
export function trialJobId(sweep: string, trial: Trial, config: Config, root: string, code: string): string {
  // corpus files relative to the checkout: the same on every machine
  const rel = (p: string) => path.relative(root, p).split(path.sep).join('/');
  const splits = config.data.splits
    ? Object.fromEntries(Object.entries(config.data.splits).map(([k, v]) => [k, typeof v === 'string' ? rel(v) : v]))
    : null;
  const data = { ...config.data, path: config.data.path === null ? null : rel(config.data.path), splits };
  return `${sweep}.${trial.id}.${hashValue({ data, featurize: config.featurize, train: trial.train, code }).slice(0, 10)}`;
}

/** Redis keys of a sweep's own record (beside BullMQ's). */
export const sweepKeys = (sweep: string) => ({
  record: `nerflow:sweep:${sweep}`,
  collect: `nerflow:sweep:${sweep}:collect`,
  waiter: `nerflow:sweep:${sweep}:waiter`,
});

/** The sweep's record in Redis: its parent run and its current trials (the latest enqueue's expansion). */
export interface SweepRecord {
  sweep: string;
  config: string;
  overrides: string[];
  trackingUri: string;
  experimentId: string;
  parentRunId: string;
  metric: MetricName;
  goal: Goal;
  trials: { trial: string; jobId: string; label: string; overrides: Record<string, unknown> }[];
}

/** This worker's name in status lines: NERFLOW_WORKER_NAME, else host:pid. */
export function workerName(): string {
  return process.env.NERFLOW_WORKER_NAME || `${os.hostname()}:${process.pid}`;
}

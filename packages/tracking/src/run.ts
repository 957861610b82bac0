import os from 'node:os';
import { gitCommit } from './git.js';
import { flattenParams } from './keys.js';
import { guardRun } from './lifecycle.js';
import { currentOwner, ENDED_BY_TAG, ownerTags } from './owner.js';
import { resolveExperimentName } from './open-store.js';
import type { DatasetInput, RunStatus, TrackingStore } from './types.js';

export interface StartRunOptions {
  /** Experiment name (MLFLOW_EXPERIMENT_NAME overrides it); created if missing. */
  experiment: string;
  runName: string;
  /** Makes this a nested run (tag mlflow.parentRunId). */
  parentRunId?: string;
  /** Shown in the UI as the run's description (tag mlflow.note.content). */
  description?: string;
  tags?: Record<string, string>;
  /** Logged as params, nested objects flattened to dotted keys. */
  params?: Record<string, unknown>;
  startTime?: number;
  env?: NodeJS.ProcessEnv;
  /** Where the git commit is looked up (default: the current folder). */
  cwd?: string;
}

export interface ActiveRun {
  readonly runId: string;
  readonly experimentId: string;
  readonly store: TrackingStore;
  /** Every finite-or-not number of `values` at this step (timestamp default now). */
  logMetrics(values: Record<string, number>, step: number, timestamp?: number): Promise<void>;
  logParams(values: Record<string, unknown>): Promise<void>;
  setTags(tags: Record<string, string>): Promise<void>;
  logArtifact(localPath: string, artifactPath?: string): Promise<void>;
  logInputs(datasets: DatasetInput[]): Promise<void>;
  /** End once (later calls do nothing): status and end time. */
  end(status?: RunStatus): Promise<void>;
  /**
   * Run `body`, then end FINISHED; a throw ends the run FAILED (and is rethrown); SIGINT/SIGTERM while
   * it runs end it KILLED, then the signal's default action ends the process (exit 130 / 143).
   */
  guard<T>(body: () => Promise<T>): Promise<T>;
}

/** MLflow's system tags for a run started from this process (mlflow/utils/mlflow_tags.py names). */
export function systemTags(o: {
  runName: string;
  parentRunId?: string;
  description?: string;
  cwd?: string;
}): Record<string, string> {
  const commit = gitCommit(o.cwd);
  return {
    'mlflow.runName': o.runName,
    'mlflow.user': os.userInfo().username,
    'mlflow.source.name': process.argv[1] ?? 'node',
    'mlflow.source.type': 'LOCAL',
    ...(commit ? { 'mlflow.source.git.commit': commit } : {}),
    ...(o.parentRunId ? { 'mlflow.parentRunId': o.parentRunId } : {}),
    ...(o.description ? { 'mlflow.note.content': o.description } : {}),
  };
}

/** Create a run (experiment by name, created if needed) with MLflow's system tags and params. */
export async function startRun(
  store: TrackingStore,
  o: StartRunOptions,
  env: NodeJS.ProcessEnv = o.env ?? process.env,
): Promise<ActiveRun> {
  const experimentId = await store.getOrCreateExperiment(resolveExperimentName(o.experiment, env));
  const tags = { ...systemTags({ ...o, cwd: o.cwd }), ...ownerTags(currentOwner()), ...o.tags };
  const info = await store.createRun({ experimentId, runName: o.runName, startTime: o.startTime, tags });
  const run = activeRun(store, info.run_id, experimentId);
  try {
    if (o.params) await run.logParams(o.params);
  } catch (e) {
    await run.end('FAILED').catch(() => undefined);
    throw e;
  }
  return run;
}

/** nerflow's own outcome tag (finished, early_stopped, pruned; failed or killed when the run did not end well). */
export const STATUS_TAG = 'nerflow.status';

/** The tag counting how often a run was reopened by resumeRun. */
export const RESUMES_TAG = 'nerflow.resumes';

export class RunNotResumableError extends Error {
  constructor(
    readonly runId: string,
    why: string,
  ) {
    super(`MLflow run ${runId} cannot be resumed: ${why}`);
    this.name = 'RunNotResumableError';
  }
}

/**
 * Reopen an existing run, as mlflow.start_run(run_id=...) does: status RUNNING again (MLflow keeps
 * the old end time until the run ends anew), this process as its owner, and nerflow.resumes counted
 * up. Metrics logged from here on continue the run's histories. Throws RunNotResumableError when the
 * run is not in this store or is deleted.
 */
export async function resumeRun(
  store: TrackingStore,
  runId: string,
  o: { tags?: Record<string, string> } = {},
): Promise<ActiveRun> {
  const found = await store.getRun(runId).catch(() => null);
  if (!found) throw new RunNotResumableError(runId, `it is not in the tracking store ${store.uri}`);
  if (found.info.lifecycle_stage !== 'active') throw new RunNotResumableError(runId, 'it is deleted');
  const resumes = (Number(found.data.tags[RESUMES_TAG]) || 0) + 1;
  await store.updateRun(runId, { status: 'RUNNING' });
  const why = found.data.tags[ENDED_BY_TAG];
  const ended: Record<string, string> = why ? { [ENDED_BY_TAG]: `${why}; resumed after that` } : {};
  const tags = { ...ownerTags(currentOwner()), [RESUMES_TAG]: String(resumes), ...ended, ...o.tags };
  await store.logBatch(runId, { tags });
  return activeRun(store, runId, found.info.experiment_id);
}

/** startRun, then run.guard(body): never leaves the run RUNNING. */
export async function withRun<T>(
  store: TrackingStore,
  o: StartRunOptions,
  body: (run: ActiveRun) => Promise<T>,
): Promise<T> {
  const run = await startRun(store, o);
  return run.guard(() => body(run));
}

/** Keep logging to an existing run (e.g. evaluate adding test metrics to the training run). */
export function activeRun(store: TrackingStore, runId: string, experimentId: string): ActiveRun {
  let ended: Promise<void> | null = null;
  const run: ActiveRun = {
    runId,
    experimentId,
    store,
    logMetrics: (values, step, timestamp = Date.now()) =>
      store.logBatch(runId, {
        metrics: Object.entries(values)
          .filter(([, v]) => typeof v === 'number')
          .map(([key, value]) => ({ key, value, step, timestamp })),
      }),
    logParams: (values) => store.logBatch(runId, { params: flattenParams(values) }),
    setTags: (tags) => store.logBatch(runId, { tags }),
    logArtifact: (p, a) => store.logArtifact(runId, p, a),
    logInputs: (d) => store.logInputs(runId, d),
    end(status = 'FINISHED') {
      // a run that did not finish says so in nerflow.status too, so the tag never contradicts the status
      if (ended) return ended;
      const bad = status === 'FAILED' || status === 'KILLED';
      const tag = bad
        ? store.logBatch(runId, { tags: { [STATUS_TAG]: status.toLowerCase() } }).catch(() => undefined)
        : Promise.resolve();
      ended = tag.then(() => store.updateRun(runId, { status, endTime: Date.now() }));
      return ended;
    },
    async guard(body) {
      const release = guardRun(run);
      try {
        const result = await body();
        await run.end('FINISHED');
        return result;
      } catch (e) {
        await run.end('FAILED').catch(() => undefined);
        throw e;
      } finally {
        release();
      }
    },
  };
  return run;
}

import { ENDED_BY_TAG, ownerFromTags, ownerIsGone } from './owner.js';
import { STATUS_TAG } from './run.js';
import type { Experiment, RunRecord, TrackingLogger, TrackingStore } from './types.js';

export interface DeadRunsOptions {
  /** Experiments to look in (default: every active experiment of the store). */
  experimentIds?: string[];
  /** Runs owned by other hosts count as gone too: the caller's explicit word (never assumed). */
  otherHosts?: boolean;
  /** Report what would be ended without changing anything. */
  dryRun?: boolean;
  log?: Pick<TrackingLogger, 'info' | 'warn'>;
  /** The host this runs on (tests); default os.hostname(). */
  host?: string;
}

export interface DeadRun {
  runId: string;
  runName: string;
  experimentId: string;
  why: string;
}

export interface DeadRunsResult {
  /** Runs ended KILLED (or, with dryRun, that would be). */
  ended: DeadRun[];
  /** RUNNING runs left alone: owner alive, on another host, or not recorded. */
  kept: DeadRun[];
}

/** A store that can list its experiments (both backends can). */
interface ListsExperiments {
  listExperiments(): Promise<Experiment[]>;
}

function listsExperiments(s: TrackingStore): s is TrackingStore & ListsExperiments {
  return typeof (s as Partial<ListsExperiments>).listExperiments === 'function';
}

/**
 * End the RUNNING runs whose owner is provably gone (see ownerIsGone): status KILLED, end time now,
 * and the tags nerflow.ended_by (why, when) and nerflow.status = killed. A run whose
 * owner might be alive, or that records no owner, is never touched. Safe to call from many processes
 * at once (ending a run twice ends it the same way).
 */
export async function endDeadRuns(store: TrackingStore, o: DeadRunsOptions = {}): Promise<DeadRunsResult> {
  const ids =
    o.experimentIds ?? (listsExperiments(store) ? (await store.listExperiments()).map((e) => e.experiment_id) : []);
  const result: DeadRunsResult = { ended: [], kept: [] };
  if (!ids.length) return result;
  const running: RunRecord[] = await store.searchRuns(ids, "attributes.status = 'RUNNING'");
  for (const run of running) {
    const owner = ownerFromTags(run.data.tags);
    const base = { runId: run.info.run_id, runName: run.info.run_name, experimentId: run.info.experiment_id };
    if (!owner) {
      result.kept.push({ ...base, why: 'no owner recorded (started by another client or an older nerflow)' });
      continue;
    }
    const verdict = ownerIsGone(owner, { otherHosts: o.otherHosts, host: o.host });
    if (!verdict.gone) {
      result.kept.push({ ...base, why: verdict.why });
      continue;
    }
    result.ended.push({ ...base, why: verdict.why });
    if (o.dryRun) continue;
    const stamp = `${verdict.why}; ended KILLED at ${new Date().toISOString()}`;
    await store.logBatch(run.info.run_id, { tags: { [ENDED_BY_TAG]: stamp, [STATUS_TAG]: 'killed' } });
    await store.updateRun(run.info.run_id, { status: 'KILLED', endTime: Date.now() });
    o.log?.warn(
      `mlflow: run ${run.info.run_name} (${run.info.run_id}) was still RUNNING but its ${verdict.why}: marked KILLED`,
    );
  }
  return result;
}

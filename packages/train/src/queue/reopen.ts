import { activeRun, type ActiveRun, type RunRecord, type TrackingStore } from '@nerflow/tracking';

/**
 * Reopen a trial's run where an earlier attempt left it (killed worker, failed attempt): status back to
 * RUNNING and a resume count, so its history continues in the same run.
 * A minimal, queue-only version of "resume reopens the same MLflow run" (issue 14 builds the general one for
 * `--resume`; when it lands this should call it instead).
 */
export async function reopenTrialRun(store: TrackingStore, run: RunRecord): Promise<ActiveRun> {
  const count = Number(run.data.tags['nerflow.resume_count'] ?? 0) + 1;
  await store.updateRun(run.info.run_id, { status: 'RUNNING' });
  await store.logBatch(run.info.run_id, { tags: { 'nerflow.resume_count': String(count) } });
  return activeRun(store, run.info.run_id, run.info.experiment_id);
}

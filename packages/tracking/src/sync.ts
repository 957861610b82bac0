import { FileStore } from './file-store.js';
import type { RestOptions } from './rest-store.js';
import { RestStore } from './rest-store.js';
import type { RunRecord, TrackingLogger } from './types.js';

export interface SyncSummary {
  /** experiments that had runs to consider */
  experiments: number;
  runsCreated: number;
  /** already on the server (same nerflow.run_uuid, completely synced) */
  runsSkipped: number;
  /** server copies of runs that were incomplete or still RUNNING, deleted and pushed again */
  runsReplaced: number;
  /** metric values pushed (full histories) */
  metrics: number;
  /** artifact files uploaded */
  artifacts: number;
}

/** The tag that makes sync idempotent: the local run id, searched for on the server before creating. */
export const SYNC_TAG = 'nerflow.run_uuid';
/** Set last, once everything of a finished run is on the server; a copy without it is redone. */
export const SYNC_DONE_TAG = 'nerflow.sync_complete';

/** Parents before children (any depth), each level by start time. */
function parentsFirst(runs: RunRecord[]): RunRecord[] {
  const byId = new Map(runs.map((r) => [r.info.run_id, r]));
  const depth = (r: RunRecord, seen = new Set<string>()): number => {
    const p = r.data.tags['mlflow.parentRunId'];
    if (!p || !byId.has(p) || seen.has(p)) return 0;
    seen.add(p);
    return 1 + depth(byId.get(p)!, seen);
  };
  return [...runs].sort((a, b) => depth(a) - depth(b) || a.info.start_time - b.info.start_time);
}

/**
 * Push every run of a local file store to a tracking server: the experiment (by name), params, full
 * metric histories (steps and timestamps), tags, dataset inputs, artifacts, status, start and end
 * times, and parent links remapped to the server's run ids. Idempotent: each server run carries
 * nerflow.run_uuid = the local id and is looked up before creating; a rerun creates nothing. A run
 * still RUNNING locally is pushed without the completion tag, so a later sync replaces it.
 */
export async function syncStore(o: { from: string; to: string; log?: TrackingLogger; env?: NodeJS.ProcessEnv; rest?: RestOptions }): Promise<SyncSummary> {
  const local = new FileStore(o.from);
  const remote = new RestStore(o.to, { env: o.env, warn: o.log ? (m) => o.log!.warn(m) : undefined, ...o.rest });
  const summary: SyncSummary = { experiments: 0, runsCreated: 0, runsSkipped: 0, runsReplaced: 0, metrics: 0, artifacts: 0 };
  const work: { expName: string; run: RunRecord }[] = [];
  for (const e of await local.listExperiments()) {
    const runs = await local.searchRuns([e.experiment_id]);
    if (runs.length) summary.experiments++;
    for (const run of runs) work.push({ expName: e.name, run });
  }
  o.log?.info(`mlflow sync: ${work.length} runs in ${summary.experiments} experiments of ${o.from} → ${o.to}`);
  const bar = o.log?.progress('mlflow sync', work.length, 'runs');
  const remoteExp = new Map<string, string>();
  const expOf = new Map(work.map((w) => [w.run, w.expName]));
  const idMap = new Map<string, string>();
  let done = 0;
  for (const run of parentsFirst(work.map((w) => w.run))) {
    const expName = expOf.get(run)!;
    let expId = remoteExp.get(expName);
    if (!expId) {
      expId = await remote.getOrCreateExperiment(expName);
      remoteExp.set(expName, expId);
    }
    const localId = run.info.run_id;
    const [existing] = await remote.searchRuns([expId], `tags.\`${SYNC_TAG}\` = '${localId}'`);
    if (existing?.data.tags[SYNC_DONE_TAG] === 'true') {
      idMap.set(localId, existing.info.run_id);
      summary.runsSkipped++;
      bar?.update(++done);
      continue;
    }
    if (existing) {
      await remote.deleteRun(existing.info.run_id);
      summary.runsReplaced++;
    }
    const tags: Record<string, string> = { ...run.data.tags, [SYNC_TAG]: localId };
    delete tags[SYNC_DONE_TAG];
    const parent = tags['mlflow.parentRunId'];
    if (parent && idMap.has(parent)) tags['mlflow.parentRunId'] = idMap.get(parent)!;
    const created = await remote.createRun({ experimentId: expId, runName: run.info.run_name, startTime: run.info.start_time, tags, userId: run.info.user_id || undefined });
    idMap.set(localId, created.run_id);
    const metrics = [];
    for (const key of Object.keys(run.data.metrics).sort()) metrics.push(...(await local.getMetricHistory(localId, key)));
    await remote.logBatch(created.run_id, { params: run.data.params, metrics });
    summary.metrics += metrics.length;
    const inputs = await local.readInputs(localId);
    if (inputs.length) await remote.logInputs(created.run_id, inputs);
    for (const a of await local.listArtifactFiles(localId)) {
      const dir = a.path.includes('/') ? a.path.slice(0, a.path.lastIndexOf('/')) : '';
      await remote.logArtifact(created.run_id, a.file, dir);
      summary.artifacts++;
    }
    if (run.info.status !== 'RUNNING') {
      await remote.updateRun(created.run_id, { status: run.info.status, endTime: run.info.end_time ?? undefined });
      await remote.logBatch(created.run_id, { tags: { [SYNC_DONE_TAG]: 'true' } });
    } else {
      o.log?.warn(`mlflow sync: run ${run.info.run_name} (${localId}) is still RUNNING locally; pushed as is, the next sync replaces it`);
    }
    summary.runsCreated++;
    bar?.update(++done, run.info.run_name);
  }
  bar?.finish(`${summary.runsCreated} created, ${summary.runsSkipped} already there${summary.runsReplaced ? `, ${summary.runsReplaced} replaced` : ''}`);
  return summary;
}

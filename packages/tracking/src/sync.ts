import { FileStore } from './file-store.js';
import { RestStore } from './rest-store.js';

interface Logger {
  info(msg: string): void;
  progress(label: string, total: number, unit?: string): { update(done: number, extra?: string): void; finish(extra?: string): void };
}

export interface SyncSummary {
  experiments: number;
  runsCreated: number;
  runsSkipped: number;
  metrics: number;
  artifacts: number;
}

/** The tag that makes sync idempotent: the local run id, searched for before creating a run. */
export const SYNC_TAG = 'nerflow.run_uuid';

/**
 * Push every run of a local file store to a tracking server: params, full metric histories (steps and
 * timestamps), tags, dataset inputs, artifacts, status and times; parent links remapped to the server's
 * run ids. A run already synced (same nerflow.run_uuid tag) is skipped, so it is safe to repeat.
 */
export async function syncStore(o: { from: string; to: string; log?: Logger; env?: NodeJS.ProcessEnv }): Promise<SyncSummary> {
  const local = new FileStore(o.from);
  const remote = new RestStore(o.to, { env: o.env });
  const summary: SyncSummary = { experiments: 0, runsCreated: 0, runsSkipped: 0, metrics: 0, artifacts: 0 };
  const idMap = new Map<string, string>();
  const experiments = await local.listExperiments();
  const all: { exp: string; runs: Awaited<ReturnType<FileStore['searchRuns']>> }[] = [];
  for (const e of experiments) all.push({ exp: e.name, runs: await local.searchRuns([e.experiment_id]) });
  const total = all.reduce((s, x) => s + x.runs.length, 0);
  const bar = o.log?.progress('mlflow sync', total, 'runs');
  let done = 0;
  for (const { exp, runs } of all) {
    if (!runs.length) continue;
    summary.experiments++;
    const remoteExp = await remote.getOrCreateExperiment(exp);
    const existing = new Map((await remote.searchRuns([remoteExp])).filter((r) => r.data.tags[SYNC_TAG]).map((r) => [r.data.tags[SYNC_TAG], r.info.run_id]));
    // parents first, so children can point at their new ids
    const ordered = [...runs].sort((a, b) => Number(!!a.data.tags['mlflow.parentRunId']) - Number(!!b.data.tags['mlflow.parentRunId']) || a.info.start_time - b.info.start_time);
    for (const run of ordered) {
      const localId = run.info.run_id;
      const found = existing.get(localId);
      if (found) {
        idMap.set(localId, found);
        summary.runsSkipped++;
        bar?.update(++done);
        continue;
      }
      const tags: Record<string, string> = { ...run.data.tags, [SYNC_TAG]: localId };
      const parent = tags['mlflow.parentRunId'];
      if (parent) tags['mlflow.parentRunId'] = idMap.get(parent) ?? existing.get(parent) ?? parent;
      const created = await remote.createRun({ experimentId: remoteExp, runName: run.info.run_name, startTime: run.info.start_time, tags });
      idMap.set(localId, created.run_id);
      const metrics = [];
      for (const key of Object.keys(run.data.metrics)) metrics.push(...(await local.getMetricHistory(localId, key)));
      summary.metrics += metrics.length;
      await remote.logBatch(created.run_id, { params: run.data.params, metrics });
      const inputs = await local.readInputs(localId);
      if (inputs.length) await remote.logInputs(created.run_id, inputs);
      for (const a of await local.listArtifactFiles(localId)) {
        const dir = a.path.includes('/') ? a.path.slice(0, a.path.lastIndexOf('/')) : '';
        await remote.logArtifact(created.run_id, a.file, dir);
        summary.artifacts++;
      }
      await remote.updateRun(created.run_id, { status: run.info.status, endTime: run.info.end_time ?? undefined });
      summary.runsCreated++;
      bar?.update(++done);
    }
  }
  bar?.finish(`${summary.runsCreated} created, ${summary.runsSkipped} already there`);
  return summary;
}

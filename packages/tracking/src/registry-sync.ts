import { FileStore } from './file-store.js';
import { FileRegistry, RestRegistry } from './registry.js';
import { RestStore, type RestOptions } from './rest-store.js';
import { SYNC_TAG } from './sync.js';
import type { TrackingLogger } from './types.js';

/** On a server's model version: "<name>/<local version>", so a repeated sync recognises it. */
export const REGISTRY_SYNC_TAG = 'nerflow.synced_from';

export interface RegistrySyncSummary {
  models: number;
  versionsCreated: number;
  versionsSkipped: number;
  /** local versions whose run is not on the server (sync the runs first) */
  versionsMissingRun: number;
  aliasesSet: number;
}

/**
 * Carry a file store's Model Registry (runs/mlruns/models) to a tracking server, after syncStore pushed
 * the runs: each registered model, each version (pointing at the server's copy of its run, found by the
 * nerflow.run_uuid tag sync puts on it; source = that run's artifact URI + the local path under
 * artifacts/), version tags, and the aliases. Idempotent through REGISTRY_SYNC_TAG.
 */
export async function syncRegistry(o: {
  from: string;
  to: string;
  log?: TrackingLogger;
  env?: NodeJS.ProcessEnv;
  rest?: RestOptions;
}): Promise<RegistrySyncSummary> {
  const localStore = new FileStore(o.from);
  const local = new FileRegistry(o.from);
  const remoteStore = new RestStore(o.to, { env: o.env, ...o.rest });
  const remote = new RestRegistry(remoteStore);
  const s: RegistrySyncSummary = {
    models: 0,
    versionsCreated: 0,
    versionsSkipped: 0,
    versionsMissingRun: 0,
    aliasesSet: 0,
  };
  const remoteExp = new Map<string, string | null>();
  for (const m of await local.listRegisteredModels()) {
    s.models++;
    await remote.ensureRegisteredModel(m.name, m.description);
    const existing = new Map<string, string>();
    for (const v of await remote.listModelVersions(m.name))
      if (v.tags[REGISTRY_SYNC_TAG]) existing.set(v.tags[REGISTRY_SYNC_TAG], v.version);
    const versionMap = new Map<string, string>();
    for (const v of await local.listModelVersions(m.name)) {
      const key = `${m.name}/${v.version}`;
      const done = existing.get(key);
      if (done) {
        versionMap.set(v.version, done);
        s.versionsSkipped++;
        continue;
      }
      const run = await localStore.getRun(v.run_id).catch(() => null);
      const expName = run
        ? (await localStore.listExperiments()).find((e) => e.experiment_id === run.info.experiment_id)?.name
        : undefined;
      if (expName !== undefined && !remoteExp.has(expName))
        remoteExp.set(expName, (await remoteStore.getExperimentByName(expName))?.experiment_id ?? null);
      const expId = expName !== undefined ? remoteExp.get(expName) : null;
      const [remoteRun] = expId ? await remoteStore.searchRuns([expId], `tags.\`${SYNC_TAG}\` = '${v.run_id}'`) : [];
      if (!remoteRun) {
        o.log?.warn(
          `mlflow sync: ${m.name} version ${v.version}: its run ${v.run_id} is not on ${o.to}; version not carried`,
        );
        s.versionsMissingRun++;
        continue;
      }
      const i = v.source.lastIndexOf('/artifacts/');
      const artifactPath = i >= 0 ? v.source.slice(i + '/artifacts/'.length) : 'model';
      const created = await remote.createModelVersion(m.name, {
        source: `${remoteRun.info.artifact_uri.replace(/\/+$/, '')}/${artifactPath}`,
        runId: remoteRun.info.run_id,
        description: v.description,
        tags: { ...v.tags, [REGISTRY_SYNC_TAG]: key },
      });
      versionMap.set(v.version, created.version);
      s.versionsCreated++;
    }
    for (const [alias, version] of Object.entries(m.aliases)) {
      const target = versionMap.get(version);
      if (!target) continue;
      const cur = await remote.getModelVersionByAlias(m.name, alias);
      if (cur?.version === target) continue;
      await remote.setAlias(m.name, alias, target);
      s.aliasesSet++;
    }
  }
  return s;
}

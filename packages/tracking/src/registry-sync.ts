import { FileStore } from './file-store.js';
import { CHAMPION, F1_TAG, FileRegistry, RestRegistry } from './registry.js';
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
  /**
   * aliases left as the server has them: they point at a version this store did not send (another
   * machine's, or registered on the server directly) and, for `champion`, that version's test F1 is not
   * beaten by this store's champion
   */
  aliasesKept: number;
}

/**
 * Carry a file store's Model Registry (runs/mlruns/models) to a tracking server, after syncStore pushed
 * the runs: each registered model, each version (pointing at the server's copy of its run, found by the
 * nerflow.run_uuid tag sync puts on it; source = that run's artifact URI + the local path under
 * artifacts/), version tags, and the aliases. Idempotent through REGISTRY_SYNC_TAG plus the run: a server
 * version is this local version when it carries its tag and points at the server copy of its run, so
 * several machines syncing into one server never mistake each other's "version 1" for their own.
 * Aliases: one the server points at a version this store sent follows the local store; one pointing at a
 * version from elsewhere is kept, except `champion`, which moves when this store's champion beats that
 * version's test entity F1 (nerflow.test_entity_f1), the rule evaluate registers by.
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
    aliasesKept: 0,
  };
  const remoteExp = new Map<string, string | null>();
  for (const m of await local.listRegisteredModels()) {
    s.models++;
    await remote.ensureRegisteredModel(m.name, m.description);
    const remoteVersions = await remote.listModelVersions(m.name);
    const versionMap = new Map<string, string>();
    const localVersions = await local.listModelVersions(m.name);
    for (const v of localVersions) {
      const key = `${m.name}/${v.version}`;
      const run = await localStore.getRun(v.run_id).catch(() => null);
      const expName = run
        ? (await localStore.listExperiments()).find((e) => e.experiment_id === run.info.experiment_id)?.name
        : undefined;
      if (expName !== undefined && !remoteExp.has(expName))
        remoteExp.set(expName, (await remoteStore.getExperimentByName(expName))?.experiment_id ?? null);
      const expId = expName !== undefined ? remoteExp.get(expName) : null;
      const [remoteRun] = expId ? await remoteStore.searchRuns([expId], `tags.\`${SYNC_TAG}\` = '${v.run_id}'`) : [];
      const done = remoteRun
        ? remoteVersions.find((x) => x.tags[REGISTRY_SYNC_TAG] === key && x.run_id === remoteRun.info.run_id)
        : undefined;
      if (done) {
        versionMap.set(v.version, done.version);
        s.versionsSkipped++;
        continue;
      }
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
    const sent = new Set(versionMap.values());
    for (const [alias, version] of Object.entries(m.aliases)) {
      const target = versionMap.get(version);
      if (!target) continue;
      const cur = await remote.getModelVersionByAlias(m.name, alias);
      if (cur?.version === target) continue;
      if (cur && !sent.has(cur.version)) {
        // the server's alias points at a version from elsewhere: champion moves only to a better model
        const ours = Number(localVersions.find((x) => x.version === version)?.tags[F1_TAG]);
        const theirs = Number(cur.tags[F1_TAG]);
        const beats = Number.isFinite(ours) && (!Number.isFinite(theirs) || ours > theirs);
        if (alias !== CHAMPION || !beats) {
          o.log?.warn(
            `mlflow sync: ${m.name}@${alias} stays at the server's version ${cur.version}` +
              (alias === CHAMPION
                ? ` (test entity F1 ${cur.tags[F1_TAG] ?? '?'}; this store's champion, version ${version}, has ${Number.isFinite(ours) ? ours : '?'}, which does not beat it)`
                : ' (not a version this store sent; set it on the server if you mean it)'),
          );
          s.aliasesKept++;
          continue;
        }
      }
      await remote.setAlias(m.name, alias, target);
      s.aliasesSet++;
    }
  }
  return s;
}

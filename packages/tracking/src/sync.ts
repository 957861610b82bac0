import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { FileStore } from './file-store.js';
import { endDeadRuns } from './gc.js';
import { truncateValue } from './limits.js';
import type { RestOptions } from './rest-store.js';
import { RestStore } from './rest-store.js';
import { TrackingServerError, TrackingServerUnreachableError } from './http.js';
import { resolveExperimentName } from './open-store.js';
import { syncRegistry, type RegistrySyncSummary } from './registry-sync.js';
import type { MetricPoint, RunRecord, TrackingLogger, TrackingStore } from './types.js';

/** What one sync changed on the server, by kind (one entry per syncer, plus runs). */
export interface SyncSummary {
  /**
   * The Model Registry carried too (the store has one: <from>/models): what syncRegistry did; null when the
   * server has no registry API (warned; the runs are synced). Absent when the store has no registry.
   */
  registry?: RegistrySyncSummary | null;
  /** experiments that had runs to consider */
  experiments: number;
  runsCreated: number;
  /** already on the server and changed by this sync (new metric points, artifacts, status, …) */
  runsUpdated: number;
  /** already on the server, nothing to send */
  runsSkipped: number;
  /** server copies of runs deleted locally (e.g. a sweep's superseded parent), deleted there too */
  runsDeleted: number;
  /** metric values sent */
  metrics: number;
  /** artifact files uploaded (new or changed) */
  artifacts: number;
  /** params sent */
  params: number;
  /** tags sent (new or changed values) */
  tags: number;
  /** status / end-time updates sent */
  statuses: number;
  /** params whose local value differs from the server's (MLflow never changes a param: warned, not sent) */
  conflicts: number;
  /** what each store-level syncer (STORE_SYNCERS, e.g. a model registry) sent, by its kind; absent when none ran */
  other?: Record<string, number>;
}

/** The tag that makes sync idempotent: the local run id, searched for on the server before creating. */
export const SYNC_TAG = 'nerflow.run_uuid';
/** Set once a finished run's copy is complete (informational: every sync compares the whole run anyway). */
export const SYNC_DONE_TAG = 'nerflow.sync_complete';
/** sha256 over the run's artifact paths and contents at the last sync: unchanged → no artifact is read back. */
export const SYNC_ARTIFACTS_TAG = 'nerflow.sync_artifacts_sha256';
/** Tags that describe the copy, not the run: never compared. */
const COPY_TAGS = new Set([SYNC_TAG, SYNC_DONE_TAG, SYNC_ARTIFACTS_TAG]);

/** What a syncer sees for one run: the local record and the server's copy (fresh after creation). */
export interface RunSyncContext {
  local: FileStore;
  remote: RestStore;
  localRun: RunRecord;
  remoteRun: RunRecord;
  /** true when this sync created the server copy */
  created: boolean;
  /** local run id → server run id, for the runs handled so far (parents before children) */
  idMap: Map<string, string>;
  summary: SyncSummary;
  log?: TrackingLogger;
}

/**
 * One kind of run content carried by sync. `sync` sends what the server lacks or has differently and
 * returns how many things it sent (0: nothing changed). Syncers run in list order for every run;
 * the status syncer is last so a run is FINISHED on the server only once its content is there.
 */
export interface RunSyncer {
  kind: string;
  sync(c: RunSyncContext): Promise<number>;
}

/** What a store-level syncer sees once every run is synced: both stores and the local → server run ids. */
export interface StoreSyncContext {
  local: FileStore;
  remote: RestStore;
  /** local run id → server run id, for every run synced */
  idMap: Map<string, string>;
  summary: SyncSummary;
  log?: TrackingLogger;
}

/**
 * Content that belongs to the store rather than to one run (e.g. the model registry, whose versions
 * point at runs: map them through idMap). Runs after every run is synced; returns how many things it
 * sent, counted in summary.other[kind] and shown by describeSync.
 */
export interface StoreSyncer {
  kind: string;
  sync(c: StoreSyncContext): Promise<number>;
}

/** Store-level syncers run by default after the runs (empty here; a registry syncer belongs in this list). */
export const STORE_SYNCERS: StoreSyncer[] = [];

/** The tags as the server copy should carry them: parent link remapped, the local id added. */
function wantedTags(c: RunSyncContext): Record<string, string> {
  const tags: Record<string, string> = { ...c.localRun.data.tags, [SYNC_TAG]: c.localRun.info.run_id };
  for (const k of COPY_TAGS) if (k !== SYNC_TAG) delete tags[k];
  const parent = tags['mlflow.parentRunId'];
  if (parent && c.idMap.has(parent)) tags['mlflow.parentRunId'] = c.idMap.get(parent)!;
  else if (parent) delete tags['mlflow.parentRunId']; // a parent not synced (deleted here): leave the server's link alone
  return tags;
}

const paramsSyncer: RunSyncer = {
  kind: 'params',
  async sync(c) {
    const send: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.localRun.data.params)) {
      const there = c.remoteRun.data.params[k];
      if (there === undefined) send[k] = v;
      else if (there !== truncateValue('param', k, v)) {
        c.summary.conflicts++;
        c.log?.warn(
          `mlflow sync: run ${c.localRun.info.run_name}: param ${k} is "${v}" here and "${there}" on the server; MLflow never changes a param, so the server keeps its value`,
        );
      }
    }
    if (Object.keys(send).length) await c.remote.logBatch(c.remoteRun.info.run_id, { params: send });
    c.summary.params += Object.keys(send).length;
    return Object.keys(send).length;
  },
};

const tagsSyncer: RunSyncer = {
  kind: 'tags',
  async sync(c) {
    // compared as the server keeps them (values over MLflow's limit truncated), so a long tag is not resent forever
    const send = Object.fromEntries(
      Object.entries(wantedTags(c)).filter(([k, v]) => c.remoteRun.data.tags[k] !== truncateValue('tag', k, v)),
    );
    if (Object.keys(send).length) await c.remote.logBatch(c.remoteRun.info.run_id, { tags: send });
    c.summary.tags += Object.keys(send).length;
    return Object.keys(send).length;
  },
};

/** A metric point's identity; ±Infinity as the SQL store keeps it (±1.797e308), so they compare equal. */
function pointKey(p: MetricPoint): string {
  const v = Number.isNaN(p.value)
    ? 'nan'
    : Math.abs(p.value) >= 1.7976931348623157e308
      ? p.value > 0
        ? 'inf'
        : '-inf'
      : String(p.value);
  return `${p.step}|${p.timestamp}|${v}`;
}

const metricsSyncer: RunSyncer = {
  kind: 'metrics',
  async sync(c) {
    const send: MetricPoint[] = [];
    for (const key of Object.keys(c.localRun.data.metrics).sort()) {
      const history = await c.local.getMetricHistory(c.localRun.info.run_id, key);
      // the server keeps one of identical points (MLflow's SQL store drops duplicates), so compare as a set
      const there = new Set<string>();
      if (!c.created && key in c.remoteRun.data.metrics) {
        for (const p of await c.remote.getMetricHistory(c.remoteRun.info.run_id, key)) there.add(pointKey(p));
      }
      for (const p of history) {
        const k = pointKey(p);
        if (there.has(k)) continue;
        there.add(k);
        send.push(p);
      }
    }
    if (send.length) await c.remote.logBatch(c.remoteRun.info.run_id, { metrics: send });
    c.summary.metrics += send.length;
    return send.length;
  },
};

const inputsSyncer: RunSyncer = {
  kind: 'inputs',
  async sync(c) {
    if (!c.created) return 0; // dataset inputs are logged once, when the run starts
    const inputs = await c.local.readInputs(c.localRun.info.run_id);
    if (inputs.length) await c.remote.logInputs(c.remoteRun.info.run_id, inputs);
    return inputs.length;
  },
};

/** Every file under the server copy's artifact root, path → size. */
async function remoteArtifactSizes(remote: RestStore, runId: string): Promise<Map<string, number | undefined>> {
  const out = new Map<string, number | undefined>();
  const walk = async (dir: string): Promise<void> => {
    for (const a of await remote.listArtifacts(runId, dir)) {
      if (a.is_dir) await walk(a.path);
      else out.set(a.path, a.file_size);
    }
  };
  await walk('');
  return out;
}

const artifactsSyncer: RunSyncer = {
  kind: 'artifacts',
  async sync(c) {
    const files = await c.local.listArtifactFiles(c.localRun.info.run_id);
    const digests = new Map<string, string>();
    for (const f of files)
      digests.set(
        f.path,
        createHash('sha256')
          .update(await readFile(f.file))
          .digest('hex'),
      );
    const all = createHash('sha256')
      .update(
        [...digests]
          .sort()
          .map(([p, d]) => `${p} ${d}\n`)
          .join(''),
      )
      .digest('hex');
    if (!c.created && c.remoteRun.data.tags[SYNC_ARTIFACTS_TAG] === all) return 0;
    const there = c.created
      ? new Map<string, number | undefined>()
      : await remoteArtifactSizes(c.remote, c.remoteRun.info.run_id);
    let sent = 0;
    for (const f of files) {
      const size = there.get(f.path);
      if (size !== undefined && size === (await stat(f.file)).size) {
        // same size: compare the bytes (only when something changed since the last sync)
        const theirs = await c.remote.downloadArtifact(c.remoteRun.info.run_id, f.path).catch(() => null);
        if (theirs && createHash('sha256').update(theirs).digest('hex') === digests.get(f.path)) continue;
      }
      const dir = f.path.includes('/') ? f.path.slice(0, f.path.lastIndexOf('/')) : '';
      await c.remote.logArtifact(c.remoteRun.info.run_id, f.file, dir);
      sent++;
    }
    await c.remote.logBatch(c.remoteRun.info.run_id, { tags: { [SYNC_ARTIFACTS_TAG]: all } });
    c.summary.artifacts += sent;
    return sent;
  },
};

const statusSyncer: RunSyncer = {
  kind: 'status',
  async sync(c) {
    const l = c.localRun.info;
    const r = c.remoteRun.info;
    let sent = 0;
    if (l.status !== r.status || (l.end_time !== null && l.end_time !== r.end_time)) {
      await c.remote.updateRun(r.run_id, { status: l.status, endTime: l.end_time ?? undefined });
      c.summary.statuses++;
      sent++;
    }
    if (l.status !== 'RUNNING' && c.remoteRun.data.tags[SYNC_DONE_TAG] !== 'true') {
      await c.remote.logBatch(r.run_id, { tags: { [SYNC_DONE_TAG]: 'true' } });
    }
    if (l.status === 'RUNNING')
      c.log?.warn(
        `mlflow sync: run ${l.run_name} (${l.run_id}) is still RUNNING locally; sent as it is now, the next sync sends the rest`,
      );
    return sent;
  },
};

/**
 * What sync carries for every run, in order. Extend by adding a syncer (e.g. the model registry);
 * the status syncer stays last.
 */
export const RUN_SYNCERS: RunSyncer[] = [
  paramsSyncer,
  tagsSyncer,
  metricsSyncer,
  inputsSyncer,
  artifactsSyncer,
  statusSyncer,
];

/**
 * Where a run logged under `runId` lives in `store`: the run itself, or its copy made by sync (found by
 * nerflow.run_uuid in the experiment); null when the store has neither. Lets a later stage (evaluate)
 * keep logging to a run that was trained offline and synced since.
 */
export async function locateRun(
  store: TrackingStore,
  runId: string,
  experiment: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | null> {
  const run = await store.getRun(runId).catch((e) => {
    if (e instanceof TrackingServerUnreachableError) throw e;
    return null;
  });
  if (run && run.info.lifecycle_stage === 'active') return runId;
  const exp = await store.getExperimentByName(resolveExperimentName(experiment, env));
  if (!exp) return null;
  const [copy] = await store.searchRuns([exp.experiment_id], `tags.\`${SYNC_TAG}\` = '${runId}'`);
  return copy?.info.run_id ?? null;
}

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

/** "1 experiment", "2 experiments", "1,024 metric values". */
export function plural(n: number, what: string, many = `${what}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? what : many}`;
}

/** One line for the user: what this sync changed on the server. */
export function describeSync(s: SyncSummary): string {
  const sent = [
    s.metrics && plural(s.metrics, 'metric value'),
    s.artifacts && plural(s.artifacts, 'artifact file'),
    s.params && plural(s.params, 'param'),
    s.tags && plural(s.tags, 'tag'),
    s.statuses && plural(s.statuses, 'status update'),
    ...Object.entries(s.other ?? {}).map(([kind, n]) => n && `${n.toLocaleString('en-US')} ${kind}`),
  ].filter(Boolean);
  const runs = [
    `${plural(s.runsCreated, 'run')} created`,
    `${s.runsUpdated} updated`,
    `${s.runsSkipped} unchanged`,
    ...(s.runsDeleted ? [`${s.runsDeleted} deleted`] : []),
  ];
  return `${runs.join(', ')} (${plural(s.experiments, 'experiment')}; ${sent.length ? `sent ${sent.join(', ')}` : 'nothing to send'}${s.conflicts ? `; ${plural(s.conflicts, 'param')} differing, kept` : ''})`;
}

/**
 * Push every run of a local file store to a tracking server, and every later change of a run pushed
 * before: the experiment (by name), params, metric histories (steps and timestamps; only the points the
 * server lacks), tags (new or changed), dataset inputs, artifacts (new or changed files), status and
 * end time, parent links remapped to the server's run ids, and deletions of runs deleted locally.
 * Idempotent: each server run carries nerflow.run_uuid = the local id and is looked up before creating;
 * a second sync sends nothing. Runs whose owner process is gone are first ended KILLED locally
 * (endDeadRuns), so a dead run is not pushed as RUNNING.
 */
export async function syncStore(o: {
  from: string;
  to: string;
  log?: TrackingLogger;
  env?: NodeJS.ProcessEnv;
  rest?: RestOptions;
  syncers?: RunSyncer[];
  storeSyncers?: StoreSyncer[];
  /** Carry the store's Model Registry after the runs (default true; see SyncSummary.registry). */
  registry?: boolean;
}): Promise<SyncSummary> {
  const local = new FileStore(o.from);
  const remote = new RestStore(o.to, { env: o.env, warn: o.log ? (m) => o.log!.warn(m) : undefined, ...o.rest });
  const syncers = o.syncers ?? RUN_SYNCERS;
  const summary: SyncSummary = {
    experiments: 0,
    runsCreated: 0,
    runsUpdated: 0,
    runsSkipped: 0,
    runsDeleted: 0,
    metrics: 0,
    artifacts: 0,
    params: 0,
    tags: 0,
    statuses: 0,
    conflicts: 0,
  };
  await endDeadRuns(local, { log: o.log });
  const work: { expName: string; run: RunRecord }[] = [];
  const experiments = await local.listExperiments();
  for (const e of experiments) {
    const runs = await local.searchRuns([e.experiment_id]);
    if (runs.length) summary.experiments++;
    for (const run of runs) work.push({ expName: e.name, run });
  }
  o.log?.info(
    `mlflow sync: ${plural(work.length, 'run')} in ${plural(summary.experiments, 'experiment')} of ${o.from} → ${o.to}`,
  );
  const bar = o.log?.progress('mlflow sync', work.length, 'runs');
  const remoteExp = new Map<string, string>();
  const expId = async (name: string) => {
    let id = remoteExp.get(name);
    if (!id) {
      id = await remote.getOrCreateExperiment(name);
      remoteExp.set(name, id);
    }
    return id;
  };
  const expOf = new Map(work.map((w) => [w.run, w.expName]));
  const idMap = new Map<string, string>();
  let done = 0;
  for (const run of parentsFirst(work.map((w) => w.run))) {
    const experimentId = await expId(expOf.get(run)!);
    const localId = run.info.run_id;
    const [existing] = await remote.searchRuns([experimentId], `tags.\`${SYNC_TAG}\` = '${localId}'`);
    let remoteRun: RunRecord;
    if (existing) remoteRun = existing;
    else {
      const parent = run.data.tags['mlflow.parentRunId'];
      const tags: Record<string, string> = { ...run.data.tags, [SYNC_TAG]: localId };
      for (const k of COPY_TAGS) if (k !== SYNC_TAG) delete tags[k];
      if (parent && idMap.has(parent)) tags['mlflow.parentRunId'] = idMap.get(parent)!;
      const info = await remote.createRun({
        experimentId,
        runName: run.info.run_name,
        startTime: run.info.start_time,
        tags,
        userId: run.info.user_id || undefined,
      });
      remoteRun = { info, data: { params: {}, metrics: {}, tags } };
    }
    idMap.set(localId, remoteRun.info.run_id);
    const c: RunSyncContext = {
      local,
      remote,
      localRun: run,
      remoteRun,
      created: !existing,
      idMap,
      summary,
      log: o.log,
    };
    let changes = 0;
    for (const s of syncers) changes += await s.sync(c);
    if (!existing) summary.runsCreated++;
    else if (changes) summary.runsUpdated++;
    else summary.runsSkipped++;
    bar?.update(++done, run.info.run_name);
  }
  // runs deleted locally (a sweep's parent replaced by a later one): delete their server copies too
  for (const e of experiments) {
    const id = remoteExp.get(e.name) ?? (await remote.getExperimentByName(e.name))?.experiment_id;
    if (!id) continue;
    for (const r of await remote.searchRuns([id], `tags.\`${SYNC_TAG}\` != ''`)) {
      const localRun = await local.getRun(r.data.tags[SYNC_TAG]).catch(() => null);
      if (localRun?.info.lifecycle_stage === 'deleted') {
        await remote.deleteRun(r.info.run_id);
        summary.runsDeleted++;
      }
    }
  }
  for (const s of o.storeSyncers ?? STORE_SYNCERS) {
    const n = await s.sync({ local, remote, idMap, summary, log: o.log });
    summary.other = { ...summary.other, [s.kind]: (summary.other?.[s.kind] ?? 0) + n };
  }
  bar?.finish(describeSync(summary));
  // the Model Registry (<from>/models), after the runs its versions point at
  if (o.registry !== false && (await stat(path.join(o.from, 'models')).catch(() => null))?.isDirectory()) {
    summary.registry = await syncRegistry({ from: o.from, to: o.to, log: o.log, env: o.env, rest: o.rest }).catch(
      (e) => {
        if (!(e instanceof TrackingServerError && e.status === 404)) throw e;
        o.log?.warn(
          `mlflow sync: ${o.to} has no Model Registry API (${e.message.split('\n')[0]}); the runs are synced, the registry is not`,
        );
        return null;
      },
    );
  }
  return summary;
}

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStore } from './file-store.js';
import { flattenParams } from './keys.js';
import { RestStore } from './rest-store.js';
import type { DatasetInput, RunStatus, TrackingStore } from './types.js';

/**
 * The store for a tracking URI, as MLflow chooses: MLFLOW_TRACKING_URI wins over the caller's URI;
 * http(s):// → REST; file:/path or a plain path → file store; nothing → <root>/mlruns.
 */
export function openStore(o: { uri?: string | null; root?: string; env?: NodeJS.ProcessEnv } = {}): TrackingStore {
  const env = o.env ?? process.env;
  const uri = env.MLFLOW_TRACKING_URI || o.uri || path.join(o.root ?? process.cwd(), 'mlruns');
  if (/^https?:\/\//.test(uri)) return new RestStore(uri, { env });
  if (uri.startsWith('file:')) return new FileStore(decodeURIComponent(uri.replace(/^file:(\/\/)?/, '/').replace(/^\/+/, '/')));
  if (/^[a-z][\w+.-]*:/i.test(uri) && !/^[a-z]:[\\/]/i.test(uri)) {
    throw new Error(`tracking URI ${uri}: nerflow logs to http(s):// tracking servers or to a local file store path; for a database backend, run \`mlflow server --backend-store-uri ${uri}\` and point MLFLOW_TRACKING_URI at it.`);
  }
  return new FileStore(path.resolve(uri));
}

/** The git commit of the checkout, read from .git without running git (omitted outside a checkout). */
export function gitCommit(from = process.cwd()): string | null {
  for (let d = path.resolve(from); ; d = path.dirname(d)) {
    const git = path.join(d, '.git');
    if (existsSync(git)) {
      try {
        const head = readFileSync(path.join(git, 'HEAD'), 'utf8').trim();
        if (!head.startsWith('ref: ')) return head;
        const ref = head.slice(5);
        const loose = path.join(git, ref);
        if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
        const packed = path.join(git, 'packed-refs');
        if (existsSync(packed)) return readFileSync(packed, 'utf8').split('\n').find((l) => l.endsWith(` ${ref}`))?.split(' ')[0] ?? null;
      } catch {
        return null;
      }
      return null;
    }
    if (path.dirname(d) === d) return null;
  }
}

export interface StartRunOptions {
  experiment: string;
  runName: string;
  parentRunId?: string;
  /** Shown in the UI as the run's description (mlflow.note.content). */
  description?: string;
  tags?: Record<string, string>;
  /** Logged as params (nested objects flattened to dotted keys). */
  params?: Record<string, unknown>;
}

export interface ActiveRun {
  readonly runId: string;
  readonly experimentId: string;
  readonly store: TrackingStore;
  logMetrics(values: Record<string, number>, step: number, timestamp?: number): Promise<void>;
  logParams(values: Record<string, unknown>): Promise<void>;
  setTags(tags: Record<string, string>): Promise<void>;
  logArtifact(localPath: string, artifactPath?: string): Promise<void>;
  logInputs(datasets: DatasetInput[]): Promise<void>;
  end(status?: RunStatus): Promise<void>;
  /** Run `body`; a throw ends the run FAILED (and rethrows), SIGINT/SIGTERM end it KILLED and exit. */
  guard<T>(body: () => Promise<T>): Promise<T>;
}

/** Create a run with MLflow's system tags, or (experiment name → id) as MLflow clients do. */
export async function startRun(store: TrackingStore, o: StartRunOptions, env: NodeJS.ProcessEnv = process.env): Promise<ActiveRun> {
  const experimentId = await store.getOrCreateExperiment(env.MLFLOW_EXPERIMENT_NAME || o.experiment);
  const commit = gitCommit();
  const tags: Record<string, string> = {
    'mlflow.runName': o.runName,
    'mlflow.user': os.userInfo().username,
    'mlflow.source.name': process.argv[1] ? path.basename(process.argv[1]) : 'nerflow',
    'mlflow.source.type': 'LOCAL',
    ...(commit ? { 'mlflow.source.git.commit': commit } : {}),
    ...(o.parentRunId ? { 'mlflow.parentRunId': o.parentRunId } : {}),
    ...(o.description ? { 'mlflow.note.content': o.description } : {}),
    ...o.tags,
  };
  const info = await store.createRun({ experimentId, runName: o.runName, tags });
  const run = activeRun(store, info.run_id, experimentId);
  if (o.params) await run.logParams(o.params);
  return run;
}

/** Continue logging to an existing run (e.g. evaluate logging to its training run). */
export function activeRun(store: TrackingStore, runId: string, experimentId: string): ActiveRun {
  let ended = false;
  const run: ActiveRun = {
    runId, experimentId, store,
    logMetrics: (values, step, timestamp = Date.now()) =>
      store.logBatch(runId, { metrics: Object.entries(values).filter(([, v]) => typeof v === 'number').map(([key, value]) => ({ key, value, step, timestamp })) }),
    logParams: (values) => store.logBatch(runId, { params: flattenParams(values) }),
    setTags: (tags) => store.logBatch(runId, { tags }),
    logArtifact: (p, a) => store.logArtifact(runId, p, a),
    logInputs: (d) => store.logInputs(runId, d),
    async end(status = 'FINISHED') {
      if (ended) return;
      ended = true;
      await store.updateRun(runId, { status, endTime: Date.now() });
    },
    async guard(body) {
      const onSignal = (signal: NodeJS.Signals) => {
        run.end('KILLED').finally(() => {
          process.removeListener('SIGINT', onSignal);
          process.removeListener('SIGTERM', onSignal);
          process.exit(signal === 'SIGINT' ? 130 : 143);
        });
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const result = await body();
        await run.end('FINISHED');
        return result;
      } catch (e) {
        await run.end('FAILED').catch(() => undefined);
        throw e;
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    },
  };
  return run;
}

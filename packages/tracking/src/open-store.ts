import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStore } from './file-store.js';
import { TrackingEnvironmentError } from './errors.js';
import { RestStore, type RestOptions } from './rest-store.js';
import type { TrackingStore } from './types.js';

export interface OpenStoreOptions {
  /** The caller's tracking URI (a config value); MLFLOW_TRACKING_URI overrides it, as in MLflow. */
  uri?: string | null;
  /** Where the default store lives: <root>/mlruns (default: the current folder, as MLflow's ./mlruns). */
  root?: string;
  env?: NodeJS.ProcessEnv;
  /** REST retries/timeouts; warnings (value truncation) go to `warn`. */
  rest?: RestOptions;
  warn?: (msg: string) => void;
}

/** The tracking URI in force: MLFLOW_TRACKING_URI, else the caller's, else <root>/mlruns. */
export function resolveTrackingUri(o: OpenStoreOptions = {}): string {
  const env = o.env ?? process.env;
  return env.MLFLOW_TRACKING_URI || o.uri || path.join(o.root ?? process.cwd(), 'mlruns');
}

/**
 * The store for a tracking URI, chosen as MLflow chooses (mlflow/tracking/_tracking_service/utils.py):
 * http:// or https:// → REST; file:///abs, file:rel or a plain path → file store. Database URIs
 * (sqlite:, postgresql:, …) need MLflow itself: run `mlflow server` on them and point here at it.
 */
export function openStore(o: OpenStoreOptions = {}): TrackingStore {
  const uri = resolveTrackingUri(o);
  if (/^https?:\/\//i.test(uri)) return new RestStore(uri, { env: o.env, warn: o.warn, ...o.rest });
  if (/^file:\/\//i.test(uri)) return new FileStore(fileURLToPath(uri), { warn: o.warn });
  if (/^file:/i.test(uri)) return new FileStore(path.resolve(decodeURIComponent(uri.slice(5))), { warn: o.warn });
  if (/^[a-z][\w+.-]+:/i.test(uri) && !/^[a-z]:[\\/]/i.test(uri)) {
    throw new TrackingEnvironmentError(
      `tracking URI ${uri}: this client logs to an MLflow tracking server (http:// or https://) or to a file store (a path or file:// URI). ` +
        `For a database backend run \`mlflow server --backend-store-uri ${uri}\` and set MLFLOW_TRACKING_URI=http://127.0.0.1:5000.`,
    );
  }
  return new FileStore(path.resolve(uri), { warn: o.warn });
}

/** The experiment in force: MLFLOW_EXPERIMENT_NAME, else the caller's (as mlflow.set_experiment's default). */
export function resolveExperimentName(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.MLFLOW_EXPERIMENT_NAME || name;
}

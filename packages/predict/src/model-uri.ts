import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '@nerflow/core';
import { fetchRunArtifacts, openRegistry, openStore, type ModelVersion, type TrackingStore } from '@nerflow/tracking';

export interface ResolveOptions {
  /** Workspace root: runs/ lives here (file store runs/mlruns, download cache runs/.models). */
  root: string;
  /** Tracking URI from the config/flag; MLFLOW_TRACKING_URI overrides it (as everywhere in nerflow). */
  trackingUri?: string | null;
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedModel {
  dir: string;
  /** What was asked for, and what it is (for /version, logs). */
  uri: string;
  version?: ModelVersion;
  runId?: string;
}

/** A trial folder (runs/<c>/train/<trial>) or its model/ folder. */
function localFolder(p: string): string | null {
  if (existsSync(path.join(p, 'nerflow.json'))) return p;
  if (existsSync(path.join(p, 'model', 'nerflow.json'))) return path.join(p, 'model');
  return null;
}

/**
 * --model → a model folder on this machine:
 * - a trial folder (runs/<config>/train/<trial>) or a model folder;
 * - runs:/<run_id>/<path> — a run's artifacts (file store: read in place; server: downloaded once into runs/.models/);
 * - models:/<name>@<alias>, models:/<name>/<version> — MLflow's Model Registry of the tracking store in force.
 * Errors name what was asked for and what exists.
 */
export async function resolveModel(uri: string, o: ResolveOptions): Promise<ResolvedModel> {
  const store = () => openStore({ uri: o.trackingUri, root: path.join(o.root, 'runs'), env: o.env });
  const cache = path.join(o.root, 'runs', '.models');
  const m = /^runs:\/([^/]+)\/(.+)$/.exec(uri);
  if (m) {
    const s = store();
    await s.getRun(m[1]).catch((e) => {
      throw new ValidationError(
        `--model ${uri}: no run ${m[1]} in the tracking store ${s.uri} (${(e as Error).message.split('\n')[0]}). Is MLFLOW_TRACKING_URI set to the store the run was logged to?`,
      );
    });
    return { dir: await runFolder(s, m[1], m[2].replace(/\/+$/, ''), cache, uri), uri, runId: m[1] };
  }
  const r = /^models:\/([^/@]+)(?:@([^/]+)|\/(\d+))$/.exec(uri);
  if (r) {
    const [, name, alias, version] = r;
    const s = store();
    const reg = openRegistry(s);
    const mv = alias ? await reg.getModelVersionByAlias(name, alias) : await reg.getModelVersion(name, version);
    if (!mv) {
      const model = await reg.getRegisteredModel(name);
      if (!model) {
        const names = (await reg.listRegisteredModels()).map((x) => x.name);
        throw new ValidationError(
          `--model ${uri}: no registered model "${name}" in ${s.uri}. Registered models: ${names.length ? names.join(', ') : 'none (run evaluate to register one)'}.`,
        );
      }
      const versions = (await reg.listModelVersions(name)).map((v) => v.version);
      const aliases = Object.entries(model.aliases).map(([a, v]) => `@${a} (version ${v})`);
      throw new ValidationError(
        `--model ${uri}: ${alias ? `no alias @${alias}` : `no version ${version}`} of "${name}". It has versions ${versions.join(', ') || 'none'}${aliases.length ? ` and aliases ${aliases.join(', ')}` : ''}.`,
      );
    }
    if (!mv.run_id)
      throw new ValidationError(
        `--model ${uri}: version ${mv.version} of "${name}" has no run (source ${mv.source}); nerflow loads registered versions from their run's artifacts`,
      );
    const artifactPath = artifactPathOf(mv.source, mv.run_id);
    return { dir: await runFolder(s, mv.run_id, artifactPath, cache, uri), uri, version: mv, runId: mv.run_id };
  }
  if (/^[a-z][\w+.-]*:\//i.test(uri))
    throw new ValidationError(
      `--model ${uri}: unknown URI scheme. Use a folder, runs:/<run_id>/model, models:/<name>@<alias> or models:/<name>/<version>.`,
    );
  const p = path.resolve(uri);
  const found = localFolder(p);
  if (found) return { dir: found, uri };
  if (!existsSync(p)) {
    const trainDir = path.join(o.root, 'runs');
    const configs = existsSync(trainDir)
      ? readdirSync(trainDir).filter((c) => existsSync(path.join(trainDir, c, 'train')))
      : [];
    const trials = configs.flatMap((c) =>
      readdirSync(path.join(trainDir, c, 'train'))
        .filter((t) => localFolder(path.join(trainDir, c, 'train', t)))
        .map((t) => `runs/${c}/train/${t}`),
    );
    throw new ValidationError(
      `--model ${uri}: no such folder. Trained models here: ${trials.length ? trials.join(', ') : 'none (npx nerflow pipeline --config smoke.yaml trains one)'}.`,
    );
  }
  return { dir: p, uri }; // Predictor.load names what is missing
}

/** The artifact path of a registered version's source (…/artifacts/<path>, or runs:/<id>/<path>). */
function artifactPathOf(source: string, runId: string): string {
  const runs = new RegExp(`^runs:/${runId}/(.+)$`).exec(source);
  if (runs) return runs[1];
  const i = source.lastIndexOf('/artifacts/');
  return i >= 0 ? source.slice(i + '/artifacts/'.length) : 'model';
}

async function runFolder(
  s: TrackingStore,
  runId: string,
  artifactPath: string,
  cache: string,
  uri: string,
): Promise<string> {
  const dir = await fetchRunArtifacts(s, runId, artifactPath, cache).catch((e) => {
    throw new ValidationError(
      `--model ${uri}: cannot read the run's ${artifactPath} artifacts (${(e as Error).message})`,
    );
  });
  if (!existsSync(path.join(dir, 'nerflow.json')))
    throw new ValidationError(
      `--model ${uri}: the run's ${artifactPath}/ artifacts hold no nerflow model (no nerflow.json)`,
    );
  return dir;
}

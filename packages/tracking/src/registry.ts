import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileStore } from './file-store.js';
import { writeAtomic, withFileLock } from './fs-util.js';
import { dumpMeta, loadMeta } from './meta-yaml.js';
import { RestStore } from './rest-store.js';
import { TrackingServerError } from './http.js';
import type { TrackingStore } from './types.js';

/** mlflow.entities.model_registry.ModelVersion, as the REST API names its fields. */
export interface ModelVersion {
  name: string;
  version: string;
  source: string;
  run_id: string;
  status: string;
  description: string;
  creation_timestamp: number;
  aliases: string[];
  tags: Record<string, string>;
}

export interface RegisteredModel {
  name: string;
  description: string;
  /** alias → version */
  aliases: Record<string, string>;
}

/** MLflow's Model Registry over either store: MLflow's registry REST API, or its file-store layout. */
export interface ModelRegistry {
  listRegisteredModels(): Promise<RegisteredModel[]>;
  getRegisteredModel(name: string): Promise<RegisteredModel | null>;
  /** Creates it if absent (no error when it exists). */
  ensureRegisteredModel(name: string, description?: string): Promise<void>;
  createModelVersion(
    name: string,
    o: { source: string; runId: string; description?: string; tags?: Record<string, string> },
  ): Promise<ModelVersion>;
  getModelVersion(name: string, version: string): Promise<ModelVersion | null>;
  getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion | null>;
  listModelVersions(name: string): Promise<ModelVersion[]>;
  setAlias(name: string, alias: string, version: string): Promise<void>;
}

/** mlflow/utils/validation.py _validate_model_name / _validate_model_alias_name, the parts that matter for paths. */
function checkName(kind: string, name: string): void {
  if (!name || name.includes('/') || name.includes('\\') || name === '.' || name === '..' || name.includes(':')) {
    throw new Error(
      `invalid registered model ${kind} ${JSON.stringify(name)}: it must be non-empty, without "/", "\\" or ":"`,
    );
  }
}

/**
 * mlflow/store/model_registry/file_store.py FileStore, layout (checked against MLflow 3.6, which reads it):
 *   <root>/models/<name>/meta.yaml                 name, description, creation/last_updated_timestamp,
 *                                                  deployment_job_id, deployment_job_state, aliases {alias: 'N'}
 *   <root>/models/<name>/aliases/<alias>           the version number (what MLflow reads an alias from)
 *   <root>/models/<name>/version-<N>/meta.yaml     name, version (int), source, storage_location, run_id,
 *                                                  status READY, current_stage None, timestamps, description, …
 *   <root>/models/<name>/version-<N>/tags/<key>    a version tag (the value, no newline)
 */
export class FileRegistry implements ModelRegistry {
  constructor(readonly root: string) {}

  private get models() {
    return path.join(this.root, 'models');
  }

  private dir(name: string): string {
    checkName('model name', name);
    return path.join(this.models, name);
  }

  private async readModel(name: string): Promise<RegisteredModel | null> {
    const file = path.join(this.dir(name), 'meta.yaml');
    if (!existsSync(file)) return null;
    const m = loadMeta(await readFile(file, 'utf8'));
    const aliases: Record<string, string> = {};
    const aDir = path.join(this.dir(name), 'aliases');
    if (existsSync(aDir))
      for (const a of await readdir(aDir)) aliases[a] = (await readFile(path.join(aDir, a), 'utf8')).trim();
    return { name: String(m.name), description: m.description == null ? '' : String(m.description), aliases };
  }

  async listRegisteredModels(): Promise<RegisteredModel[]> {
    if (!existsSync(this.models)) return [];
    const out: RegisteredModel[] = [];
    for (const n of (await readdir(this.models)).sort()) {
      const m = await this.readModel(n).catch(() => null);
      if (m) out.push(m);
    }
    return out;
  }

  getRegisteredModel(name: string): Promise<RegisteredModel | null> {
    return this.readModel(name);
  }

  /** meta.yaml as FileStore._save_registered_model_as_meta_file writes it (aliases mirrored, as MLflow does after set_registered_model_alias). */
  private async writeModelMeta(
    name: string,
    o: { description: string; created: number; updated: number; aliases: Record<string, string> },
  ): Promise<void> {
    await writeAtomic(
      path.join(this.dir(name), 'meta.yaml'),
      dumpMeta({
        ...(Object.keys(o.aliases).length ? { aliases: o.aliases } : {}),
        creation_timestamp: o.created,
        deployment_job_id: null,
        deployment_job_state: null,
        description: o.description || null,
        last_updated_timestamp: o.updated,
        name,
      }),
    );
  }

  private async touch(name: string): Promise<void> {
    const m = loadMeta(await readFile(path.join(this.dir(name), 'meta.yaml'), 'utf8'));
    const cur = (await this.readModel(name))!;
    await this.writeModelMeta(name, {
      description: cur.description,
      created: Number(m.creation_timestamp),
      updated: Date.now(),
      aliases: cur.aliases,
    });
  }

  async ensureRegisteredModel(name: string, description = ''): Promise<void> {
    await mkdir(this.models, { recursive: true });
    await withFileLock(path.join(this.models, `.${name}.lock`), async () => {
      if (existsSync(path.join(this.dir(name), 'meta.yaml'))) return;
      await mkdir(this.dir(name), { recursive: true });
      const now = Date.now();
      await this.writeModelMeta(name, { description, created: now, updated: now, aliases: {} });
    });
  }

  private async readVersion(name: string, version: string): Promise<ModelVersion | null> {
    const d = path.join(this.dir(name), `version-${version}`);
    if (!/^\d+$/.test(version) || !existsSync(path.join(d, 'meta.yaml'))) return null;
    const m = loadMeta(await readFile(path.join(d, 'meta.yaml'), 'utf8'));
    const tags: Record<string, string> = {};
    const tDir = path.join(d, 'tags');
    if (existsSync(tDir)) for (const t of await readdir(tDir)) tags[t] = await readFile(path.join(tDir, t), 'utf8');
    const model = await this.readModel(name);
    return {
      name,
      version: String(m.version),
      source: String(m.source ?? ''),
      run_id: m.run_id == null ? '' : String(m.run_id),
      status: String(m.status ?? 'READY'),
      description: m.description == null ? '' : String(m.description),
      creation_timestamp: Number(m.creation_timestamp),
      aliases: Object.entries(model?.aliases ?? {})
        .filter(([, v]) => v === String(m.version))
        .map(([a]) => a),
      tags,
    };
  }

  async listModelVersions(name: string): Promise<ModelVersion[]> {
    if (!existsSync(this.dir(name))) return [];
    const out: ModelVersion[] = [];
    for (const e of await readdir(this.dir(name))) {
      const m = /^version-(\d+)$/.exec(e);
      const v = m ? await this.readVersion(name, m[1]) : null;
      if (v) out.push(v);
    }
    return out.sort((a, b) => Number(a.version) - Number(b.version));
  }

  /** FileStore.create_model_version: next version = highest + 1, under a lock here (MLflow retries instead). */
  async createModelVersion(
    name: string,
    o: { source: string; runId: string; description?: string; tags?: Record<string, string> },
  ): Promise<ModelVersion> {
    if (!(await this.readModel(name))) throw new Error(`Registered Model with name=${name} not found`);
    const version = await withFileLock(path.join(this.models, `.${name}.lock`), async () => {
      const n = Math.max(0, ...(await this.listModelVersions(name)).map((v) => Number(v.version))) + 1;
      const d = path.join(this.dir(name), `version-${n}`);
      await mkdir(d, { recursive: true });
      const now = Date.now();
      await writeAtomic(
        path.join(d, 'meta.yaml'),
        dumpMeta({
          creation_timestamp: now,
          current_stage: 'None',
          deployment_job_state: null,
          description: o.description || null,
          last_updated_timestamp: now,
          model_id: null,
          name,
          run_id: o.runId,
          run_link: null,
          source: o.source,
          status: 'READY',
          status_message: null,
          storage_location: o.source,
          user_id: null,
          version: n,
        }),
      );
      for (const [k, v] of Object.entries(o.tags ?? {})) {
        await mkdir(path.join(d, 'tags'), { recursive: true });
        await writeFile(path.join(d, 'tags', k), v);
      }
      return String(n);
    });
    await this.touch(name);
    return (await this.readVersion(name, version))!;
  }

  getModelVersion(name: string, version: string): Promise<ModelVersion | null> {
    return this.readVersion(name, version);
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion | null> {
    checkName('alias', alias);
    const file = path.join(this.dir(name), 'aliases', alias);
    if (!existsSync(file)) return null;
    return this.readVersion(name, (await readFile(file, 'utf8')).trim());
  }

  /** FileStore.set_registered_model_alias: aliases/<alias> holds the version; meta.yaml updated. */
  async setAlias(name: string, alias: string, version: string): Promise<void> {
    checkName('alias', alias);
    if (!(await this.readVersion(name, version)))
      throw new Error(`Model Version (name=${name}, version=${version}) not found`);
    await mkdir(path.join(this.dir(name), 'aliases'), { recursive: true });
    await writeAtomic(path.join(this.dir(name), 'aliases', alias), version);
    await this.touch(name);
  }

  /** For tests: remove a registered model folder. */
  async deleteRegisteredModel(name: string): Promise<void> {
    await rm(this.dir(name), { recursive: true, force: true });
  }
}

type RestVersion = Partial<Omit<ModelVersion, 'tags'>> & { tags?: { key: string; value: string }[] };

function fromRest(v: RestVersion): ModelVersion {
  return {
    name: v.name ?? '',
    version: String(v.version),
    source: v.source ?? '',
    run_id: v.run_id ?? '',
    status: v.status ?? 'READY',
    description: v.description ?? '',
    creation_timestamp: Number(v.creation_timestamp ?? 0),
    aliases: v.aliases ?? [],
    tags: Object.fromEntries((v.tags ?? []).map((t) => [t.key, t.value])),
  };
}

const notFound = (e: unknown) =>
  e instanceof TrackingServerError &&
  (e.errorCode === 'RESOURCE_DOES_NOT_EXIST' ||
    e.status === 404 ||
    (e.errorCode === 'INVALID_PARAMETER_VALUE' && /not found/i.test(e.message)));

/** MLflow's registry REST API 2.0 (mlflow/protos/model_registry.proto) on a tracking server. */
export class RestRegistry implements ModelRegistry {
  constructor(readonly store: RestStore) {}

  async listRegisteredModels(): Promise<RegisteredModel[]> {
    const out: RegisteredModel[] = [];
    let token: string | undefined;
    do {
      const r = await this.store.api<{
        registered_models?: { name: string; description?: string; aliases?: { alias: string; version: string }[] }[];
        next_page_token?: string;
      }>('GET', 'registered-models/search', undefined, { max_results: '1000', page_token: token });
      for (const m of r.registered_models ?? [])
        out.push({
          name: m.name,
          description: m.description ?? '',
          aliases: Object.fromEntries((m.aliases ?? []).map((a) => [a.alias, String(a.version)])),
        });
      token = r.next_page_token || undefined;
    } while (token);
    return out;
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel | null> {
    try {
      const r = await this.store.api<{
        registered_model: { name: string; description?: string; aliases?: { alias: string; version: string }[] };
      }>('GET', 'registered-models/get', undefined, { name });
      const m = r.registered_model;
      return {
        name: m.name,
        description: m.description ?? '',
        aliases: Object.fromEntries((m.aliases ?? []).map((a) => [a.alias, String(a.version)])),
      };
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  async ensureRegisteredModel(name: string, description = ''): Promise<void> {
    if (await this.getRegisteredModel(name)) return;
    try {
      await this.store.api('POST', 'registered-models/create', { name, description });
    } catch (e) {
      if (!(e instanceof TrackingServerError && e.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw e;
    }
  }

  async createModelVersion(
    name: string,
    o: { source: string; runId: string; description?: string; tags?: Record<string, string> },
  ): Promise<ModelVersion> {
    const r = await this.store.api<{ model_version: RestVersion }>('POST', 'model-versions/create', {
      name,
      source: o.source,
      run_id: o.runId,
      description: o.description ?? '',
      tags: Object.entries(o.tags ?? {}).map(([key, value]) => ({ key, value })),
    });
    return fromRest(r.model_version);
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion | null> {
    try {
      return fromRest(
        (
          await this.store.api<{ model_version: RestVersion }>('GET', 'model-versions/get', undefined, {
            name,
            version,
          })
        ).model_version,
      );
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion | null> {
    try {
      return fromRest(
        (
          await this.store.api<{ model_version: RestVersion }>('GET', 'registered-models/alias', undefined, {
            name,
            alias,
          })
        ).model_version,
      );
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  async listModelVersions(name: string): Promise<ModelVersion[]> {
    const out: ModelVersion[] = [];
    let token: string | undefined;
    do {
      const r = await this.store.api<{ model_versions?: RestVersion[]; next_page_token?: string }>(
        'GET',
        'model-versions/search',
        undefined,
        {
          filter: `name='${name.replace(/'/g, "\\'")}'`,
          max_results: '1000',
          page_token: token,
        },
      );
      out.push(...(r.model_versions ?? []).map(fromRest));
      token = r.next_page_token || undefined;
    } while (token);
    return out.sort((a, b) => Number(a.version) - Number(b.version));
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.store.api('POST', 'registered-models/alias', { name, alias, version });
  }
}

export function openRegistry(store: TrackingStore): ModelRegistry {
  if (store instanceof FileStore) return new FileRegistry(store.root);
  if (store instanceof RestStore) return new RestRegistry(store);
  throw new Error(`no model registry for the tracking store at ${store.uri}`);
}

/**
 * A run's artifact folder on this machine: the file store's own folder, or (REST) every file under
 * `artifactPath` downloaded into `cacheDir` (skipped when already complete there).
 */
export async function fetchRunArtifacts(
  store: TrackingStore,
  runId: string,
  artifactPath: string,
  cacheDir: string,
): Promise<string> {
  if (store instanceof FileStore) return path.join(await store.artifactRoot(runId), artifactPath);
  if (!(store instanceof RestStore)) throw new Error(`cannot download artifacts from ${store.uri}`);
  const dest = path.join(cacheDir, runId, artifactPath);
  if (existsSync(path.join(dest, '.complete'))) return dest;
  const files: string[] = [];
  const walk = async (p: string): Promise<void> => {
    for (const a of await store.listArtifacts(runId, p)) {
      if (a.is_dir) await walk(a.path);
      else files.push(a.path);
    }
  };
  await walk(artifactPath);
  if (!files.length) throw new Error(`run ${runId} has no artifacts under ${artifactPath} on ${store.uri}`);
  await rm(dest, { recursive: true, force: true });
  for (const f of files) {
    const target = path.join(cacheDir, runId, f);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, await store.downloadArtifact(runId, f));
  }
  await writeFile(path.join(dest, '.complete'), '');
  return dest;
}

/**
 * The MLmodel file MLflow expects at the root of a logged model (mlflow/models/model.py Model.to_yaml):
 * artifact_path, flavors, model_uuid, run_id, utc_time_created. The one flavor is `nerflow` (its fields
 * are free-form, as for any custom flavor); there is no python_function flavor, so `mlflow models serve`
 * cannot load it — `nerflow serve` speaks the same scoring protocol instead.
 */
export function mlmodelYaml(o: {
  runId: string;
  artifactPath: string;
  flavor: Record<string, unknown>;
  now?: Date;
}): string {
  const t = (o.now ?? new Date()).toISOString().replace('T', ' ').replace('Z', '000');
  return dumpMeta({
    artifact_path: o.artifactPath,
    flavors: { nerflow: o.flavor },
    model_uuid: crypto.randomUUID().replace(/-/g, ''),
    run_id: o.runId,
    utc_time_created: t,
  });
}

export const CHAMPION = 'champion';
export const F1_TAG = 'nerflow.test_entity_f1';

/**
 * Log a run's model as an MLflow model (MLmodel beside the files already logged under `artifactPath`),
 * register it as a new version of `name` (created if absent) and move the `champion` alias to it only
 * when its metric beats the current champion's (the champion's own tag, else its run's metric).
 */
export async function registerRunModel(
  store: TrackingStore,
  o: {
    runId: string;
    name: string;
    artifactPath: string;
    flavor: Record<string, unknown>;
    metric: number;
    description?: string;
    tags?: Record<string, string>;
    tmpDir: string;
  },
): Promise<{ version: ModelVersion; champion: boolean; previous: { version: string; metric: number | null } | null }> {
  const registry = openRegistry(store);
  await mkdir(o.tmpDir, { recursive: true });
  const file = path.join(o.tmpDir, 'MLmodel');
  await writeFile(file, mlmodelYaml({ runId: o.runId, artifactPath: o.artifactPath, flavor: o.flavor }));
  await store.logArtifact(o.runId, file, o.artifactPath);
  await registry.ensureRegisteredModel(o.name, o.description);
  const run = await store.getRun(o.runId);
  const version = await registry.createModelVersion(o.name, {
    source: `${run.info.artifact_uri.replace(/\/+$/, '')}/${o.artifactPath}`,
    runId: o.runId,
    tags: { ...o.tags, [F1_TAG]: String(o.metric) },
    description: o.description,
  });
  const current = await registry.getModelVersionByAlias(o.name, CHAMPION);
  let previous: { version: string; metric: number | null } | null = null;
  if (current) {
    let m = current.tags[F1_TAG] !== undefined ? Number(current.tags[F1_TAG]) : NaN;
    if (!Number.isFinite(m) && current.run_id)
      m = (await store.getRun(current.run_id).catch(() => null))?.data.metrics.test_entity_f1 ?? NaN;
    previous = { version: current.version, metric: Number.isFinite(m) ? m : null };
  }
  const champion = !previous || previous.metric === null || o.metric > previous.metric;
  if (champion) await registry.setAlias(o.name, CHAMPION, version.version);
  return { version, champion, previous };
}

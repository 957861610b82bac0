import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { appendLines, withFileLock, writeAtomic } from './fs-util.js';
import { datasetId, inputId, newExperimentId, newRunId, randomRunName } from './ids.js';
import { parsePyFloat, pyFloat, validateKey } from './keys.js';
import { truncateValue } from './limits.js';
import { dumpMeta, loadMeta } from './meta-yaml.js';
import { matchesFilter } from './search.js';
import type {
  ArtifactInfo,
  CreateRunOptions,
  DatasetInput,
  Experiment,
  LogBatch,
  MetricPoint,
  RunInfo,
  RunRecord,
  RunStatus,
  TrackingStore,
  UpdateRunOptions,
} from './types.js';

/** RunStatus as stored in meta.yaml: the proto enum's int (mlflow/protos/service.proto enum RunStatus). */
export const STATUS_CODE: Record<RunStatus, number> = { RUNNING: 1, SCHEDULED: 2, FINISHED: 3, FAILED: 4, KILLED: 5 };
const STATUS_NAME = Object.fromEntries(Object.entries(STATUS_CODE).map(([k, v]) => [v, k])) as Record<
  number,
  RunStatus
>;
/** SourceType.LOCAL (mlflow/entities/source_type.py), written for every run by _make_persisted_run_info_dict. */
export const SOURCE_TYPE_LOCAL = 4;
/** FileStore.RESERVED_EXPERIMENT_FOLDERS: folders of an experiment that are not runs. */
const RESERVED = new Set(['tags', 'datasets', 'traces']);
const TRASH = '.trash';
const LOCK = '.nerflow-experiments.lock';
/** validation._RUN_ID_REGEX */
const RUN_ID_RE = /^[a-zA-Z0-9][\w-]{0,255}$/;

/**
 * MLflow's file store (mlflow/store/tracking/file_store.py FileStore), written so that
 * `MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri <root>` and `mlflow migrate-filestore`
 * read it unchanged. Layout (see README.md for every field and its source):
 *   <root>/.trash/                                     deleted experiments
 *   <root>/<exp_id>/meta.yaml                          experiment ('0' = Default)
 *   <root>/<exp_id>/<run_id>/meta.yaml                 run info, status as the int enum
 *   <root>/<exp_id>/<run_id>/metrics/<key>             "<timestamp_ms> <value> <step>" lines
 *   <root>/<exp_id>/<run_id>/params/<key>, tags/<key>  the value, no newline ("/" in a key = sub-folder)
 *   <root>/<exp_id>/<run_id>/artifacts/...
 *   <root>/<exp_id>/datasets/<md5>/meta.yaml, <run_id>/inputs/<md5>/meta.yaml   dataset inputs
 * Several processes may log at once: uuid4 run ids, O_APPEND metric lines, meta/param/tag files
 * written to a temp file and renamed, experiments created under a lock file.
 */
export class FileStore implements TrackingStore {
  readonly uri: string;
  private readonly runs = new Map<string, { dir: string; exp: string }>();
  private ready: Promise<void> | null = null;

  constructor(
    readonly root: string,
    private readonly o: { warn?: (msg: string) => void } = {},
  ) {
    this.root = path.resolve(root);
    this.uri = pathToFileURL(this.root).href;
  }

  // ---- experiments ---------------------------------------------------------------------------

  /** FileStore.__init__: a new store gets the Default experiment '0' and a .trash folder. */
  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(path.join(this.root, TRASH), { recursive: true });
      if (existsSync(path.join(this.root, '0', 'meta.yaml'))) return;
      await withFileLock(path.join(this.root, LOCK), async () => {
        const hasExperiments = (await this.readExperiments()).length > 0;
        if (!hasExperiments) await this.writeExperiment('0', 'Default');
      });
    })();
    return this.ready;
  }

  /** FileStore._create_experiment_with_id: meta.yaml without tags (experiment tags are files under tags/). */
  private async writeExperiment(id: string, name: string): Promise<void> {
    const dir = path.join(this.root, id);
    await mkdir(dir, { recursive: true });
    const now = Date.now();
    await writeAtomic(
      path.join(dir, 'meta.yaml'),
      dumpMeta({
        artifact_location: `${this.uri}/${id}`,
        creation_time: now,
        experiment_id: id,
        last_update_time: now,
        lifecycle_stage: 'active',
        name,
      }),
    );
  }

  private async readExperiments(): Promise<Experiment[]> {
    const out: Experiment[] = [];
    for (const e of await readdir(this.root, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name === TRASH) continue;
      const file = path.join(this.root, e.name, 'meta.yaml');
      if (!existsSync(file)) continue;
      const m = loadMeta(await readFile(file, 'utf8'));
      if (String(m.experiment_id) !== e.name) continue; // FileStore ignores a mismatched id
      out.push({
        experiment_id: e.name,
        name: String(m.name),
        artifact_location: String(m.artifact_location),
        lifecycle_stage: String(m.lifecycle_stage ?? 'active'),
      });
    }
    return out.sort(
      (a, b) => a.experiment_id.length - b.experiment_id.length || (a.experiment_id < b.experiment_id ? -1 : 1),
    );
  }

  /** Active experiments, ids ascending. */
  async listExperiments(): Promise<Experiment[]> {
    await this.init();
    return (await this.readExperiments()).filter((e) => e.lifecycle_stage === 'active');
  }

  async getExperimentByName(name: string): Promise<Experiment | null> {
    return (await this.listExperiments()).find((e) => e.name === name) ?? null;
  }

  private validateExperimentName(name: string): void {
    if (typeof name !== 'string' || !name)
      throw new Error(`invalid MLflow experiment name ${JSON.stringify(name)}: it must be a non-empty string`);
    if (name.length > 500) throw new Error(`MLflow experiment name longer than 500 characters: ${name.slice(0, 40)}…`);
  }

  async createExperiment(name: string): Promise<string> {
    this.validateExperimentName(name);
    await this.init();
    return withFileLock(path.join(this.root, LOCK), async () => {
      if ((await this.readExperiments()).some((e) => e.name === name))
        throw new Error(`experiment "${name}" already exists in ${this.root}`);
      return this.allocate(name);
    });
  }

  private async allocate(name: string): Promise<string> {
    let id = newExperimentId();
    while (existsSync(path.join(this.root, id))) id = newExperimentId();
    await this.writeExperiment(id, name);
    return id;
  }

  /** Lookup and creation happen under one lock, so concurrent processes agree on one id. */
  async getOrCreateExperiment(name: string): Promise<string> {
    const found = await this.getExperimentByName(name);
    if (found) return found.experiment_id;
    this.validateExperimentName(name);
    return withFileLock(path.join(this.root, LOCK), async () => {
      const again = (await this.readExperiments()).find((e) => e.name === name && e.lifecycle_stage === 'active');
      return again ? again.experiment_id : this.allocate(name);
    });
  }

  private async experiment(id: string): Promise<Experiment> {
    await this.init();
    const file = path.join(this.root, id, 'meta.yaml');
    if (!/^[a-zA-Z0-9][\w-]{0,63}$/.test(id) || !existsSync(file))
      throw new Error(`experiment ${id} not found in ${this.root}`);
    const m = loadMeta(await readFile(file, 'utf8'));
    return {
      experiment_id: id,
      name: String(m.name),
      artifact_location: String(m.artifact_location),
      lifecycle_stage: String(m.lifecycle_stage ?? 'active'),
    };
  }

  // ---- runs ----------------------------------------------------------------------------------

  private async findRun(runId: string): Promise<{ dir: string; exp: string }> {
    const cached = this.runs.get(runId);
    if (cached && existsSync(cached.dir)) return cached;
    if (!RUN_ID_RE.test(runId)) throw new Error(`invalid MLflow run id ${JSON.stringify(runId)}`);
    await this.init();
    for (const parent of [this.root, path.join(this.root, TRASH)]) {
      for (const e of await readdir(parent, { withFileTypes: true })) {
        if (!e.isDirectory() || e.name === TRASH) continue;
        const dir = path.join(parent, e.name, runId);
        if (existsSync(path.join(dir, 'meta.yaml'))) {
          const found = { dir, exp: e.name };
          this.runs.set(runId, found);
          return found;
        }
      }
    }
    throw new Error(`run ${runId} not found in ${this.root}`);
  }

  private async readInfo(dir: string): Promise<RunInfo> {
    const m = loadMeta(await readFile(path.join(dir, 'meta.yaml'), 'utf8'));
    const id = String(m.run_id ?? m.run_uuid);
    const end = m.end_time === null || m.end_time === undefined ? null : Number(m.end_time);
    return {
      run_id: id,
      run_uuid: String(m.run_uuid ?? id),
      run_name: m.run_name === null || m.run_name === undefined ? '' : String(m.run_name),
      experiment_id: String(m.experiment_id),
      user_id: String(m.user_id ?? ''),
      status: STATUS_NAME[Number(m.status ?? 1)] ?? 'RUNNING',
      start_time: Number(m.start_time),
      end_time: end,
      artifact_uri: String(m.artifact_uri ?? ''),
      lifecycle_stage: m.lifecycle_stage === 'deleted' ? 'deleted' : 'active',
    };
  }

  /** _make_persisted_run_info_dict (+ deleted_time, which create_run writes as null and later overwrites drop). */
  private async writeInfo(dir: string, info: RunInfo, deletedTime?: number | null): Promise<void> {
    const meta: Record<string, unknown> = {
      artifact_uri: info.artifact_uri,
      end_time: info.end_time,
      entry_point_name: '',
      experiment_id: info.experiment_id,
      lifecycle_stage: info.lifecycle_stage,
      run_id: info.run_id,
      run_name: info.run_name,
      run_uuid: info.run_uuid,
      source_name: '',
      source_type: SOURCE_TYPE_LOCAL,
      source_version: '',
      start_time: info.start_time,
      status: STATUS_CODE[info.status],
      tags: [],
      user_id: info.user_id,
    };
    if (deletedTime !== undefined) meta.deleted_time = deletedTime;
    await writeAtomic(path.join(dir, 'meta.yaml'), dumpMeta(meta));
  }

  private async activeRun(runId: string): Promise<{ dir: string; info: RunInfo }> {
    const { dir } = await this.findRun(runId);
    const info = await this.readInfo(dir);
    if (info.lifecycle_stage !== 'active')
      throw new Error(`The run ${runId} must be in 'active' lifecycle_stage (it is deleted)`);
    return { dir, info };
  }

  private artifactDir(info: RunInfo): string {
    if (!info.artifact_uri.startsWith('file:'))
      throw new Error(`run ${info.run_id} keeps artifacts at ${info.artifact_uri}, not on this machine`);
    return fileURLToPath(info.artifact_uri);
  }

  /** FileStore.create_run: meta.yaml, metrics/ params/ artifacts/, then the tags (mlflow.runName always). */
  async createRun(o: CreateRunOptions): Promise<RunInfo> {
    const exp = await this.experiment(o.experimentId);
    if (exp.lifecycle_stage !== 'active')
      throw new Error(`Could not create run under non-active experiment with ID ${o.experimentId}.`);
    const tags = { ...o.tags };
    const tagName = tags['mlflow.runName'];
    if (o.runName && tagName && o.runName !== tagName) {
      throw new Error(
        `Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${o.runName}', mlflow.runName='${tagName}').`,
      );
    }
    const runName = o.runName || tagName || randomRunName();
    tags['mlflow.runName'] = runName;
    const runId = newRunId();
    const dir = path.join(this.root, o.experimentId, runId);
    const info: RunInfo = {
      run_id: runId,
      run_uuid: runId,
      run_name: runName,
      experiment_id: o.experimentId,
      user_id: o.userId ?? tags['mlflow.user'] ?? os.userInfo().username,
      status: 'RUNNING',
      start_time: Math.round(o.startTime ?? Date.now()),
      end_time: null,
      artifact_uri: `${exp.artifact_location}/${runId}/artifacts`,
      lifecycle_stage: 'active',
    };
    await mkdir(dir, { recursive: true });
    await this.writeInfo(dir, info, null);
    for (const sub of ['metrics', 'params']) await mkdir(path.join(dir, sub), { recursive: true });
    if (info.artifact_uri.startsWith('file:')) await mkdir(this.artifactDir(info), { recursive: true });
    this.runs.set(runId, { dir, exp: o.experimentId });
    await this.logBatch(runId, { tags });
    return info;
  }

  /** FileStore.log_batch: validate everything first (MLflow's rules), then params, metrics, tags. */
  async logBatch(runId: string, b: LogBatch): Promise<void> {
    const metrics = b.metrics ?? [];
    for (const m of metrics) {
      validateKey('metric', m.key);
      if (typeof m.value !== 'number') throw new Error(`metric ${m.key}: value ${String(m.value)} is not a number`);
      if (!Number.isFinite(m.timestamp) || m.timestamp < 0)
        throw new Error(`metric ${m.key}: timestamp ${m.timestamp} must be a non-negative integer (ms)`);
      if (!Number.isFinite(m.step)) throw new Error(`metric ${m.key}: step ${m.step} must be an integer`);
    }
    const params = Object.entries(b.params ?? {}).map(
      ([k, v]) => (validateKey('param', k), [k, truncateValue('param', k, String(v), this.o.warn)] as const),
    );
    const tags = Object.entries(b.tags ?? {}).map(
      ([k, v]) => (validateKey('tag', k), [k, truncateValue('tag', k, String(v), this.o.warn)] as const),
    );
    const { dir, info } = await this.activeRun(runId);
    for (const [k, v] of params) {
      const file = path.join(dir, 'params', k);
      if (existsSync(file)) {
        const old = await readFile(file, 'utf8');
        if (old !== v)
          throw new Error(
            `Changing param values is not allowed. Param with key='${k}' was already logged with value='${old}' for run ID='${runId}'. Attempted logging new value '${v}'.`,
          );
        continue;
      }
      await writeAtomic(file, v, dir);
    }
    const byKey = new Map<string, string[]>();
    for (const m of metrics) {
      const line = `${Math.round(m.timestamp)} ${pyFloat(m.value)} ${Math.round(m.step)}\n`;
      byKey.set(m.key, [...(byKey.get(m.key) ?? []), line]);
    }
    for (const [key, lines] of byKey) {
      const file = path.join(dir, 'metrics', key);
      await mkdir(path.dirname(file), { recursive: true });
      await appendLines(file, lines);
    }
    for (const [k, v] of tags) {
      if (k === 'mlflow.runName' && v !== info.run_name)
        await this.writeInfo(dir, { ...(await this.readInfo(dir)), run_name: v });
      await writeAtomic(path.join(dir, 'tags', k), v, dir);
    }
  }

  /** FileStore.log_inputs: datasets/<md5(name,digest)>/meta.yaml once per experiment, inputs/<md5(dataset,run)>/meta.yaml per run. */
  async logInputs(runId: string, datasets: DatasetInput[]): Promise<void> {
    const { dir, info } = await this.activeRun(runId);
    const expDir = path.join(this.root, info.experiment_id);
    for (const d of datasets) {
      const dsId = datasetId(d.name, d.digest);
      await this.writeOnceDir(
        dir,
        path.join(expDir, 'datasets', dsId),
        dumpMeta({
          digest: d.digest,
          name: d.name,
          profile: d.profile ?? null,
          schema: d.schema ?? null,
          source: d.source,
          source_type: d.source_type,
        }),
      );
      // _FileStoreInput.write_yaml writes destination_id = source_id (the dataset id), so do we
      await this.writeOnceDir(
        dir,
        path.join(dir, 'inputs', inputId(dsId, runId)),
        dumpMeta({
          destination_id: dsId,
          destination_type: 'RUN',
          source_id: dsId,
          source_type: 'DATASET',
          tags: d.context ? { 'mlflow.data.context': d.context } : {},
        }),
      );
    }
  }

  /** A folder holding meta.yaml, created whole (built in the run folder, renamed into place) if absent. */
  private async writeOnceDir(runDir: string, target: string, meta: string): Promise<void> {
    if (existsSync(target)) return;
    const tmp = path.join(runDir, `.${path.basename(target)}.${process.pid}.${Date.now()}.tmp`);
    await mkdir(tmp, { recursive: true });
    await writeAtomic(path.join(tmp, 'meta.yaml'), meta, tmp);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await rename(tmp, target);
    } catch (e) {
      if (!['EEXIST', 'ENOTEMPTY'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Inputs of a run as logged (for sync). */
  async readInputs(runId: string): Promise<DatasetInput[]> {
    const { dir, exp } = await this.findRun(runId);
    const inputs = path.join(dir, 'inputs');
    if (!existsSync(inputs)) return [];
    const out: DatasetInput[] = [];
    for (const id of (await readdir(inputs)).sort()) {
      const link = loadMeta(await readFile(path.join(inputs, id, 'meta.yaml'), 'utf8'));
      const dsFile = path.join(this.root, exp, 'datasets', String(link.source_id), 'meta.yaml');
      if (link.source_type !== 'DATASET' || !existsSync(dsFile)) continue;
      const ds = loadMeta(await readFile(dsFile, 'utf8'));
      const tags = (link.tags ?? {}) as Record<string, string>;
      out.push({
        name: String(ds.name),
        digest: String(ds.digest),
        source_type: String(ds.source_type),
        source: String(ds.source),
        ...(ds.schema ? { schema: String(ds.schema) } : {}),
        ...(ds.profile ? { profile: String(ds.profile) } : {}),
        ...(tags['mlflow.data.context'] ? { context: tags['mlflow.data.context'] as DatasetInput['context'] } : {}),
      });
    }
    return out;
  }

  async logArtifact(runId: string, localPath: string, artifactPath = ''): Promise<void> {
    const { info } = await this.activeRun(runId);
    if (artifactPath && (path.posix.isAbsolute(artifactPath) || artifactPath.split('/').includes('..')))
      throw new Error(`artifact path ${artifactPath}: must be relative, without ".."`);
    const dest = path.join(this.artifactDir(info), artifactPath);
    const st = await stat(localPath);
    await mkdir(dest, { recursive: true });
    if (st.isDirectory()) await cp(localPath, dest, { recursive: true });
    else await cp(localPath, path.join(dest, path.basename(localPath)));
  }

  /** FileStore.update_run_info: status, end time, name (a new name also rewrites the mlflow.runName tag). */
  async updateRun(runId: string, o: UpdateRunOptions): Promise<void> {
    const { dir, info } = await this.activeRun(runId);
    if (o.status) info.status = o.status;
    if (o.endTime) info.end_time = Math.round(o.endTime);
    if (o.runName) {
      info.run_name = o.runName;
      await writeAtomic(path.join(dir, 'tags', 'mlflow.runName'), o.runName, dir);
    }
    await this.writeInfo(dir, info);
  }

  /** FileStore.delete_run: lifecycle_stage deleted, deleted_time set; the files stay until `mlflow gc`. */
  async deleteRun(runId: string): Promise<void> {
    const { dir, info } = await this.activeRun(runId);
    await this.writeInfo(dir, { ...info, lifecycle_stage: 'deleted' }, Date.now());
  }

  /** Files under a run sub-folder as key → content; keys with "/" are sub-folders (FileStore._get_resource_files). */
  private async readKeyed(dir: string, prefix = ''): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    if (!existsSync(dir)) return out;
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const key = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) Object.assign(out, await this.readKeyed(path.join(dir, e.name), key));
      else out[key] = await readFile(path.join(dir, e.name), 'utf8');
    }
    return out;
  }

  async getRun(runId: string): Promise<RunRecord> {
    const { dir } = await this.findRun(runId);
    const info = await this.readInfo(dir);
    const metrics: Record<string, number> = {};
    for (const [key, text] of Object.entries(await this.readKeyed(path.join(dir, 'metrics')))) {
      // FileStore._get_metric_from_file: max by (step, timestamp, value)
      const latest = parseMetricLines(key, text).reduce<MetricPoint | null>(
        (best, p) =>
          !best ||
          p.step > best.step ||
          (p.step === best.step &&
            (p.timestamp > best.timestamp || (p.timestamp === best.timestamp && p.value > best.value)))
            ? p
            : best,
        null,
      );
      if (latest) metrics[key] = latest.value;
    }
    const tags = await this.readKeyed(path.join(dir, 'tags'));
    if (!info.run_name && tags['mlflow.runName']) info.run_name = tags['mlflow.runName'];
    return { info, data: { params: await this.readKeyed(path.join(dir, 'params')), metrics, tags } };
  }

  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    validateKey('metric', key);
    const file = path.join((await this.findRun(runId)).dir, 'metrics', key);
    return existsSync(file) ? parseMetricLines(key, await readFile(file, 'utf8')) : [];
  }

  /** Every run id of an experiment (FileStore._list_run_infos: sub-folders but the reserved ones, with a readable meta.yaml of that experiment). */
  private async runIds(expId: string): Promise<string[]> {
    const d = path.join(this.root, expId);
    if (!existsSync(d)) return [];
    const out: string[] = [];
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (!e.isDirectory() || RESERVED.has(e.name) || !existsSync(path.join(d, e.name, 'meta.yaml'))) continue;
      this.runs.set(e.name, { dir: path.join(d, e.name), exp: expId });
      out.push(e.name);
    }
    return out;
  }

  async searchRuns(experimentIds: string[], filter?: string): Promise<RunRecord[]> {
    await this.init();
    const out: RunRecord[] = [];
    for (const exp of experimentIds) {
      for (const id of await this.runIds(exp)) {
        const run = await this.getRun(id);
        if (run.info.experiment_id !== exp || run.info.lifecycle_stage !== 'active') continue;
        if (matchesFilter(run, filter)) out.push(run);
      }
    }
    return out.sort((a, b) => b.info.start_time - a.info.start_time || (a.info.run_id < b.info.run_id ? -1 : 1));
  }

  /** LocalArtifactRepository.list_artifacts: direct children, paths relative to the artifact root. */
  async listArtifacts(runId: string, artifactPath = ''): Promise<ArtifactInfo[]> {
    const { dir } = await this.findRun(runId);
    const root = this.artifactDir(await this.readInfo(dir));
    const d = path.join(root, artifactPath);
    if (!existsSync(d) || !(await stat(d)).isDirectory()) return [];
    const out: ArtifactInfo[] = [];
    for (const e of await readdir(d, { withFileTypes: true })) {
      const rel = artifactPath ? `${artifactPath.replace(/\/+$/, '')}/${e.name}` : e.name;
      out.push(
        e.isDirectory()
          ? { path: rel, is_dir: true }
          : { path: rel, is_dir: false, file_size: (await stat(path.join(d, e.name))).size },
      );
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  /** One artifact file's bytes. */
  async readArtifact(runId: string, artifactPath: string): Promise<Uint8Array> {
    if (path.posix.isAbsolute(artifactPath) || artifactPath.split('/').includes('..'))
      throw new Error(`artifact path ${artifactPath}: must be relative, without ".."`);
    const { dir } = await this.findRun(runId);
    return readFile(path.join(this.artifactDir(await this.readInfo(dir)), artifactPath));
  }

  /** The local folder holding a run's artifacts (file:// artifact URIs only). */
  async artifactRoot(runId: string): Promise<string> {
    const { dir } = await this.findRun(runId);
    return this.artifactDir(await this.readInfo(dir));
  }

  /** Every artifact file of a run, recursively (for sync). */
  async listArtifactFiles(runId: string): Promise<{ path: string; file: string }[]> {
    const { dir } = await this.findRun(runId);
    const root = this.artifactDir(await this.readInfo(dir));
    const out: { path: string; file: string }[] = [];
    const walk = async (rel: string): Promise<void> => {
      for (const a of await this.listArtifacts(runId, rel)) {
        if (a.is_dir) await walk(a.path);
        else out.push({ path: a.path, file: path.join(root, a.path) });
      }
    };
    await walk('');
    return out;
  }
}

/** FileStore._get_metric_from_line: "<timestamp> <value> [<step>]" (step 0 when absent). */
export function parseMetricLines(key: string, text: string): MetricPoint[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const parts = line.trim().split(' ');
      if (parts.length !== 2 && parts.length !== 3)
        throw new Error(
          `Metric '${key}' is malformed; persisted metric data contained ${parts.length} fields. Expected 2 or 3 fields.`,
        );
      return {
        key,
        timestamp: Number.parseInt(parts[0], 10),
        value: parsePyFloat(parts[1]),
        step: parts.length === 3 ? Number.parseInt(parts[2], 10) : 0,
      };
    });
}

import { randomUUID, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pyFloat, validateKey } from './keys.js';
import { matchesFilter } from './search.js';
import type { DatasetInput, Experiment, LogBatch, MetricPoint, RunInfo, RunRecord, RunStatus, TrackingStore } from './types.js';
import { dumpMeta, loadMeta } from './yaml-lite.js';

/** MLflow's RunStatus enum as stored in meta.yaml (mlflow/entities/run_status.py). */
const STATUS_CODE: Record<RunStatus, number> = { RUNNING: 1, SCHEDULED: 2, FINISHED: 3, FAILED: 4, KILLED: 5 };
const STATUS_NAME = Object.fromEntries(Object.entries(STATUS_CODE).map(([k, v]) => [v, k])) as Record<number, RunStatus>;
/** SourceType.LOCAL (mlflow/entities/source_type.py), what FileStore writes for every run. */
const SOURCE_TYPE_LOCAL = 4;

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

async function withLock<T>(dir: string, body: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, '.nerflow.lock');
  for (let i = 0; ; i++) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (i > 600) throw new Error(`${lock}: could not take the store lock for 30 s (remove the folder if no nerflow process is running)`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await body();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/**
 * MLflow's file store layout (mlflow/store/tracking/file_store.py), readable by
 * `MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri <root>` and `mlflow migrate-filestore`:
 *   <root>/<exp_id>/meta.yaml                         experiment
 *   <root>/<exp_id>/<run_id>/meta.yaml                run info (status as int enum)
 *   <root>/<exp_id>/<run_id>/metrics/<key>            "<timestamp> <value> <step>" lines
 *   <root>/<exp_id>/<run_id>/params/<key>, tags/<key> the value, no newline
 *   <root>/<exp_id>/<run_id>/artifacts/...
 *   <root>/<exp_id>/datasets/<id>/meta.yaml, <run_id>/inputs/<id>/meta.yaml   dataset inputs
 * Keys with "/" are sub-folders. Safe for several processes: uuid run ids, one append per metric line
 * (O_APPEND, a single small write), meta.yaml written to a temp file and renamed, experiments created
 * under a lock.
 */
export class FileStore implements TrackingStore {
  readonly uri: string;
  constructor(readonly root: string) {
    this.uri = pathToFileURL(root).href;
  }

  private expDir(id: string) {
    return path.join(this.root, id);
  }

  private async ensureDefault(): Promise<void> {
    if (existsSync(path.join(this.root, '0', 'meta.yaml'))) return;
    await mkdir(this.root, { recursive: true });
    await withLock(this.root, async () => {
      if (!existsSync(path.join(this.root, '0', 'meta.yaml'))) await this.writeExperiment('0', 'Default');
    });
  }

  private async writeExperiment(id: string, name: string): Promise<void> {
    const now = Date.now();
    await mkdir(path.join(this.expDir(id), 'tags'), { recursive: true });
    await writeAtomic(path.join(this.expDir(id), 'meta.yaml'), dumpMeta({
      artifact_location: pathToFileURL(path.join(this.root, id)).href, creation_time: now, experiment_id: id, last_update_time: now, lifecycle_stage: 'active', name,
    }));
  }

  async listExperiments(): Promise<Experiment[]> {
    await this.ensureDefault();
    const out: Experiment[] = [];
    for (const e of await readdir(this.root, { withFileTypes: true })) {
      const meta = path.join(this.root, e.name, 'meta.yaml');
      if (!e.isDirectory() || !existsSync(meta)) continue;
      const m = loadMeta<Experiment>(await readFile(meta, 'utf8'));
      out.push({ experiment_id: String(m.experiment_id), name: m.name, artifact_location: m.artifact_location, lifecycle_stage: m.lifecycle_stage });
    }
    return out.sort((a, b) => Number(a.experiment_id) - Number(b.experiment_id));
  }

  async getExperimentByName(name: string): Promise<Experiment | null> {
    return (await this.listExperiments()).find((e) => e.name === name && e.lifecycle_stage === 'active') ?? null;
  }

  async createExperiment(name: string): Promise<string> {
    await this.ensureDefault();
    return withLock(this.root, async () => {
      const all = await this.listExperiments();
      if (all.some((e) => e.name === name)) throw new Error(`experiment "${name}" already exists in ${this.root}`);
      const id = String(Math.max(0, ...all.map((e) => Number(e.experiment_id) || 0)) + 1);
      await this.writeExperiment(id, name);
      return id;
    });
  }

  async getOrCreateExperiment(name: string): Promise<string> {
    const found = await this.getExperimentByName(name);
    if (found) return found.experiment_id;
    await this.ensureDefault();
    return withLock(this.root, async () => {
      const again = (await this.listExperiments()).find((e) => e.name === name);
      if (again) return again.experiment_id;
      const id = String(Math.max(0, ...(await this.listExperiments()).map((e) => Number(e.experiment_id) || 0)) + 1);
      await this.writeExperiment(id, name);
      return id;
    });
  }

  private async findRunDir(runId: string): Promise<string> {
    for (const e of await readdir(this.root, { withFileTypes: true })) {
      const d = path.join(this.root, e.name, runId);
      if (e.isDirectory() && existsSync(path.join(d, 'meta.yaml'))) return d;
    }
    throw new Error(`run ${runId} not found in ${this.root}`);
  }

  async createRun(o: { experimentId: string; runName?: string; startTime?: number; tags?: Record<string, string> }): Promise<RunInfo> {
    await this.ensureDefault();
    const runId = randomUUID().replace(/-/g, '');
    const dir = path.join(this.expDir(o.experimentId), runId);
    for (const sub of ['metrics', 'params', 'tags', 'artifacts']) await mkdir(path.join(dir, sub), { recursive: true });
    const runName = o.runName ?? o.tags?.['mlflow.runName'] ?? runId.slice(0, 8);
    const info: RunInfo = {
      run_id: runId, run_uuid: runId, run_name: runName, experiment_id: o.experimentId, user_id: o.tags?.['mlflow.user'] ?? os.userInfo().username,
      status: 'RUNNING', start_time: o.startTime ?? Date.now(), end_time: null, artifact_uri: pathToFileURL(path.join(dir, 'artifacts')).href, lifecycle_stage: 'active',
    };
    await this.writeRunMeta(dir, info);
    await this.logBatch(runId, { tags: { 'mlflow.runName': runName, ...o.tags } });
    return info;
  }

  private async writeRunMeta(dir: string, info: RunInfo): Promise<void> {
    // as FileStore._make_persisted_run_info_dict
    await writeAtomic(path.join(dir, 'meta.yaml'), dumpMeta({
      ...info, status: STATUS_CODE[info.status], source_type: SOURCE_TYPE_LOCAL, source_name: '', entry_point_name: '', source_version: '', tags: [],
    }));
  }

  private async readRunInfo(dir: string): Promise<RunInfo> {
    const m = loadMeta<Record<string, unknown>>(await readFile(path.join(dir, 'meta.yaml'), 'utf8'));
    return {
      run_id: String(m.run_id), run_uuid: String(m.run_uuid), run_name: String(m.run_name ?? ''), experiment_id: String(m.experiment_id), user_id: String(m.user_id ?? ''),
      status: STATUS_NAME[Number(m.status)] ?? 'RUNNING', start_time: Number(m.start_time), end_time: m.end_time === null || m.end_time === undefined ? null : Number(m.end_time),
      artifact_uri: String(m.artifact_uri), lifecycle_stage: (m.lifecycle_stage as 'active') ?? 'active',
    };
  }

  async logBatch(runId: string, b: LogBatch): Promise<void> {
    const dir = await this.findRunDir(runId);
    for (const [k, v] of Object.entries(b.params ?? {})) {
      validateKey('param', k);
      const file = path.join(dir, 'params', k);
      if (existsSync(file)) {
        const old = await readFile(file, 'utf8');
        if (old !== v) throw new Error(`param ${k} of run ${runId} is already ${JSON.stringify(old)}; MLflow params cannot change (got ${JSON.stringify(v)})`);
        continue;
      }
      await writeAtomic(file, v);
    }
    for (const [k, v] of Object.entries(b.tags ?? {})) {
      validateKey('tag', k);
      await writeAtomic(path.join(dir, 'tags', k), v);
    }
    for (const m of b.metrics ?? []) {
      validateKey('metric', m.key);
      const file = path.join(dir, 'metrics', m.key);
      await mkdir(path.dirname(file), { recursive: true });
      await appendFile(file, `${Math.round(m.timestamp)} ${pyFloat(m.value)} ${Math.round(m.step)}\n`);
    }
  }

  async logInputs(runId: string, datasets: DatasetInput[]): Promise<void> {
    const dir = await this.findRunDir(runId);
    const info = await this.readRunInfo(dir);
    for (const d of datasets) {
      // dataset ids are stable per (name, digest) within an experiment, as FileStore does
      const datasetId = createHash('md5').update(`${d.name}:${d.digest}`).digest('hex');
      const dsDir = path.join(this.expDir(info.experiment_id), 'datasets', datasetId);
      if (!existsSync(path.join(dsDir, 'meta.yaml'))) {
        await writeAtomic(path.join(dsDir, 'meta.yaml'), dumpMeta({ digest: d.digest, name: d.name, profile: d.profile ?? null, schema: d.schema ?? null, source: d.source, source_type: d.source_type }));
      }
      const inputId = createHash('md5').update(`${datasetId}:${runId}`).digest('hex');
      await writeAtomic(path.join(dir, 'inputs', inputId, 'meta.yaml'), dumpMeta({
        destination_id: runId, destination_type: 'RUN', source_id: datasetId, source_type: 'DATASET',
        tags: d.context ? { 'mlflow.data.context': d.context } : {},
      }));
    }
  }

  async logArtifact(runId: string, localPath: string, artifactPath = ''): Promise<void> {
    const dir = await this.findRunDir(runId);
    const st = await stat(localPath);
    const destDir = path.join(dir, 'artifacts', artifactPath);
    await mkdir(destDir, { recursive: true });
    if (st.isDirectory()) await cp(localPath, destDir, { recursive: true });
    else await cp(localPath, path.join(destDir, path.basename(localPath)));
  }

  async updateRun(runId: string, o: { status?: RunStatus; endTime?: number; runName?: string }): Promise<void> {
    const dir = await this.findRunDir(runId);
    const info = await this.readRunInfo(dir);
    if (o.status) info.status = o.status;
    if (o.endTime !== undefined) info.end_time = o.endTime;
    if (o.runName) {
      info.run_name = o.runName;
      await writeAtomic(path.join(dir, 'tags', 'mlflow.runName'), o.runName);
    }
    await this.writeRunMeta(dir, info);
  }

  private async readKeyed(dir: string, prefix = ''): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    if (!existsSync(dir)) return out;
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const key = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) Object.assign(out, await this.readKeyed(path.join(dir, e.name), key));
      else if (!e.name.endsWith('.tmp')) out[key] = await readFile(path.join(dir, e.name), 'utf8');
    }
    return out;
  }

  async getRun(runId: string): Promise<RunRecord> {
    const dir = await this.findRunDir(runId);
    const metricFiles = await this.readKeyed(path.join(dir, 'metrics'));
    const metrics: Record<string, number> = {};
    for (const [k, text] of Object.entries(metricFiles)) {
      // MLflow's latest value: the highest step, then the latest timestamp
      const pts = parseMetricLines(k, text);
      pts.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
      if (pts.length) metrics[k] = pts[pts.length - 1].value;
    }
    return { info: await this.readRunInfo(dir), data: { params: await this.readKeyed(path.join(dir, 'params')), metrics, tags: await this.readKeyed(path.join(dir, 'tags')) } };
  }

  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const file = path.join(await this.findRunDir(runId), 'metrics', key);
    return existsSync(file) ? parseMetricLines(key, await readFile(file, 'utf8')) : [];
  }

  async searchRuns(experimentIds: string[], filter?: string): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    for (const exp of experimentIds) {
      const d = this.expDir(exp);
      if (!existsSync(d)) continue;
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (!e.isDirectory() || !existsSync(path.join(d, e.name, 'meta.yaml'))) continue;
        const run = await this.getRun(e.name);
        if (matchesFilter(run, filter)) out.push(run);
      }
    }
    return out.sort((a, b) => b.info.start_time - a.info.start_time);
  }

  async listArtifactFiles(runId: string): Promise<{ path: string; file: string }[]> {
    const root = path.join(await this.findRunDir(runId), 'artifacts');
    const out: { path: string; file: string }[] = [];
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else out.push({ path: path.relative(root, p).split(path.sep).join('/'), file: p });
      }
    };
    if (existsSync(root)) await walk(root);
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  async readInputs(runId: string): Promise<DatasetInput[]> {
    const dir = await this.findRunDir(runId);
    const info = await this.readRunInfo(dir);
    const inputs = path.join(dir, 'inputs');
    if (!existsSync(inputs)) return [];
    const out: DatasetInput[] = [];
    for (const id of await readdir(inputs)) {
      const link = loadMeta<{ source_id: string; tags?: Record<string, string> }>(await readFile(path.join(inputs, id, 'meta.yaml'), 'utf8'));
      const ds = loadMeta<DatasetInput>(await readFile(path.join(this.expDir(info.experiment_id), 'datasets', link.source_id, 'meta.yaml'), 'utf8'));
      out.push({ ...ds, schema: ds.schema ?? undefined, profile: ds.profile ?? undefined, context: link.tags?.['mlflow.data.context'] as DatasetInput['context'] });
    }
    return out;
  }
}

export function parseMetricLines(key: string, text: string): MetricPoint[] {
  return text.split('\n').filter(Boolean).map((line) => {
    const [ts, v, step] = line.trim().split(' ');
    return { key, timestamp: Number(ts), value: v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v), step: Number(step ?? 0) };
  });
}

import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { HttpClient, TrackingServerError, type HttpOptions } from './http.js';
import { validateKey } from './keys.js';
import { LIMITS, truncateValue } from './limits.js';
import type {
  ArtifactInfo,
  CreateRunOptions,
  DatasetInput,
  Experiment,
  LogBatch,
  MetricPoint,
  RunInfo,
  RunRecord,
  TrackingStore,
  UpdateRunOptions,
} from './types.js';

export interface RestOptions extends HttpOptions {
  /** Where truncation warnings go (default: none). */
  warn?: (msg: string) => void;
}

interface WireRun {
  info: Partial<RunInfo> & {
    run_id?: string;
    run_uuid?: string;
    start_time?: number | string;
    end_time?: number | string;
  };
  data?: {
    params?: { key: string; value: string }[];
    metrics?: { key: string; value: number | string }[];
    tags?: { key: string; value: string }[];
  };
}

/** protobuf's JSON for doubles: NaN and ±Infinity travel as strings (what MLflow's own client sends). */
function wireDouble(v: number): number | string {
  return Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

function readDouble(v: number | string): number {
  return typeof v === 'number'
    ? v
    : v === 'NaN'
      ? NaN
      : v === 'Infinity'
        ? Infinity
        : v === '-Infinity'
          ? -Infinity
          : Number(v);
}

const MIME: Record<string, string> = {
  '.json': 'application/json',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.md': 'text/markdown',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.yaml': 'text/yaml',
  '.yml': 'text/yaml',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.jpg': 'image/jpeg',
  '.conll': 'text/plain',
};

/**
 * The MLflow REST API 2.0 of a tracking server (`mlflow server`): /api/2.0/mlflow/... for tracking,
 * artifacts through the server's proxy /api/2.0/mlflow-artifacts/artifacts/... .
 */
export class RestStore implements TrackingStore {
  readonly uri: string;
  private readonly http: HttpClient;
  private readonly warn?: (msg: string) => void;
  private readonly artifactRoots = new Map<string, string>();

  constructor(uri: string, o: RestOptions = {}) {
    this.uri = uri.replace(/\/+$/, '');
    this.http = new HttpClient(this.uri, o);
    this.warn = o.warn;
  }

  private async call<T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    endpoint: string,
    body?: unknown,
    query?: Record<string, string | undefined>,
  ): Promise<T> {
    const q = query ? (Object.entries(query).filter(([, v]) => v !== undefined) as [string, string][]) : [];
    const url = `${this.uri}/api/2.0/mlflow/${endpoint}${q.length ? `?${new URLSearchParams(q)}` : ''}`;
    const text = await this.http.request(
      method,
      url,
      body === undefined ? undefined : JSON.stringify(body),
      body === undefined ? {} : { 'Content-Type': 'application/json' },
    );
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Any REST API 2.0 endpoint under /api/2.0/mlflow/ (the model registry uses it). */
  api<T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    endpoint: string,
    body?: unknown,
    query?: Record<string, string | undefined>,
  ): Promise<T> {
    return this.call<T>(method, endpoint, body, query);
  }

  async getExperimentByName(name: string): Promise<Experiment | null> {
    try {
      const r = await this.call<{ experiment: Experiment }>('GET', 'experiments/get-by-name', undefined, {
        experiment_name: name,
      });
      return { ...r.experiment, experiment_id: String(r.experiment.experiment_id) };
    } catch (e) {
      if (e instanceof TrackingServerError && (e.status === 404 || e.errorCode === 'RESOURCE_DOES_NOT_EXIST'))
        return null;
      throw e;
    }
  }

  /** Active experiments (experiments/search, every page). */
  async listExperiments(): Promise<Experiment[]> {
    const out: Experiment[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.call<{ experiments?: Experiment[]; next_page_token?: string }>(
        'POST',
        'experiments/search',
        {
          max_results: 1000,
          view_type: 'ACTIVE_ONLY',
          ...(pageToken ? { page_token: pageToken } : {}),
        },
      );
      out.push(...(r.experiments ?? []).map((e) => ({ ...e, experiment_id: String(e.experiment_id) })));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  async createExperiment(name: string): Promise<string> {
    return String((await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name })).experiment_id);
  }

  async getOrCreateExperiment(name: string): Promise<string> {
    const e = await this.getExperimentByName(name);
    if (e && e.lifecycle_stage !== 'deleted') return e.experiment_id;
    if (e)
      throw new TrackingServerError(
        `experiment "${name}" exists on ${this.uri} but is deleted: restore it (mlflow experiments restore) or choose another name`,
      );
    try {
      return await this.createExperiment(name);
    } catch (err) {
      const again = await this.getExperimentByName(name); // created by another client meanwhile
      if (again) return again.experiment_id;
      throw err;
    }
  }

  async createRun(o: CreateRunOptions): Promise<RunInfo> {
    const r = await this.call<{ run: WireRun }>('POST', 'runs/create', {
      experiment_id: o.experimentId,
      user_id: o.userId ?? o.tags?.['mlflow.user'] ?? os.userInfo().username,
      start_time: Math.round(o.startTime ?? Date.now()),
      tags: Object.entries(o.tags ?? {}).map(
        ([key, value]) => (validateKey('tag', key), { key, value: truncateValue('tag', key, value, this.warn) }),
      ),
      ...(o.runName ? { run_name: o.runName } : {}),
    });
    return normalizeRun(r.run).info;
  }

  /**
   * runs/log-batch within MLflow's limits: ≤100 params, ≤100 tags, ≤1000 metrics, ≤1000 entities and
   * ≤1 MB per request; params first, then tags, then metrics (each kind keeps its order).
   */
  async logBatch(runId: string, b: LogBatch): Promise<void> {
    const params = Object.entries(b.params ?? {}).map(
      ([key, value]) => (
        validateKey('param', key),
        { key, value: truncateValue('param', key, String(value), this.warn) }
      ),
    );
    const tags = Object.entries(b.tags ?? {}).map(
      ([key, value]) => (validateKey('tag', key), { key, value: truncateValue('tag', key, String(value), this.warn) }),
    );
    const metrics = (b.metrics ?? []).map(
      (m) => (
        validateKey('metric', m.key),
        { key: m.key, value: wireDouble(m.value), timestamp: Math.round(m.timestamp), step: Math.round(m.step) }
      ),
    );
    const base = JSON.stringify({ run_id: runId, metrics: [], params: [], tags: [] }).length;
    while (params.length || tags.length || metrics.length) {
      const batch = {
        run_id: runId,
        metrics: [] as typeof metrics,
        params: [] as typeof params,
        tags: [] as typeof tags,
      };
      let bytes = base;
      const fits = (item: unknown) => {
        const n = JSON.stringify(item).length + 1;
        if (bytes + n > LIMITS.requestBytes) return false;
        bytes += n;
        return true;
      };
      const total = () => batch.params.length + batch.tags.length + batch.metrics.length;
      // the queue's head into this request while the request has room for it (per kind, in total, in bytes)
      const take = <T>(queue: T[], into: T[], max: number) => {
        while (queue.length && into.length < max && total() < LIMITS.totalPerBatch && fits(queue[0]))
          into.push(queue.shift()!);
      };
      take(params, batch.params, LIMITS.paramsPerBatch);
      take(tags, batch.tags, LIMITS.tagsPerBatch);
      take(metrics, batch.metrics, LIMITS.metricsPerBatch);
      if (!total())
        throw new TrackingServerError(
          `one param or tag of run ${runId} does not fit in a ${LIMITS.requestBytes}-byte log-batch request`,
        );
      await this.call('POST', 'runs/log-batch', batch);
    }
  }

  /**
   * runs/log-inputs. Two runs logging the same new dataset at once race in MLflow's SQL store (both insert it: one
   * gets HTTP 400 "UNIQUE constraint failed: datasets…", as issue 17's queue trials did): asked again, the server
   * finds the dataset the other run created and links it. Up to 3 tries.
   */
  async logInputs(runId: string, datasets: DatasetInput[]): Promise<void> {
    for (let i = 0; i < datasets.length; i += LIMITS.datasetsPerBatch) {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.logInputsOnce(runId, datasets.slice(i, i + LIMITS.datasetsPerBatch));
          break;
        } catch (e) {
          const race =
            e instanceof TrackingServerError &&
            e.status === 400 &&
            /UNIQUE constraint failed|IntegrityError|Duplicate entry|duplicate key/i.test(e.message);
          if (!race || attempt >= 3) throw e;
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    }
  }

  private async logInputsOnce(runId: string, datasets: DatasetInput[]): Promise<void> {
    await this.call('POST', 'runs/log-inputs', {
      run_id: runId,
      datasets: datasets.map((d) => ({
        tags: d.context ? [{ key: 'mlflow.data.context', value: d.context }] : [],
        dataset: {
          name: d.name,
          digest: d.digest,
          source_type: d.source_type,
          source: d.source,
          ...(d.schema ? { schema: d.schema } : {}),
          ...(d.profile ? { profile: d.profile } : {}),
        },
      })),
    });
  }

  /** The HTTP base of a run's artifacts (MlflowArtifactsRepository.resolve_uri for mlflow-artifacts: URIs). */
  private async artifactBase(runId: string): Promise<string> {
    return resolveArtifactUri(await this.artifactUri(runId), this.uri);
  }

  /** A run's artifact_uri (it never changes, so asked once per run). */
  private async artifactUri(runId: string): Promise<string> {
    const cached = this.artifactRoots.get(runId);
    if (cached !== undefined) return cached;
    const uri = (await this.getRun(runId)).info.artifact_uri;
    this.artifactRoots.set(runId, uri);
    return uri;
  }

  /**
   * A run whose artifact_uri is a path (a server started with a plain-path --default-artifact-root, so
   * it does not proxy this run's artifacts): the folder to write into directly, as MLflow's Python
   * client does (LocalArtifactRepository), when that root is reachable from this machine; else an
   * error naming the server flag to change. null for proxied (mlflow-artifacts:/, http) runs.
   */
  private async localArtifactDir(runId: string): Promise<string | null> {
    const uri = await this.artifactUri(runId);
    if (/^(mlflow-artifacts:|https?:)/.test(uri)) return null;
    const dir = uri.startsWith('file:') ? fileURLToPath(uri) : uri.startsWith('/') ? uri : null;
    // <root>/<experiment id>/<run id>/artifacts: the root must be here for "the same folder as the server's"
    const root = dir ? path.dirname(path.dirname(path.dirname(dir))) : null;
    if (dir && root && existsSync(root)) return dir;
    if (!dir) return null; // s3:, gs:, …: resolveArtifactUri names the fix
    throw new TrackingServerError(
      `run ${runId}'s artifact location is ${uri}: the server at ${this.uri} does not proxy this run's artifacts ` +
        `(its experiment's artifact location is a path, as a server started with a plain-path --default-artifact-root gives, ` +
        `and ${root} does not exist on this machine). ` +
        'Restart it with --artifacts-destination <that path> instead of --default-artifact-root (runs then get ' +
        'mlflow-artifacts:/ locations and artifacts go through the server), or run nerflow where that path is reachable.',
    );
  }

  /** Upload through the server's proxy: PUT /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path> (HttpArtifactRepository.log_artifact). */
  async logArtifact(runId: string, localPath: string, artifactPath = ''): Promise<void> {
    const direct = await this.localArtifactDir(runId);
    if (direct) {
      const dest = path.join(direct, artifactPath);
      await mkdir(dest, { recursive: true });
      if ((await stat(localPath)).isDirectory()) await cp(localPath, dest, { recursive: true });
      else await cp(localPath, path.join(dest, path.basename(localPath)));
      return;
    }
    const base = await this.artifactBase(runId);
    const files: { file: string; rel: string }[] = [];
    if ((await stat(localPath)).isDirectory()) {
      const walk = async (d: string): Promise<void> => {
        for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) await walk(p);
          else files.push({ file: p, rel: path.relative(localPath, p).split(path.sep).join('/') });
        }
      };
      await walk(localPath);
    } else files.push({ file: localPath, rel: path.basename(localPath) });
    for (const f of files) {
      const rel = [artifactPath.replace(/^\/+|\/+$/g, ''), f.rel].filter(Boolean).join('/');
      const url = `${base}/${rel.split('/').map(encodeURIComponent).join('/')}`;
      await this.http.request('PUT', url, await readFile(f.file), {
        'Content-Type': MIME[path.extname(f.file).toLowerCase()] ?? 'application/octet-stream',
      });
    }
  }

  /** One artifact file's bytes (GET through the server's proxy). */
  async downloadArtifact(runId: string, artifactPath: string): Promise<Buffer> {
    const direct = await this.localArtifactDir(runId);
    if (direct) return readFile(path.join(direct, artifactPath));
    const base = await this.artifactBase(runId);
    return this.http.requestBytes('GET', `${base}/${artifactPath.split('/').map(encodeURIComponent).join('/')}`);
  }

  async updateRun(runId: string, o: UpdateRunOptions): Promise<void> {
    await this.call('POST', 'runs/update', {
      run_id: runId,
      run_uuid: runId,
      ...(o.status ? { status: o.status } : {}),
      ...(o.endTime ? { end_time: Math.round(o.endTime) } : {}),
      ...(o.runName ? { run_name: o.runName } : {}),
    });
  }

  async deleteRun(runId: string): Promise<void> {
    await this.call('POST', 'runs/delete', { run_id: runId });
  }

  async getRun(runId: string): Promise<RunRecord> {
    return normalizeRun((await this.call<{ run: WireRun }>('GET', 'runs/get', undefined, { run_id: runId })).run);
  }

  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const out: MetricPoint[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.call<{
        metrics?: { value: number | string; step?: number | string; timestamp: number | string }[];
        next_page_token?: string;
      }>('GET', 'metrics/get-history', undefined, {
        run_id: runId,
        metric_key: key,
        max_results: '25000',
        page_token: pageToken,
      });
      out.push(
        ...(r.metrics ?? []).map((m) => ({
          key,
          value: readDouble(m.value),
          step: Number(m.step ?? 0),
          timestamp: Number(m.timestamp),
        })),
      );
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  async searchRuns(experimentIds: string[], filter?: string): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.call<{ runs?: WireRun[]; next_page_token?: string }>('POST', 'runs/search', {
        experiment_ids: experimentIds,
        filter: filter ?? '',
        run_view_type: 'ACTIVE_ONLY',
        max_results: 1000,
        ...(pageToken ? { page_token: pageToken } : {}),
      });
      out.push(...(r.runs ?? []).map(normalizeRun));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  /** TrackingStore.readArtifact: downloadArtifact (through the server's proxy, or the run's local artifact folder). */
  async readArtifact(runId: string, artifactPath: string): Promise<Uint8Array> {
    return this.downloadArtifact(runId, artifactPath.replace(/^\/+|\/+$/g, ''));
  }

  async listArtifacts(runId: string, artifactPath = ''): Promise<ArtifactInfo[]> {
    const out: ArtifactInfo[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.call<{
        files?: { path: string; is_dir?: boolean; file_size?: number | string }[];
        next_page_token?: string;
      }>('GET', 'artifacts/list', undefined, {
        run_id: runId,
        path: artifactPath || undefined,
        page_token: pageToken,
      });
      out.push(
        ...(r.files ?? []).map((f) =>
          f.is_dir
            ? { path: f.path, is_dir: true }
            : { path: f.path, is_dir: false, ...(f.file_size !== undefined ? { file_size: Number(f.file_size) } : {}) },
        ),
      );
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }
}

/**
 * A run's artifact_uri → the HTTP URL its files are PUT under. `mlflow server` (artifact proxying is
 * the default since MLflow 2.0) gives runs `mlflow-artifacts:/<exp>/<run>/artifacts`, served at
 * <tracking uri>/api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts; a host in the URI
 * (`mlflow-artifacts://host:port/...`) replaces the tracking server's (mlflow_artifacts_repo.py resolve_uri).
 */
export function resolveArtifactUri(artifactUri: string, trackingUri: string): string {
  const route = '/api/2.0/mlflow-artifacts/artifacts';
  if (/^https?:\/\//.test(artifactUri)) return artifactUri.replace(/\/+$/, '');
  const m = /^mlflow-artifacts:(?:\/\/([^/]*))?(\/.*)?$/.exec(artifactUri);
  if (!m) {
    throw new TrackingServerError(
      `the run's artifact_uri is ${artifactUri}: the server does not proxy artifacts for this experiment (it was created ` +
        'with that artifact location, or the server was started with --default-artifact-root pointing there), and this client ' +
        'uploads through the server only. Start `mlflow server` with --artifacts-destination <that location> instead of ' +
        '--default-artifact-root (runs then get mlflow-artifacts:/ locations), or use an experiment created without artifact_location.',
    );
  }
  const tracking = new URL(trackingUri);
  const origin = m[1] ? `${tracking.protocol}//${m[1]}` : tracking.origin;
  const prefix = m[1] ? '' : tracking.pathname.replace(/\/+$/, '');
  return `${origin}${prefix}${route}${(m[2] ?? '').replace(/\/+$/, '')}`.replace(/([^:])\/\/+/g, '$1/');
}

function normalizeRun(r: WireRun): RunRecord {
  const i = r.info;
  const id = String(i.run_id ?? i.run_uuid);
  return {
    info: {
      run_id: id,
      run_uuid: String(i.run_uuid ?? id),
      run_name: i.run_name ?? '',
      experiment_id: String(i.experiment_id),
      user_id: i.user_id ?? '',
      status: i.status ?? 'RUNNING',
      start_time: Number(i.start_time ?? 0),
      end_time: i.end_time === undefined || i.end_time === null || Number(i.end_time) === 0 ? null : Number(i.end_time),
      artifact_uri: i.artifact_uri ?? '',
      lifecycle_stage: i.lifecycle_stage === 'deleted' ? 'deleted' : 'active',
    },
    data: {
      params: Object.fromEntries((r.data?.params ?? []).map((p) => [p.key, p.value])),
      metrics: Object.fromEntries((r.data?.metrics ?? []).map((m) => [m.key, readDouble(m.value)])),
      tags: Object.fromEntries((r.data?.tags ?? []).map((t) => [t.key, t.value])),
    },
  };
}

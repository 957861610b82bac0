import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { validateKey } from './keys.js';
import { LIMITS, type DatasetInput, type Experiment, type LogBatch, type MetricPoint, type RunInfo, type RunRecord, type RunStatus, type TrackingStore } from './types.js';

export class TrackingServerError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'TrackingServerError';
  }
}

export interface RestOptions {
  /** Attempts for 429/5xx and connection errors (exponential backoff). */
  retries?: number;
  backoffMs?: number;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

interface WireRun {
  info: RunInfo & { end_time?: number };
  data?: { params?: { key: string; value: string }[]; metrics?: { key: string; value: number }[]; tags?: { key: string; value: string }[] };
}

/** The MLflow REST API 2.0 (a tracking server, `mlflow server`). */
export class RestStore implements TrackingStore {
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(readonly uri: string, o: RestOptions = {}) {
    this.uri = uri.replace(/\/+$/, '');
    this.retries = o.retries ?? 5;
    this.backoffMs = o.backoffMs ?? 500;
    this.fetchImpl = o.fetch ?? fetch;
    const env = o.env ?? process.env;
    this.headers = { 'Content-Type': 'application/json' };
    if (env.MLFLOW_TRACKING_TOKEN) this.headers.Authorization = `Bearer ${env.MLFLOW_TRACKING_TOKEN}`;
    else if (env.MLFLOW_TRACKING_USERNAME) this.headers.Authorization = `Basic ${Buffer.from(`${env.MLFLOW_TRACKING_USERNAME}:${env.MLFLOW_TRACKING_PASSWORD ?? ''}`).toString('base64')}`;
  }

  private async call<T>(method: 'GET' | 'POST', endpoint: string, body?: unknown, query?: Record<string, string>): Promise<T> {
    const url = `${this.uri}/api/2.0/mlflow/${endpoint}${query ? `?${new URLSearchParams(query)}` : ''}`;
    return this.request<T>(url, { method, headers: this.headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  private async request<T>(url: string, init: RequestInit, raw = false): Promise<T> {
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
      let res: Response;
      try {
        res = await this.fetchImpl(url, init);
      } catch (e) {
        lastError = e;
        continue;
      }
      if (res.status === 429 || res.status >= 500) {
        lastError = new TrackingServerError(`${init.method} ${url}: HTTP ${res.status} ${await res.text().catch(() => '')}`.trim(), res.status);
        continue;
      }
      const text = await res.text();
      if (!res.ok) {
        let detail = text;
        try {
          const j = JSON.parse(text);
          detail = `${j.error_code ?? ''} ${j.message ?? text}`.trim();
        } catch {
          /* not JSON */
        }
        throw new TrackingServerError(`${init.method} ${url}: HTTP ${res.status}: ${detail}`, res.status);
      }
      return (raw ? text : text ? JSON.parse(text) : {}) as T;
    }
    if (lastError instanceof TrackingServerError) throw lastError;
    throw new TrackingServerError(
      `cannot reach the MLflow tracking server at ${this.uri} (${(lastError as Error)?.message ?? lastError}; tried ${this.retries + 1} times). ` +
        'Start one with `mlflow server --port 5000`, or unset MLFLOW_TRACKING_URI to log to the local store runs/mlruns.',
    );
  }

  async getExperimentByName(name: string): Promise<Experiment | null> {
    try {
      const r = await this.call<{ experiment: Experiment }>('GET', 'experiments/get-by-name', undefined, { experiment_name: name });
      return r.experiment;
    } catch (e) {
      if (e instanceof TrackingServerError && e.status === 404) return null;
      throw e;
    }
  }

  async createExperiment(name: string): Promise<string> {
    return (await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name })).experiment_id;
  }

  async getOrCreateExperiment(name: string): Promise<string> {
    const e = await this.getExperimentByName(name);
    if (e) return e.experiment_id;
    try {
      return await this.createExperiment(name);
    } catch (err) {
      const again = await this.getExperimentByName(name); // created by someone else meanwhile
      if (again) return again.experiment_id;
      throw err;
    }
  }

  async createRun(o: { experimentId: string; runName?: string; startTime?: number; tags?: Record<string, string> }): Promise<RunInfo> {
    const r = await this.call<{ run: WireRun }>('POST', 'runs/create', {
      experiment_id: o.experimentId, run_name: o.runName, start_time: o.startTime ?? Date.now(),
      tags: Object.entries(o.tags ?? {}).map(([key, value]) => ({ key, value })),
    });
    return normalizeRun(r.run).info;
  }

  /** log-batch within MLflow's limits: ≤1000 metrics, ≤100 params, ≤100 tags, ≤1000 entities per request. */
  async logBatch(runId: string, b: LogBatch): Promise<void> {
    const metrics = (b.metrics ?? []).map((m) => (validateKey('metric', m.key), { key: m.key, value: m.value, timestamp: Math.round(m.timestamp), step: Math.round(m.step) }));
    const params = Object.entries(b.params ?? {}).map(([key, value]) => {
      validateKey('param', key);
      if (value.length > LIMITS.paramValueLength) throw new Error(`param ${key}: value is ${value.length} characters; MLflow accepts at most ${LIMITS.paramValueLength}`);
      return { key, value };
    });
    const tags = Object.entries(b.tags ?? {}).map(([key, value]) => (validateKey('tag', key), { key, value: value.slice(0, LIMITS.tagValueLength) }));
    while (metrics.length || params.length || tags.length) {
      const p = params.splice(0, LIMITS.paramsPerBatch);
      const t = tags.splice(0, LIMITS.tagsPerBatch);
      const m = metrics.splice(0, Math.min(LIMITS.metricsPerBatch, LIMITS.totalPerBatch - p.length - t.length));
      await this.call('POST', 'runs/log-batch', { run_id: runId, metrics: m, params: p, tags: t });
    }
  }

  async logInputs(runId: string, datasets: DatasetInput[]): Promise<void> {
    await this.call('POST', 'runs/log-inputs', {
      run_id: runId,
      datasets: datasets.map((d) => ({
        tags: d.context ? [{ key: 'mlflow.data.context', value: d.context }] : [],
        dataset: { name: d.name, digest: d.digest, source_type: d.source_type, source: d.source, ...(d.schema ? { schema: d.schema } : {}), ...(d.profile ? { profile: d.profile } : {}) },
      })),
    });
  }

  /** Upload through the server's artifact proxy: PUT /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>. */
  async logArtifact(runId: string, localPath: string, artifactPath = ''): Promise<void> {
    const run = await this.getRun(runId);
    const base = artifactBase(run.info);
    const files: { file: string; rel: string }[] = [];
    const st = await stat(localPath);
    if (st.isDirectory()) {
      const walk = async (d: string) => {
        for (const e of await readdir(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) await walk(p);
          else files.push({ file: p, rel: path.relative(localPath, p).split(path.sep).join('/') });
        }
      };
      await walk(localPath);
    } else files.push({ file: localPath, rel: path.basename(localPath) });
    for (const f of files) {
      const rel = [artifactPath, f.rel].filter(Boolean).join('/');
      const url = `${this.uri}/api/2.0/mlflow-artifacts/artifacts/${base}/${rel.split('/').map(encodeURIComponent).join('/')}`;
      await this.request(url, { method: 'PUT', headers: { ...this.headers, 'Content-Type': 'application/octet-stream' }, body: await readFile(f.file) }, true);
    }
  }

  async updateRun(runId: string, o: { status?: RunStatus; endTime?: number; runName?: string }): Promise<void> {
    await this.call('POST', 'runs/update', { run_id: runId, run_uuid: runId, status: o.status, end_time: o.endTime, run_name: o.runName });
  }

  async getRun(runId: string): Promise<RunRecord> {
    return normalizeRun((await this.call<{ run: WireRun }>('GET', 'runs/get', undefined, { run_id: runId })).run);
  }

  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const r = await this.call<{ metrics?: MetricPoint[] }>('GET', 'metrics/get-history', undefined, { run_id: runId, metric_key: key, max_results: '25000' });
    return (r.metrics ?? []).map((m) => ({ key, value: Number(m.value), step: Number(m.step ?? 0), timestamp: Number(m.timestamp) }));
  }

  async searchRuns(experimentIds: string[], filter?: string): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.call<{ runs?: WireRun[]; next_page_token?: string }>('POST', 'runs/search', { experiment_ids: experimentIds, filter: filter ?? '', max_results: 1000, page_token: pageToken });
      out.push(...(r.runs ?? []).map(normalizeRun));
      pageToken = r.next_page_token;
    } while (pageToken);
    return out;
  }
}

/** `mlflow-artifacts:/<exp>/<run>/artifacts` (the server's proxied default) → `<exp>/<run>/artifacts`. */
function artifactBase(info: RunInfo): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(info.artifact_uri);
  if (!m) {
    throw new TrackingServerError(`run ${info.run_id} stores artifacts at ${info.artifact_uri}, not behind the server's artifact proxy; start the server with artifact serving (the default since MLflow 2.0: \`mlflow server\`, not --no-serve-artifacts).`);
  }
  return m[1].replace(/\/+$/, '');
}

function normalizeRun(r: WireRun): RunRecord {
  const kv = (list?: { key: string; value: string | number }[]) => Object.fromEntries((list ?? []).map((x) => [x.key, x.value]));
  return {
    info: { ...r.info, run_id: r.info.run_id ?? r.info.run_uuid, end_time: r.info.end_time ?? null, start_time: Number(r.info.start_time) },
    data: { params: kv(r.data?.params) as Record<string, string>, metrics: Object.fromEntries((r.data?.metrics ?? []).map((m) => [m.key, Number(m.value)])), tags: kv(r.data?.tags) as Record<string, string> },
  };
}

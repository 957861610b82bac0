import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-memory MLflow tracking server for tests, on 127.0.0.1: enough of REST API 2.0 (as documented
 * in MLflow's REST API reference) to store, search and list runs, with MLflow's validation where a
 * client bug would show: log-batch limits, immutable params, duplicate experiment names, unknown runs.
 */
export interface FakeRun {
  info: {
    run_id: string;
    run_uuid: string;
    run_name: string;
    experiment_id: string;
    user_id: string;
    status: string;
    start_time: number;
    end_time?: number;
    artifact_uri: string;
    lifecycle_stage: string;
  };
  params: Map<string, string>;
  metrics: { key: string; value: number; step: number; timestamp: number }[];
  tags: Map<string, string>;
  inputs: { tags: { key: string; value: string }[]; dataset: Record<string, string> }[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: any;
}

export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  experiments: Map<string, { experiment_id: string; name: string; lifecycle_stage: string; artifact_location: string }>;
  runs: Map<string, FakeRun>;
  /** artifact path after /api/2.0/mlflow-artifacts/artifacts/ → bytes */
  artifacts: Map<string, Buffer>;
  /** Answer the next n requests with this status (and Retry-After, if given). */
  failNext(n: number, status: number, retryAfter?: string): void;
  /** Require this Authorization header (401 otherwise). */
  requireAuth(header: string | null): void;
  /** Page size of runs/search, metrics/get-history and artifacts/list (to exercise pagination). */
  pageSize: number;
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const num = (v: unknown) =>
  v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : Number(v);

/** Independent of the client's parser: `<kind>.<key> = '<value>'` clauses joined by AND (and != ''). */
function matches(run: FakeRun, filter: string): boolean {
  if (!filter.trim()) return true;
  return filter.split(/\s+AND\s+/i).every((clause) => {
    const m = /^\s*(tags|params|attributes)\.`?([^`=!\s]+)`?\s*(=|!=)\s*'([^']*)'\s*$/.exec(clause);
    if (!m) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `fake server cannot parse filter clause ${clause}`);
    const [, kind, key, op, value] = m;
    const actual =
      kind === 'tags'
        ? run.tags.get(key)
        : kind === 'params'
          ? run.params.get(key)
          : key === 'run_name'
            ? run.info.run_name
            : key === 'status'
              ? run.info.status
              : undefined;
    if (actual === undefined) return false;
    return op === '=' ? actual === value : actual !== value;
  });
}

function page<T>(items: T[], token: string | null | undefined, size: number): { items: T[]; next?: string } {
  const start = token ? Number(Buffer.from(token, 'base64').toString()) : 0;
  const slice = items.slice(start, start + size);
  return {
    items: slice,
    next: start + size < items.length ? Buffer.from(String(start + size)).toString('base64') : undefined,
  };
}

export async function startFakeMlflowServer(): Promise<FakeServer> {
  const experiments: FakeServer['experiments'] = new Map([
    ['0', { experiment_id: '0', name: 'Default', lifecycle_stage: 'active', artifact_location: 'mlflow-artifacts:/0' }],
  ]);
  const runs: FakeServer['runs'] = new Map();
  const artifacts: FakeServer['artifacts'] = new Map();
  const requests: RecordedRequest[] = [];
  let failing = 0;
  let failStatus = 503;
  let failRetryAfter: string | undefined;
  let auth: string | null = null;
  let nextExp = 1;

  const wire = (r: FakeRun) => ({
    info: { ...r.info },
    data: {
      params: [...r.params].map(([key, value]) => ({ key, value })),
      tags: [...r.tags].map(([key, value]) => ({ key, value })),
      metrics: [...latest(r.metrics).values()].map((m) => ({
        ...m,
        value: Number.isFinite(m.value) ? m.value : String(m.value),
      })),
    },
  });
  const run = (id: unknown) => {
    const r = runs.get(String(id));
    if (!r) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Run '${String(id)}' not found`);
    return r;
  };

  function handle(method: string, p: string, q: URLSearchParams, j: any, body: Buffer): unknown {
    if (p.startsWith('/api/2.0/mlflow-artifacts/artifacts/') && method === 'PUT') {
      artifacts.set(decodeURIComponent(p.slice('/api/2.0/mlflow-artifacts/artifacts/'.length)), body);
      return {};
    }
    if (p.startsWith('/api/2.0/mlflow-artifacts/artifacts/') && method === 'GET') {
      const a = artifacts.get(decodeURIComponent(p.slice('/api/2.0/mlflow-artifacts/artifacts/'.length)));
      if (!a) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `no artifact ${p}`);
      return a;
    }
    const ep = `${method} ${p.replace('/api/2.0/mlflow/', '')}`;
    switch (ep) {
      case 'GET experiments/get-by-name': {
        const e = [...experiments.values()].find((x) => x.name === q.get('experiment_name'));
        if (!e)
          throw new ApiError(
            404,
            'RESOURCE_DOES_NOT_EXIST',
            `Could not find experiment with name '${q.get('experiment_name')}'`,
          );
        return { experiment: e };
      }
      case 'POST experiments/create': {
        if (!j.name) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'name'");
        if ([...experiments.values()].some((x) => x.name === j.name))
          throw new ApiError(400, 'RESOURCE_ALREADY_EXISTS', `Experiment '${j.name}' already exists.`);
        const id = String(nextExp++);
        experiments.set(id, {
          experiment_id: id,
          name: j.name,
          lifecycle_stage: 'active',
          artifact_location: `mlflow-artifacts:/${id}`,
        });
        return { experiment_id: id };
      }
      case 'POST runs/create': {
        const exp = experiments.get(String(j.experiment_id));
        if (!exp) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${j.experiment_id} exists`);
        const id = randomUUID().replace(/-/g, '');
        const tags = new Map<string, string>(
          (j.tags ?? []).map((t: { key: string; value: string }) => [t.key, t.value]),
        );
        const name = j.run_name ?? tags.get('mlflow.runName') ?? 'fake-run';
        tags.set('mlflow.runName', name);
        runs.set(id, {
          info: {
            run_id: id,
            run_uuid: id,
            run_name: name,
            experiment_id: exp.experiment_id,
            user_id: j.user_id ?? '',
            status: 'RUNNING',
            start_time: Number(j.start_time),
            artifact_uri: `${exp.artifact_location}/${id}/artifacts`,
            lifecycle_stage: 'active',
          },
          params: new Map(),
          metrics: [],
          tags,
          inputs: [],
        });
        return { run: wire(runs.get(id)!) };
      }
      case 'POST runs/log-batch': {
        const r = run(j.run_id);
        const [m, pa, t] = [j.metrics ?? [], j.params ?? [], j.tags ?? []];
        for (const [what, n, limit] of [
          ['metrics', m.length, 1000],
          ['params', pa.length, 100],
          ['tags', t.length, 100],
          ['metrics, params, and tags', m.length + pa.length + t.length, 1000],
        ] as const) {
          if (n > limit)
            throw new ApiError(
              400,
              'INVALID_PARAMETER_VALUE',
              `A batch logging request can contain at most ${limit} ${what}. Got ${n} ${what}.`,
            );
        }
        if (body.length > 1_000_000)
          throw new ApiError(
            400,
            'INVALID_PARAMETER_VALUE',
            `Batched logging API requests must be at most 1000000 bytes, got ${body.length}`,
          );
        for (const x of pa) {
          if (x.value.length > 6000)
            throw new ApiError(
              400,
              'INVALID_PARAMETER_VALUE',
              `Param value had length ${x.value.length}, which exceeded length limit of 6000`,
            );
          const old = r.params.get(x.key);
          if (old !== undefined && old !== x.value)
            throw new ApiError(
              400,
              'INVALID_PARAMETER_VALUE',
              `Changing param values is not allowed. Param with key='${x.key}'`,
            );
          r.params.set(x.key, x.value);
        }
        for (const x of m)
          r.metrics.push({
            key: x.key,
            value: num(x.value),
            step: Number(x.step ?? 0),
            timestamp: Number(x.timestamp),
          });
        for (const x of t) {
          r.tags.set(x.key, x.value);
          if (x.key === 'mlflow.runName') r.info.run_name = x.value;
        }
        return {};
      }
      case 'POST runs/log-inputs':
        run(j.run_id).inputs.push(...j.datasets);
        return {};
      case 'POST runs/update': {
        const r = run(j.run_id ?? j.run_uuid);
        if (j.status) r.info.status = j.status;
        if (j.end_time) r.info.end_time = Number(j.end_time);
        if (j.run_name) {
          r.info.run_name = j.run_name;
          r.tags.set('mlflow.runName', j.run_name);
        }
        return { run_info: r.info };
      }
      case 'POST runs/delete':
        run(j.run_id).info.lifecycle_stage = 'deleted';
        return {};
      case 'GET runs/get':
        return { run: wire(run(q.get('run_id'))) };
      case 'POST runs/search': {
        const all = [...runs.values()]
          .filter(
            (r) =>
              j.experiment_ids.includes(r.info.experiment_id) &&
              (j.run_view_type === 'ALL' || r.info.lifecycle_stage === 'active') &&
              matches(r, j.filter ?? ''),
          )
          .sort((a, b) => b.info.start_time - a.info.start_time);
        const pg = page(all, j.page_token, Math.min(Number(j.max_results ?? 1000), fake.pageSize));
        return { runs: pg.items.map(wire), ...(pg.next ? { next_page_token: pg.next } : {}) };
      }
      case 'GET metrics/get-history': {
        const pts = run(q.get('run_id')).metrics.filter((x) => x.key === q.get('metric_key'));
        const pg = page(pts, q.get('page_token'), fake.pageSize);
        return {
          metrics: pg.items.map((m) => ({ ...m, value: Number.isFinite(m.value) ? m.value : String(m.value) })),
          ...(pg.next ? { next_page_token: pg.next } : {}),
        };
      }
      case 'GET artifacts/list': {
        const r = run(q.get('run_id'));
        const root = r.info.artifact_uri.replace(/^mlflow-artifacts:\//, '');
        const dir = q.get('path') ?? '';
        const prefix = `${root}/${dir ? `${dir}/` : ''}`;
        const children = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
        for (const [k, v] of artifacts) {
          if (!k.startsWith(prefix)) continue;
          const [head, ...rest] = k.slice(prefix.length).split('/');
          const rel = dir ? `${dir}/${head}` : head;
          children.set(
            rel,
            rest.length ? { path: rel, is_dir: true } : { path: rel, is_dir: false, file_size: v.length },
          );
        }
        const pg = page(
          [...children.values()].sort((a, b) => (a.path < b.path ? -1 : 1)),
          q.get('page_token'),
          fake.pageSize,
        );
        return { root_uri: r.info.artifact_uri, files: pg.items, ...(pg.next ? { next_page_token: pg.next } : {}) };
      }
      default:
        throw new ApiError(404, 'ENDPOINT_NOT_FOUND', `no endpoint ${ep}`);
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url!, 'http://127.0.0.1');
      let json: unknown = null;
      if (req.headers['content-type']?.includes('application/json') && body.length) json = JSON.parse(body.toString());
      requests.push({
        method: req.method!,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        json,
      });
      const send = (status: number, obj: unknown, headers: Record<string, string> = {}) => {
        if (Buffer.isBuffer(obj)) {
          res.writeHead(status, { 'Content-Type': 'application/octet-stream', ...headers });
          return res.end(obj);
        }
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
        res.end(JSON.stringify(obj));
      };
      if (failing > 0) {
        failing--;
        return send(
          failStatus,
          {
            error_code: failStatus === 429 ? 'REQUEST_LIMIT_EXCEEDED' : 'TEMPORARILY_UNAVAILABLE',
            message: 'try again',
          },
          failRetryAfter ? { 'Retry-After': failRetryAfter } : {},
        );
      }
      if (auth !== null && req.headers.authorization !== auth)
        return send(401, { error_code: 'UNAUTHENTICATED', message: 'credentials required' });
      try {
        send(200, handle(req.method!, url.pathname, url.searchParams, json, body));
      } catch (e) {
        if (e instanceof ApiError) send(e.status, { error_code: e.code, message: e.message });
        else send(500, { error_code: 'INTERNAL_ERROR', message: String(e) });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const fake: FakeServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    experiments,
    runs,
    artifacts,
    pageSize: 1000,
    failNext(n, status, retryAfter) {
      failing = n;
      failStatus = status;
      failRetryAfter = retryAfter;
    },
    requireAuth(header) {
      auth = header;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return fake;
}

function latest(metrics: FakeRun['metrics']) {
  const out = new Map<string, FakeRun['metrics'][number]>();
  for (const m of metrics) {
    const cur = out.get(m.key);
    if (!cur || m.step > cur.step || (m.step === cur.step && m.timestamp >= cur.timestamp)) out.set(m.key, m);
  }
  return out;
}

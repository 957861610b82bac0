import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A tiny in-memory MLflow tracking server for tests: enough of REST API 2.0 to store and search runs. */
export interface FakeServer {
  url: string;
  requests: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[];
  runs: Map<string, { info: Record<string, unknown>; params: Map<string, string>; metrics: { key: string; value: number; step: number; timestamp: number }[]; tags: Map<string, string>; inputs: unknown[] }>;
  artifacts: Map<string, Buffer>;
  /** Answer the next N requests with this status (retry tests). */
  failNext(n: number, status: number): void;
  close(): Promise<void>;
}

export async function startFakeServer(): Promise<FakeServer> {
  const experiments = new Map<string, string>([['Default', '0']]);
  const runs: FakeServer['runs'] = new Map();
  const artifacts = new Map<string, Buffer>();
  const requests: FakeServer['requests'] = [];
  let failing = 0;
  let failStatus = 503;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const buf = Buffer.concat(chunks);
      const body = buf.toString();
      const url = new URL(req.url!, 'http://x');
      requests.push({ method: req.method!, path: url.pathname + url.search, headers: req.headers, body });
      const send = (status: number, obj: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      if (failing > 0) {
        failing--;
        return send(failStatus, { error_code: 'TEMPORARILY_UNAVAILABLE' });
      }
      const p = url.pathname.replace('/api/2.0/mlflow/', '');
      const j = body && req.headers['content-type']?.includes('json') ? JSON.parse(body) : {};
      const wire = (id: string) => {
        const r = runs.get(id)!;
        return { info: r.info, data: { params: [...r.params].map(([key, value]) => ({ key, value })), tags: [...r.tags].map(([key, value]) => ({ key, value })), metrics: latest(r.metrics) } };
      };
      if (url.pathname.startsWith('/api/2.0/mlflow-artifacts/artifacts/') && req.method === 'PUT') {
        artifacts.set(decodeURIComponent(url.pathname.replace('/api/2.0/mlflow-artifacts/artifacts/', '')), buf);
        return send(200, {});
      }
      switch (p) {
        case 'experiments/get-by-name': {
          const id = experiments.get(url.searchParams.get('experiment_name')!);
          return id ? send(200, { experiment: { experiment_id: id, name: url.searchParams.get('experiment_name'), lifecycle_stage: 'active', artifact_location: `mlflow-artifacts:/${id}` } }) : send(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no such experiment' });
        }
        case 'experiments/create': {
          const id = String(experiments.size);
          experiments.set(j.name, id);
          return send(200, { experiment_id: id });
        }
        case 'runs/create': {
          const id = randomUUID().replace(/-/g, '');
          runs.set(id, {
            info: { run_id: id, run_uuid: id, run_name: j.run_name, experiment_id: j.experiment_id, status: 'RUNNING', start_time: j.start_time, artifact_uri: `mlflow-artifacts:/${j.experiment_id}/${id}/artifacts`, lifecycle_stage: 'active' },
            params: new Map(), metrics: [], tags: new Map((j.tags ?? []).map((t: { key: string; value: string }) => [t.key, t.value])), inputs: [],
          });
          return send(200, { run: wire(id) });
        }
        case 'runs/log-batch': {
          const r = runs.get(j.run_id)!;
          for (const x of j.params ?? []) r.params.set(x.key, x.value);
          for (const x of j.tags ?? []) r.tags.set(x.key, x.value);
          r.metrics.push(...(j.metrics ?? []));
          return send(200, {});
        }
        case 'runs/log-inputs':
          runs.get(j.run_id)!.inputs.push(...j.datasets);
          return send(200, {});
        case 'runs/update': {
          const r = runs.get(j.run_id)!;
          if (j.status) r.info.status = j.status;
          if (j.end_time) r.info.end_time = j.end_time;
          return send(200, { run_info: r.info });
        }
        case 'runs/get':
          return runs.has(url.searchParams.get('run_id')!) ? send(200, { run: wire(url.searchParams.get('run_id')!) }) : send(404, { error_code: 'RESOURCE_DOES_NOT_EXIST' });
        case 'runs/search': {
          const m = /^tags\.`?([\w.]+)`?\s*=\s*'([^']*)'$/.exec((j.filter ?? '').trim());
          const ids = [...runs.keys()].filter((id) => j.experiment_ids.includes(runs.get(id)!.info.experiment_id) && (!m || runs.get(id)!.tags.get(m[1]) === m[2]));
          return send(200, { runs: ids.map(wire) });
        }
        case 'metrics/get-history': {
          const r = runs.get(url.searchParams.get('run_id')!)!;
          return send(200, { metrics: r.metrics.filter((x) => x.key === url.searchParams.get('metric_key')) });
        }
        default:
          return send(404, { error_code: 'ENDPOINT_NOT_FOUND', message: p });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, requests, runs, artifacts,
    failNext(n, status) {
      failing = n;
      failStatus = status;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function latest(metrics: { key: string; value: number; step: number; timestamp: number }[]) {
  const out = new Map<string, { key: string; value: number; step: number; timestamp: number }>();
  for (const m of metrics) {
    const cur = out.get(m.key);
    if (!cur || m.step > cur.step || (m.step === cur.step && m.timestamp >= cur.timestamp)) out.set(m.key, m);
  }
  return [...out.values()];
}

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import { RestStore, TrackingServerUnreachableError } from './index.js';

/**
 * Every REST call ends: a request that gets no answer, an answer whose body stalls or breaks off, even a fetch
 * whose promise never settles (what undici does when it loses a socket, issue 17's hung queue trial) is retried
 * and then a clear error naming the endpoint's URL, within retries × MLFLOW_HTTP_REQUEST_TIMEOUT.
 */

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function listen(
  handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
) {
  const sockets = new Set<Socket>();
  const srv: Server = createServer(handler);
  srv.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const uri = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return {
    uri,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

test('REST: a fetch that never settles is retried, then an error naming the URL (no hang)', async () => {
  let calls = 0;
  const store = new RestStore('http://127.0.0.1:9', {
    retries: 1,
    backoffMs: 1,
    timeoutMs: 150,
    env: {},
    fetch: () => (calls++, new Promise<Response>(() => undefined)),
  });
  const t0 = performance.now();
  await assert.rejects(store.searchRuns(['1'], "tags.x = 'y'"), (e: unknown) => {
    assert.ok(e instanceof TrackingServerUnreachableError, String(e));
    assert.match(e.message, /no answer within 0\.15 s \(MLFLOW_HTTP_REQUEST_TIMEOUT\); 2 attempts/);
    assert.match(e.message, /last http:\/\/127\.0\.0\.1:9\/api\/2\.0\/mlflow\/runs\/search/);
    return true;
  });
  assert.equal(calls, 2);
  assert.ok(performance.now() - t0 < 2000);
});

test('REST: a server that never answers, or stalls in the body, times out with the endpoint named', async () => {
  const silent = await listen(() => undefined); // takes the request, never answers
  const stalling = await listen((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
    res.write('{"runs": ['); // then nothing
  });
  try {
    for (const srv of [silent, stalling]) {
      const store = new RestStore(srv.uri, { retries: 1, backoffMs: 1, timeoutMs: 200, env: {} });
      const t0 = performance.now();
      await assert.rejects(store.createRun({ experimentId: '1', runName: 'r' }), (e: unknown) => {
        assert.ok(e instanceof TrackingServerUnreachableError, String(e));
        assert.match(e.message, new RegExp(`last ${escape(srv.uri)}/api/2\\.0/mlflow/runs/create\\)`));
        assert.match(e.message, /no answer within 0\.2 s/);
        return true;
      });
      assert.ok(performance.now() - t0 < 3000);
    }
  } finally {
    await silent.close();
    await stalling.close();
  }
});

test('REST: a 200 whose body breaks off is retried, not read as an empty answer', async () => {
  let n = 0;
  const srv = await listen((_req, res) => {
    if (n++ === 0) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
      res.write('{"runs": [');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ runs: [{ info: { run_id: 'abc', experiment_id: '1' } }] }));
  });
  try {
    const store = new RestStore(srv.uri, { retries: 2, backoffMs: 1, timeoutMs: 5000, env: {} });
    const runs = await store.searchRuns(['1']);
    assert.deepEqual(
      runs.map((r) => r.info.run_id),
      ['abc'],
    );
    assert.equal(n, 2);
  } finally {
    await srv.close();
  }
});

test('REST: two runs logging the same new dataset at once (HTTP 400 UNIQUE constraint from MLflow) is asked again', async () => {
  let n = 0;
  const srv = await listen((req, res) => {
    req.resume();
    req.on('end', () => {
      if (n++ === 0) {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            error_code: 'BAD_REQUEST',
            message:
              '(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest',
          }),
        );
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  try {
    const store = new RestStore(srv.uri, { retries: 0, backoffMs: 1, env: {} });
    await store.logInputs('r1', [
      { name: 'd', digest: 'abc', source_type: 'local', source: '{}', context: 'training' },
    ]);
    assert.equal(n, 2);
    // any other 400 is not retried
    n = 5;
    const other = await listen((_req, res) => {
      n++;
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error_code: 'INVALID_PARAMETER_VALUE', message: 'bad digest' }));
    });
    try {
      const s2 = new RestStore(other.uri, { retries: 0, backoffMs: 1, env: {} });
      await assert.rejects(
        s2.logInputs('r1', [{ name: 'd', digest: 'x', source_type: 'local', source: '{}' }]),
        /bad digest/,
      );
      assert.equal(n, 6);
    } finally {
      await other.close();
    }
  } finally {
    await srv.close();
  }
});

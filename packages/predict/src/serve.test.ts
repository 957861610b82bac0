import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { before, after, test } from 'node:test';
import { mlflowSh, realMlflowSkip } from '../../tracking/src/test-helpers/real-mlflow.js';
import { Predictor } from './predictor.js';
import { createServer, parseInvocation } from './serve.js';
import { tinyModelDir } from './test-helpers/tiny-model.js';

let predictor: Predictor;
let app: ReturnType<typeof createServer>;
const logLines: string[] = [];

before(async () => {
  predictor = await Predictor.load(await tinyModelDir());
  app = createServer({
    predictor,
    model: { uri: 'models:/nerflow-test@champion', version: '3', runId: 'abc' },
    limits: { maxBodyBytes: 200_000, maxSentences: 50, maxTokens: 2000, maxInputs: 100 },
    accessLog: (l) => logLines.push(l),
  });
  await app.ready();
});
after(() => app.close());

const post = (url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  app.inject({
    method: 'POST',
    url,
    headers,
    payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });

test("MLflow's scoring protocol: inputs, instances, dataframe_split, dataframe_records → {predictions}, same answer for the same text", async () => {
  const text = 'Bush visited Iraq on Monday .';
  const shapes = [
    { inputs: text },
    { inputs: [text, 'He left .'] },
    { inputs: { text: [text, 'He left .'] } },
    { instances: [text, 'He left .'] },
    { instances: [{ text }, { text: 'He left .' }] },
    { dataframe_split: { columns: ['text'], data: [[text], ['He left .']] } },
    {
      dataframe_split: {
        index: [0, 1],
        columns: ['id', 'text'],
        data: [
          [1, text],
          [2, 'He left .'],
        ],
      },
    },
    { dataframe_records: [{ text }, { text: 'He left .' }] },
    { inputs: [{ tokens: ['Bush', 'visited', 'Iraq', 'on', 'Monday', '.'] }] },
    { inputs: [text], params: {} },
    { dataframe_records: [{ text }], params: null },
  ];
  let first: unknown = null;
  for (const body of shapes) {
    const r = await post('/invocations', body);
    assert.equal(r.statusCode, 200, `${JSON.stringify(body)} → ${r.body}`);
    const j = r.json() as { predictions: { text: string; entities: { start: number; end: number; text: string }[] }[] };
    assert.ok(Array.isArray(j.predictions) && j.predictions.length >= 1);
    for (const p of j.predictions) for (const e of p.entities) assert.equal(p.text.slice(e.start, e.end), e.text);
    first ??= j.predictions[0].entities;
    assert.deepEqual(j.predictions[0].entities, first, JSON.stringify(body));
  }
  const ner = await post('/v1/ner', { text });
  assert.equal(ner.statusCode, 200);
  assert.deepEqual(ner.json().entities, first);
  assert.deepEqual(parseInvocation({ inputs: { tokens: [['a', 'b']] } }), [{ tokens: ['a', 'b'] }]);
});

test('GET /ping, /health, /version, / answer; one access-log line per request', async () => {
  const n = logLines.length;
  assert.equal((await app.inject({ url: '/ping' })).statusCode, 200);
  const health = await app.inject({ url: '/health' });
  assert.equal(health.json().status, 'ok');
  const v = (await app.inject({ url: '/version' })).json();
  assert.equal(v.model_uri, 'models:/nerflow-test@champion');
  assert.equal(v.model_version, '3');
  assert.match(v.nerflow_version, /^\d+\.\d+\.\d+/);
  const page = await app.inject({ url: '/' });
  assert.match(page.headers['content-type'] as string, /text\/html/);
  assert.match(page.body, /\/v1\/ner/);
  assert.equal(logLines.length, n + 4);
  assert.match(logLines.at(-1)!, /^\d{4}-\d\d-\d\dT[\d:.]+Z \S+ "GET \/" 200 \d+ [\d.]+ms$/);
});

test('bad requests: 400/413/415/404 JSON errors naming the problem or limit; the server keeps answering', async () => {
  const cases: [string, () => Promise<{ statusCode: number; json(): any }>, number, RegExp][] = [
    ['empty text', () => post('/v1/ner', { text: '' }), 400, /input 0: the text is empty/],
    ['whitespace text', () => post('/invocations', { inputs: ['ok', ' \n\t '] }), 400, /input 1: the text is empty/],
    ['invalid JSON', () => post('/invocations', '{"inputs": [}'), 400, /not valid JSON/],
    [
      'invalid UTF-8',
      () => post('/v1/ner', Buffer.concat([Buffer.from('{"text": "a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])),
      400,
      /not valid UTF-8/,
    ],
    [
      'wrong content type',
      () => post('/v1/ner', 'Bush visited Iraq', { 'content-type': 'text/plain' }),
      415,
      /unsupported content type "text\/plain"/,
    ],
    ['unknown top-level field', () => post('/invocations', { inputs: 'x', extra: 1 }), 400, /unknown field "extra"/],
    [
      'unknown record field',
      () => post('/invocations', { dataframe_records: [{ txt: 'x' }] }),
      400,
      /dataframe_records\[0\]: unknown field "txt"/,
    ],
    ['no protocol key', () => post('/invocations', { text: 'x' }), 400, /unknown field "text"/],
    [
      'inference params',
      () => post('/invocations', { inputs: 'x', params: { temperature: 0.5 } }),
      400,
      /params: a nerflow model takes no inference parameters \(got "temperature"\)/,
    ],
    [
      'wrong column',
      () => post('/invocations', { dataframe_split: { columns: ['sentence'], data: [['x']] } }),
      400,
      /no "text" \(or "tokens"\) column; the columns are \["sentence"\]/,
    ],
    ['not an object', () => post('/v1/ner', [1, 2]), 400, /expected a JSON object/],
    [
      '100,000-character line',
      () => post('/v1/ner', { text: 'word '.repeat(20_000) }),
      413,
      /20000 tokens in one request, over the limit of 2000 \(server flag --max-tokens\)/,
    ],
    [
      'body too large',
      () => post('/v1/ner', { text: 'x'.repeat(300_000) }),
      413,
      /larger than the limit of 200000 bytes \(server flag --max-body-bytes\)/,
    ],
    [
      'too many sentences',
      () => post('/v1/ner', { text: 'He left . '.repeat(60) }),
      413,
      /60 sentences in one request, over the limit of 50 \(server flag --max-sentences\)/,
    ],
    [
      'too many inputs',
      () => post('/invocations', { inputs: Array(101).fill('x') }),
      413,
      /101 inputs in one request, over the limit of 100/,
    ],
    ['no route', () => app.inject({ url: '/nope' }), 404, /no route GET \/nope/],
  ];
  for (const [what, call, status, re] of cases) {
    const r = await call();
    assert.equal(r.statusCode, status, what);
    const j = r.json();
    assert.match(j.message, re, what);
    assert.ok(j.error_code, what);
  }
  assert.equal((await post('/v1/ner', { text: 'Bush visited Iraq .' })).statusCode, 200, 'still serving');
});

test('concurrent requests are micro-batched into fewer kernel calls, each answered with its own result', async () => {
  const server = createServer({ predictor, model: { uri: 'x' }, accessLog: () => undefined });
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  try {
    const texts = Array.from({ length: 40 }, (_, i) => `Bush visited Iraq ${i} times in ${1990 + i} .`);
    const answers = await Promise.all(
      texts.map((text) =>
        fetch(`${address}/v1/ner`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text }),
        }).then((r) => r.json() as Promise<{ text: string }>),
      ),
    );
    answers.forEach((a, i) => assert.equal(a.text, texts[i]));
    const health = (await (await fetch(`${address}/health`)).json()) as { requests: number; batches: number };
    assert.equal(health.requests, 40);
    assert.ok(health.batches < 40, `${health.batches} kernel batches for 40 concurrent requests`);
    console.log(`micro-batching: 40 concurrent requests → ${health.batches} batches`);
  } finally {
    await server.close();
  }
});

test("POST /invocations with text/csv (MLflow's CSV input): the text column, else the first; quoted commas and line breaks; CSV errors are 400s", async () => {
  const text = 'Bush visited Iraq on Monday .';
  const json = (await post('/invocations', { inputs: [text, 'He met Blair, then left .'] })).json();
  const csv = (body: string, type = 'text/csv') => post('/invocations', body, { 'content-type': type });
  for (const body of [
    `text\n${text}\n"He met Blair, then left ."\n`,
    `id,text,lang\r\n1,${text},en\r\n2,"He met Blair, then left .",en\r\n`,
    `sentence\n"${text}"\n\n"He met Blair, then left ."`,
    `\uFEFFlang,text\nen,${text}\nen,"He met Blair, then left ."\n`,
  ]) {
    const r = await csv(body, 'text/csv; charset=utf-8');
    assert.equal(r.statusCode, 200, `${body} → ${r.body}`);
    assert.deepEqual(r.json(), json, body);
  }
  const multi = await csv('text\n"He said ""Bush visited Iraq"".\nThen he left ."\n');
  assert.equal(multi.statusCode, 200, multi.body);
  assert.equal(multi.json().predictions[0].text, 'He said "Bush visited Iraq".\nThen he left .');
  for (const [body, re] of [
    ['', /the CSV body is empty/],
    ['text\n', /has a header \(text\) but no rows/],
    ['id,text\n1,a,b\n', /CSV line 2: 3 field\(s\), but the header has 2 \(id,text\); quote a text that holds commas/],
    ['text\n"open\n', /CSV line 2: a quoted field is never closed/],
    ['text\n"a"b\n', /CSV line 2: text after a closing quote/],
    ['text\n  \n', /the text is empty/],
  ] as const) {
    const r = await csv(body);
    assert.equal(r.statusCode, 400, `${JSON.stringify(body)} → ${r.body}`);
    assert.match(r.json().message, re);
  }
  const bin = await post(
    '/invocations',
    Buffer.concat([Buffer.from('text\na'), Buffer.from([0xff]), Buffer.from('\n')]),
    {
      'content-type': 'text/csv',
    },
  );
  assert.equal(bin.statusCode, 400);
  assert.match(bin.json().message, /not valid UTF-8/);
  // CSV is MLflow's scoring input; /v1/ner takes JSON; other types → 415 JSON naming what is accepted
  const v1 = await csv('text\nBush\n');
  assert.equal(v1.statusCode, 200);
  assert.equal((await post('/v1/ner', 'text\nBush\n', { 'content-type': 'text/csv' })).statusCode, 415);
  for (const type of ['application/xml', 'text/plain', 'application/x-www-form-urlencoded']) {
    const r = await post('/invocations', 'text=Bush', { 'content-type': type });
    assert.equal(r.statusCode, 415, type);
    assert.equal(r.json().error_code, 'BAD_REQUEST');
    assert.match(r.json().message, /unsupported content type .* application\/json .* text\/csv/);
  }
  const version = (await app.inject({ url: '/version' })).json();
  assert.equal(version.tag_scheme, 'iob2');
  assert.equal(version.head, 'softmax');
  assert.equal(version.chars, false);
  assert.ok([1, 2].includes(version.engine.threads) && ['exact', 'fma'].includes(version.engine.kernel));
});

test(
  "MLflow's own scoring client (ScoringServerClient: a pandas DataFrame in, predictions out) talks to nerflow serve",
  { skip: realMlflowSkip },
  async () => {
    const server = createServer({ predictor, model: { uri: 'x' }, accessLog: () => undefined });
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const texts = ['Angela Merkel met Emmanuel Macron in Paris on Tuesday .', 'Bush visited Iraq .'];
      const { port } = new URL(address);
      const { stdout } = await promisify(execFile)(mlflowSh, [
        'python',
        '-c',
        `
import json, pandas as pd
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
c = ScoringServerClient('127.0.0.1', ${port})
c.wait_server_ready(timeout=30)
p = c.invoke(pd.DataFrame({'text': ${JSON.stringify(texts)}})).get_predictions()
print(json.dumps(p.to_dict('records')))`,
      ]);
      const got = JSON.parse(stdout.trim().split('\n').at(-1)!);
      const ours = (await post('/invocations', { inputs: texts })).json().predictions;
      assert.deepEqual(got, ours);
      assert.equal(got.length, 2);
    } finally {
      await server.close();
    }
  },
);

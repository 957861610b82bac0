import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { before, test } from 'node:test';
import { createLogger, ValidationError } from '@nerflow/core';
import { FileStore, registerRunModel } from '@nerflow/tracking';
import { resolveModel } from './model-uri.js';
import { predictStream } from './predict.js';
import { Predictor } from './predictor.js';
import { tinyModelDir } from './test-helpers/tiny-model.js';

let dir = '';
let p: Predictor;
before(async () => {
  dir = await tinyModelDir();
  p = await Predictor.load(dir);
});
const log = createLogger({ quiet: true });

function sink() {
  let text = '';
  const stream = new Writable({
    write(c, _e, cb) {
      text += c.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

async function run(input: string | Buffer, o: { inputFormat?: string; format?: 'jsonl' | 'conll' | 'table' } = {}) {
  const out = sink();
  await predictStream({
    modelDir: dir,
    stdin: Readable.from([Buffer.from(input)]),
    stdout: out.stream as never,
    format: o.format ?? 'jsonl',
    inputFormat: o.inputFormat,
    log,
  });
  return out.text();
}

test('raw text → entities whose character offsets slice the input exactly; documents split into sentences; tokens input', () => {
  const text =
    'The U.S. military said Tuesday that President Bush will visit Iraq and Afghanistan next month. Mr. Blair met leaders in London on Monday.';
  const [r] = p.predict([{ text }]);
  assert.equal(r.sentences.length, 2);
  assert.ok(r.entities.length >= 3, JSON.stringify(r.entities));
  for (const e of r.entities) {
    assert.equal(text.slice(e.start, e.end), e.text);
    assert.equal(r.tokens.slice(e.token_start, e.token_end).join(' ').replace(/ /g, ''), e.text.replace(/\s/g, ''));
    assert.ok(e.confidence > 0 && e.confidence <= 1);
  }
  const types = new Set(r.entities.map((e) => e.type));
  assert.ok(types.has('geo') || types.has('tim'), `${[...types]}`);
  for (const [i, [s, e]] of r.offsets.entries()) assert.equal(text.slice(s, e), r.tokens[i]);
  const [t] = p.predict([{ tokens: ['Bush', 'visited', 'Iraq', 'on', 'Monday', '.'] }]);
  assert.equal(t.tokens.length, 6);
  for (const e of t.entities) assert.equal(t.text.slice(e.start, e.end), e.text);
});

test('long, empty and odd inputs: a 100,000-character line is chunked (no crash), empty text gives no entities', () => {
  const long = 'Iraq said the talks in Baghdad will go on '.repeat(2400);
  assert.ok(long.length > 100_000);
  const [r] = p.predict([{ text: long }]);
  assert.equal(r.tags.length, r.tokens.length);
  assert.ok(r.entities.length > 100);
  for (const e of r.entities) assert.equal(long.slice(e.start, e.end), e.text);
  // one sentence longer than max_len is cut into max_len chunks
  assert.ok(r.sentences.some(([s, e]) => e - s > p.maxLen));
  for (const text of ['', '   \t ', '😀 ×× ¿?']) {
    const [x] = p.predict([{ text }]);
    assert.ok(Array.isArray(x.entities));
  }
  assert.deepEqual(p.predict([{ text: '  ' }])[0].entities, []);
});

test('predict streams text, JSON lines and CoNLL in and JSON lines, CoNLL and a table out, one record per input in order', async () => {
  const lines = (await run('Bush visited Iraq .\n\nThe talks in London ended .\n'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.equal(lines[1].text, '');
  assert.deepEqual(lines[1].entities, []);
  const j = (
    await run('{"id": 7, "text": "Bush visited Iraq ."}\n["Bush", "visited", "Iraq"]\n\n', { inputFormat: 'jsonl' })
  )
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(j.length, 2);
  assert.equal(j[0].id, 7);
  assert.deepEqual(j[1].tokens, ['Bush', 'visited', 'Iraq']);
  const conll = await run('-DOCSTART- O\n\nBush B-per\nvisited O\nIraq B-geo\n\nHe O\nleft O\n', {
    inputFormat: 'conll',
    format: 'conll',
  });
  const blocks = conll.trim().split('\n\n');
  assert.equal(blocks.length, 2);
  assert.deepEqual(
    blocks[0].split('\n').map((l) => l.split('\t')[0]),
    ['Bush', 'visited', 'Iraq'],
  );
  const table = await run('Bush visited Iraq on Monday .\n', { format: 'table' });
  assert.match(table, /type\s+chars\s+conf\.\s+text/);
});

test('bad input: invalid UTF-8, invalid JSON, unknown fields → errors naming the line; nothing half-written', async () => {
  await assert.rejects(
    run(Buffer.concat([Buffer.from('fine line\nbad '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')])),
    (e: Error) => e instanceof ValidationError && /stdin:2: not valid UTF-8/.test(e.message),
  );
  await assert.rejects(run('{"text": "ok"}\n{oops\n', { inputFormat: 'jsonl' }), /stdin:2: not valid JSON/);
  await assert.rejects(
    run('{"txt": "ok"}\n', { inputFormat: 'jsonl' }),
    /stdin:1: unknown field "txt"; an input has "text"/,
  );
  await assert.rejects(run('{"text": 5}\n', { inputFormat: 'jsonl' }), /stdin:1: expected a string/);
  const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-pred-'));
  const input = path.join(tmp, 'in.jsonl');
  const output = path.join(tmp, 'out.jsonl');
  writeFileSync(output, 'OLD\n');
  writeFileSync(input, '{"text": "Bush visited Iraq ."}\n{bad\n');
  await assert.rejects(
    predictStream({ modelDir: dir, input, output, format: 'jsonl', log }),
    /in\.jsonl:2: not valid JSON/,
  );
  assert.equal(readFileSync(output, 'utf8'), 'OLD\n', 'a failed run leaves the old output as it was');
  writeFileSync(input, '{"text": "Bush visited Iraq ."}\n'.repeat(3000));
  const s = await predictStream({ modelDir: dir, input, output, format: 'jsonl', log, batchSize: 500 });
  assert.equal(s.inputs, 3000);
  assert.equal(readFileSync(output, 'utf8').trim().split('\n').length, 3000);
  await assert.rejects(
    predictStream({ modelDir: dir, input: path.join(tmp, 'nope.txt'), format: 'jsonl', log }),
    /--input .*nope\.txt: no such file/,
  );
  rmSync(tmp, { recursive: true });
});

test('model URIs: trial folder, runs:/ and models:/ through the file store; errors name what exists; damaged folders are refused', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-root-'));
  const trial = path.join(root, 'runs', 'smoke', 'train', 'main');
  cpSync(dir, path.join(trial, 'model'), { recursive: true });
  assert.equal((await resolveModel(trial, { root })).dir, path.join(trial, 'model'));
  await assert.rejects(
    resolveModel(path.join(root, 'runs/smoke/train/nope'), { root }),
    /no such folder\. Trained models here: runs\/smoke\/train\/main/,
  );
  const store = new FileStore(path.join(root, 'runs', 'mlruns'));
  const exp = await store.getOrCreateExperiment('nerflow-smoke');
  const r = await store.createRun({ experimentId: exp, runName: 'smoke' });
  await store.logArtifact(r.run_id, path.join(trial, 'model'), 'model');
  const env = {};
  assert.equal(
    await readFileSync(
      path.join((await resolveModel(`runs:/${r.run_id}/model`, { root, env })).dir, 'nerflow.json'),
      'utf8',
    ),
    readFileSync(path.join(dir, 'nerflow.json'), 'utf8'),
  );
  await assert.rejects(
    resolveModel('runs:/0123456789abcdef/model', { root, env }),
    /no run 0123456789abcdef in the tracking store/,
  );
  await registerRunModel(store, {
    runId: r.run_id,
    name: 'nerflow-nerflow-smoke',
    artifactPath: 'model',
    flavor: {},
    metric: 0.5,
    tmpDir: path.join(root, 'tmp'),
  });
  for (const uri of ['models:/nerflow-nerflow-smoke@champion', 'models:/nerflow-nerflow-smoke/1']) {
    const m = await resolveModel(uri, { root, env });
    assert.equal(m.version?.version, '1');
    const loaded = await Predictor.load(m.dir);
    assert.equal(loaded.predict([{ text: 'Bush visited Iraq .' }])[0].tokens.length, 4);
  }
  await assert.rejects(
    resolveModel('models:/nerflow-nerflow-smoke@prod', { root, env }),
    /no alias @prod of "nerflow-nerflow-smoke"\. It has versions 1 and aliases @champion \(version 1\)/,
  );
  await assert.rejects(resolveModel('models:/nerflow-nerflow-smoke/4', { root, env }), /no version 4/);
  await assert.rejects(
    resolveModel('models:/other@champion', { root, env }),
    /no registered model "other" in .*Registered models: nerflow-nerflow-smoke/,
  );
  await assert.rejects(resolveModel('s3://bucket/model', { root, env }), /unknown URI scheme/);
  // a model folder missing a file, and one written by a newer nerflow
  const broken = path.join(root, 'broken');
  cpSync(dir, broken, { recursive: true });
  rmSync(path.join(broken, 'weights.bin'));
  await assert.rejects(
    Predictor.load(broken),
    (e: Error) => e instanceof ValidationError && /has no weights\.bin/.test(e.message),
  );
  cpSync(dir, broken, { recursive: true });
  const meta = JSON.parse(readFileSync(path.join(broken, 'nerflow.json'), 'utf8'));
  writeFileSync(
    path.join(broken, 'nerflow.json'),
    JSON.stringify({ ...meta, format_version: 3, nerflow_version: '2.0.0' }),
  );
  await assert.rejects(Predictor.load(broken), /written by nerflow 2\.0\.0 in model format 3/);
  writeFileSync(path.join(broken, 'nerflow.json'), JSON.stringify({ ...meta, format_version: 1, vocab: undefined }));
  await assert.rejects(Predictor.load(broken), /written by an older nerflow .* retrain it/);
  assert.ok(existsSync(dir));
  rmSync(root, { recursive: true });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '@nerflow/core';
import { cliEnv, nerflowBin as bin, runNerflow } from './test-helpers/run-cli.js';

const corpus = path.join(repoRoot(), 'data/ner_dataset.csv.gz');
const env = (root: string) => cliEnv(root);
const nerflow = (root: string, args: string[], input?: string) => runNerflow(root, args, { input });

test(
  'pipeline → registry → predict (folder, models:/) → serve answering /invocations, stopping gracefully on SIGTERM',
  { timeout: 240_000 },
  async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'nerflow-serve-e2e-'));
    mkdirSync(path.join(root, 'configs'));
    writeFileSync(path.join(root, 'nx.json'), '{}');
    writeFileSync(
      path.join(root, 'configs', 'tiny.yaml'),
      `data:\n  path: ${corpus}\n  limit_sentences: 400\ntrain:\n  epochs: 2\n  lstm_units: 16\n  embedding_dim: 16\n  optimizer: { name: adam, learning_rate: 0.01 }\ntracking:\n  experiment: e2e\n`,
    );
    const p = nerflow(root, ['pipeline', '--config', 'tiny.yaml']);
    assert.equal(p.code, 0, p.err);
    assert.match(
      p.err,
      /evaluate: registered nerflow-e2e version 1 \(test entity F1 [\d.]+\) → now @champion \(previous champion: none yet\)/,
    );
    const again = nerflow(root, ['evaluate', '--config', 'tiny.yaml', '--force']);
    assert.match(
      again.err,
      /registered nerflow-e2e version 2 .*@champion stays at version 1/,
      'an equal F1 does not move the alias',
    );
    const models = path.join(root, 'runs', 'mlruns', 'models', 'nerflow-e2e');
    assert.equal(readFileSync(path.join(models, 'aliases', 'champion'), 'utf8'), '1');
    const runDir = readFileSync(path.join(models, 'version-1', 'meta.yaml'), 'utf8').match(
      /^source: file:\/\/(.+)$/m,
    )![1];
    assert.match(readFileSync(path.join(runDir, 'MLmodel'), 'utf8'), /flavors:\n {2}nerflow:/);

    // the check: entities with exact character offsets, from raw text on stdin
    const sentence = 'Angela Merkel met Emmanuel Macron in Paris on Tuesday .';
    for (const model of ['runs/tiny/train/main', 'models:/nerflow-e2e@champion', 'models:/nerflow-e2e/2']) {
      const r = nerflow(root, ['predict', '--model', model], sentence + '\n');
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out);
      assert.equal(j.text, sentence);
      for (const e of j.entities) assert.equal(sentence.slice(e.start, e.end), e.text);
    }
    const missing = nerflow(root, ['predict', '--model', 'models:/nerflow-e2e@prod'], 'x\n');
    assert.equal(missing.code, 1);
    assert.match(
      missing.err,
      /no alias @prod of "nerflow-e2e"\. It has versions 1, 2 and aliases @champion \(version 1\)/,
    );
    assert.doesNotMatch(missing.err, /\n\s+at /);
    const nofolder = nerflow(root, ['predict', '--model', 'runs/tiny/train/nope'], 'x\n');
    assert.match(
      nofolder.err,
      /no such folder\. Trained models here: runs\/tiny\/train\/best, runs\/tiny\/train\/main\./,
    );

    // serve: MLflow's protocol from models:/, then SIGTERM while a request is in flight
    const server = spawn(
      process.execPath,
      [
        bin,
        'serve',
        '--model',
        'models:/nerflow-e2e@champion',
        '--port',
        '0',
        '--max-inputs',
        '5000',
        '--max-sentences',
        '5000',
      ],
      { cwd: root, env: env(root) },
    );
    let err = '';
    server.stderr.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((r) => server.on('close', (c) => r(c)));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        server.stderr.on('data', () => {
          const m = /listening on (http:\/\/[\d.:]+)/.exec(err);
          if (m) resolve(m[1]);
        });
        server.on('close', () => reject(new Error(err)));
      });
      const r = await fetch(`${address}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ dataframe_records: [{ text: sentence }] }),
      });
      assert.equal(r.status, 200);
      const j = (await r.json()) as { predictions: { entities: { start: number; end: number; text: string }[] }[] };
      for (const e of j.predictions[0].entities) assert.equal(sentence.slice(e.start, e.end), e.text);
      assert.equal(
        ((await (await fetch(`${address}/version`)).json()) as { model_version: string }).model_version,
        '1',
      );
      const big = Array.from({ length: 4000 }, (_, i) => `Bush visited Iraq ${i} times .`);
      const inFlight = fetch(`${address}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: big }),
      });
      await new Promise((res) => setTimeout(res, 100));
      server.kill('SIGTERM');
      const late = await inFlight;
      assert.equal(late.status, 200, 'the request in flight is answered');
      assert.equal(((await late.json()) as { predictions: unknown[] }).predictions.length, 4000);
      assert.equal(await closed, 0, err);
      assert.match(err, /SIGTERM: finishing requests in flight/);
      assert.equal((err.match(/"POST \/invocations" 200/g) ?? []).length, 2, 'one access-log line per request');
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    assert.ok(existsSync(root));
  },
);

test(
  'a BiLSTM-CRF char-CNN model trained on BIOES tags predicts through the CLI (char features, BIOES spans, CRF marginals; --threads, --kernel, --tag-scheme)',
  { timeout: 240_000 },
  async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'nerflow-char-e2e-'));
    mkdirSync(path.join(root, 'configs'));
    writeFileSync(path.join(root, 'nx.json'), '{}');
    writeFileSync(
      path.join(root, 'configs', 'char.yaml'),
      `data:\n  path: ${corpus}\n  limit_sentences: 400\nfeaturize:\n  tag_scheme: bioes\ntrain:\n  epochs: 2\n  lstm_units: 16\n  embedding_dim: 16\n  head: crf\n  chars: { type: cnn, dim: 8, filters: 8, width: 3 }\n  optimizer: { name: adam, learning_rate: 0.01 }\ntracking:\n  experiment: e2e-char\n`,
    );
    const p = nerflow(root, ['pipeline', '--config', 'char.yaml']);
    assert.equal(p.code, 0, p.err);
    const model = path.join(root, 'runs/char/train/main/model');
    const meta = JSON.parse(readFileSync(path.join(model, 'nerflow.json'), 'utf8'));
    assert.equal(meta.tag_scheme, 'bioes');
    assert.deepEqual(meta.parts.map((x: { name: string }) => x.name).sort(), ['chars', 'crf']);
    const text = 'Angela Merkel met Emmanuel Macron in Paris on Tuesday .\nThe U.S. army left Iraq in 2011 .\n';
    const out = (args: string[]) => {
      const r = nerflow(root, ['predict', '--model', 'runs/char/train/main', ...args], text);
      assert.equal(r.code, 0, r.err);
      return r.out;
    };
    const lines = out([])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    for (const [i, j] of lines.entries()) {
      assert.equal(j.text, text.split('\n')[i]);
      assert.ok(
        j.tags.every((t: string) => t === 'O' || /^[BIES]-/.test(t)),
        j.tags.join(' '),
      );
      for (const e of j.entities) {
        assert.equal(j.text.slice(e.start, e.end), e.text);
        assert.ok(e.confidence > 0 && e.confidence <= 1);
      }
    }
    // the two kernel threads compute the same as one (bit-identical); the exact build within float rounding
    assert.equal(out(['--threads', '2', '--kernel', 'exact']), out(['--threads', '1', '--kernel', 'exact']));
    const conll = out(['-f', 'conll', '--tag-scheme', 'iob2', '--threads', '1']);
    assert.ok(
      conll
        .trim()
        .split('\n')
        .filter(Boolean)
        .every((l) => /\t(O|[BI]-\w+)$/.test(l)),
      conll,
    );
    const bad = nerflow(root, ['predict', '--model', 'runs/char/train/main', '--threads', '3'], 'x\n');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /threads/);
  },
);

#!/usr/bin/env node
// npm run bench:serve [-- --quick]
// 1. Batch prediction over the real test split from a file, side by side: nerflow (end to end: `predict` over a
//    text file → JSON lines; and its kernel alone on the same batches) and the same model, same weights, in
//    PyTorch (Debian's python3-torch, inference only, the same batches; on 2 cores in every thread configuration of
//    torch-threads.mjs, the fastest compared).
// 2. `nerflow serve` under load from autocannon: one-sentence POST /v1/ner requests at concurrency 1, 8, 64.
// The last line is exactly: nerflow_sentences_per_s=<x> pytorch_sentences_per_s=<y> ratio=<y/x>
// (x = nerflow end to end, file in → JSON lines out; y = PyTorch's forward passes alone).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { bestOfTwoCore } from './torch-threads.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const quick = process.argv.includes('--quick');
const seconds = quick ? 4 : 10;
const reps = quick ? 1 : 3;
const bin = path.join(root, 'packages/cli/bin/nerflow.js');
const sh = (cmd, argv, opts = {}) => {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (exit ${r.status})`);
};

const featDir = path.join(root, 'runs', 'baseline', 'featurize');
if (!existsSync(path.join(featDir, 'test.arrow'))) {
  console.log('bench: ingesting and featurizing the real corpus (baseline.yaml) first');
  for (const stage of ['ingest', 'featurize'])
    sh(process.execPath, [bin, stage, '--config', 'baseline.yaml', '--quiet']);
}
const py = '/usr/bin/python3';
if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0)
  throw new Error('PyTorch is missing: apt-get install python3-torch libopenblas0-pthread');
const work = mkdtempSync(path.join(tmpdir(), 'nerflow-serve-bench-'));
const cpu =
  spawnSync('lscpu', { encoding: 'utf8' })
    .stdout.match(/Model name:\s*(.+)/)?.[1]
    ?.trim() ?? 'unknown CPU';
const load = () =>
  spawnSync('uptime', { encoding: 'utf8' })
    .stdout.trim()
    .replace(/.*load average/, 'load average');

// 1. batch prediction
console.log(`bench:serve on ${cpu} (${load()}); the machine is shared, so figures move with the load`);
const node = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    path.join(root, 'tools/bench/serve-bench.ts'),
    featDir,
    path.join(root, 'runs/baseline/train/main'),
    work,
    String(reps),
  ],
  {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  },
);
if (node.status !== 0) throw new Error('nerflow side failed');
const ours = JSON.parse(node.stdout.trim().split('\n').at(-1));
const { best: theirs, all: theirsAll } = bestOfTwoCore(
  py,
  [path.join(root, 'tools/bench/pytorch_predict.py'), path.join(work, 'batches.bin'), ours.model_dir],
  (r) => r.sentences_per_s,
  { cwd: path.join(root, 'tools/bench') },
);
const fmt = (x) => Math.round(x).toLocaleString('en-US');
console.log(
  `\nbatch prediction, real test split: ${fmt(ours.sentences)} sentences (${fmt(ours.tokens)} tokens, ${(ours.input_bytes / 1e6).toFixed(2)} MB of text), ` +
    `${ours.trained ? 'the trained baseline model' : 'a baseline-shaped model (untrained: runs/baseline/train/main is absent; speed does not depend on the weights)'}, ${reps} timed pass(es) after a warm-up`,
);
console.log('| implementation | sentences/s |');
console.log('| --- | ---: |');
console.log(
  `| nerflow predict, end to end (file → tokenize → kernel → JSON lines) | ${fmt(ours.e2e_sentences_per_s)} |`,
);
console.log(`| nerflow kernel alone, same batches as PyTorch | ${fmt(ours.kernel_sentences_per_s)} |`);
console.log(
  `| PyTorch ${theirs.torch} CPU, 2 cores (${theirs.config}), forward passes alone, same batches, same weights | ${fmt(theirs.sentences_per_s)} |`,
);
console.log(
  `CPU-seconds per 1,000 sentences (every thread of the process; moves less with the machine's load): nerflow end to end ${ours.e2e_cpu_s_per_1000.toFixed(3)}, ` +
    `nerflow kernel alone ${ours.kernel_cpu_s_per_1000.toFixed(3)} (${ours.threads} inference worker thread(s)), PyTorch (${theirs.config}) ${theirs.cpu_s_per_1000.toFixed(3)}`,
);
console.log(
  `(PyTorch on 2 cores, every thread configuration: ${theirsAll.map((r) => `${r.config} ${fmt(r.sentences_per_s)}`).join('; ')} sentences/s; the fastest is shown)`,
);
console.log(
  `PyTorch's argmax tags agree with nerflow's on ${(100 * theirs.agreement).toFixed(2)}% of tokens (same model)`,
);

// 2. the server under load
const server = spawn(process.execPath, [bin, 'serve', '--model', ours.model_dir, '--port', '0', '--quiet'], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let err = '';
const address = await new Promise((resolve, reject) => {
  server.stderr.on('data', (d) => {
    err += d;
    const m = /listening on (http:\/\/[\d.:]+)/.exec(err);
    if (m) resolve(m[1]);
  });
  server.on('close', () => reject(new Error(`serve exited: ${err}`)));
});
const sentences = readFileSync(path.join(work, 'test.txt'), 'utf8').split('\n').filter(Boolean).slice(0, 200);
const requests = sentences.map((text) => ({
  method: 'POST',
  path: '/v1/ner',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ text }),
}));
const rows = [];
for (const connections of [1, 8, 64]) {
  const r = await autocannon({ url: address, connections, duration: seconds, requests });
  if (r.non2xx || r.errors) console.log(`  (concurrency ${connections}: ${r.non2xx} non-2xx, ${r.errors} errors)`);
  rows.push({ connections, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total });
}
server.kill('SIGTERM');
await new Promise((r) => server.on('close', r));
console.log(
  `\nnerflow serve under load: autocannon, one-sentence POST /v1/ner (200 different test sentences), ${seconds} s per level; load generator on the same 2 cores`,
);
console.log('| concurrency | requests/s | p50 ms | p99 ms | requests |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.connections} | ${fmt(r.rps)} | ${r.p50} | ${r.p99} | ${fmt(r.total)} |`);
console.log(`${cpu}; ${load()}`);
console.log(
  `nerflow_sentences_per_s=${ours.e2e_sentences_per_s.toFixed(0)} pytorch_sentences_per_s=${theirs.sentences_per_s.toFixed(0)} ratio=${(theirs.sentences_per_s / ours.e2e_sentences_per_s).toFixed(3)}`,
);

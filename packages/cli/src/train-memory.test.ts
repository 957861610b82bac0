import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '@nerflow/core';
import { runNerflow } from './test-helpers/run-cli.js';

// The train stage's memory (issue 15: peak RSS ≤ 400 MiB on the baseline; tools/bench/README.md, "Memory").
// `nerflow train` on the baseline's model (embedding 50, BiLSTM 100, 2 kernel threads) over the first 3,000
// sentences of the real corpus, one epoch, in a child process that reports its peak RSS (VmHWM) when it exits.
// Measured: 224 MiB here (Node 20, AMD EPYC); before the memory work (TF.js, vega and BullMQ loaded by every
// `nerflow train`, checkpoints concatenated, char ids built for every batch) the same run peaked at 323 MiB.
const PEAK_BOUND_MIB = 270;
/** Packages a fused model's training must not load (each is 15–70 MiB of RSS): TF.js, the queue's Redis client, the PNG renderer. */
const NOT_FOR_FUSED = ['@tensorflow/tfjs', '@tensorflow/tfjs-core', 'ioredis', '@resvg/resvg-js'];

const corpus = path.join(repoRoot(), 'data/ner_dataset.csv.gz');
const linux = existsSync('/proc/self/status');

test(
  `nerflow train (fused, baseline sizes, 3,000 sentences): no TF.js, Redis client or renderer loaded; peak RSS ≤ ${PEAK_BOUND_MIB} MiB`,
  { skip: linux ? false : 'needs /proc/self/status (Linux) for the peak RSS' },
  () => {
    const root = mkdtempSync(path.join(tmpdir(), 'nerflow-memory-'));
    mkdirSync(path.join(root, 'configs'));
    writeFileSync(path.join(root, 'nx.json'), '{}');
    writeFileSync(
      path.join(root, 'configs', 'mem.yaml'),
      `extends: ${path.join(repoRoot(), 'configs/baseline.yaml')}\ndata:\n  path: ${corpus}\n  limit_sentences: 3000\n` +
        'train:\n  epochs: 1\ntracking:\n  experiment: memory\n',
    );
    for (const stage of ['ingest', 'featurize']) {
      const r = runNerflow(root, [stage, '--config', 'mem', '--quiet']);
      assert.equal(r.code, 0, r.err);
    }
    const report = path.join(root, 'memory.json');
    const preload = path.join(import.meta.dirname, 'test-helpers', 'memory-report.mjs');
    const r = runNerflow(root, ['train', '--config', 'mem', '--quiet'], {
      nodeArgs: ['--import', preload],
      env: { NERFLOW_MEMORY_REPORT: report },
    });
    assert.equal(r.code, 0, r.err);
    const m = JSON.parse(readFileSync(report, 'utf8')) as { peak_mib: number; packages: string[] };
    assert.deepEqual(
      m.packages.filter((p) => NOT_FOR_FUSED.includes(p)),
      [],
      'a fused model trains without these',
    );
    assert.ok(m.peak_mib <= PEAK_BOUND_MIB, `peak RSS ${m.peak_mib.toFixed(0)} MiB > ${PEAK_BOUND_MIB} MiB`);
    // the run trained the fused model on 2 threads, as the baseline does on 2 free cores (or 1 on 1 core)
    const run = JSON.parse(readFileSync(path.join(root, 'runs/mem/train/main/run.json'), 'utf8'));
    assert.equal(run.engine, 'nerflow-wasm-simd');
  },
);

// Trains a small fused BiLSTM (dropout on, 2 threads) on seeded random batches of varying shape, for a test to run
// under V8 flags (jit-stability.test.ts: --trace-deopt). Usage: node --import tsx train-loop.ts [batches]
import { mulberry32 } from '@nerflow/core';
import type { Batch } from '../data.js';
import { FusedBiLstm } from '../fused.js';
import { tinySpec } from './tiny.js';

const n = Number(process.argv[2] ?? 400);
const rand = mulberry32(11);
const int = (k: number) => Math.floor(rand() * k);
const spec = { ...tinySpec, vocabSize: 50, embeddingDim: 32, lstmUnits: 32, dropout: 0.1, recurrentDropout: 0.1 };
const m = new FusedBiLstm(spec, { threads: 2, kernel: 'exact' });
for (let i = 0; i < n; i++) {
  const size = 1 + int(32);
  const steps = 1 + int(12);
  const lengths = Int32Array.from({ length: size }, () => 1 + int(steps));
  lengths[0] = steps;
  const tokens = new Int32Array(size * steps);
  const tags = new Int32Array(size * steps);
  for (let r = 0; r < size; r++)
    for (let t = 0; t < lengths[r]; t++) {
      tokens[r * steps + t] = 1 + int(spec.vocabSize - 1);
      tags[r * steps + t] = int(spec.numTags);
    }
  const b: Batch = { size, steps, lengths, tokens, tags, index: Int32Array.from({ length: size }, (_, r) => r) };
  const loss = m.train(b);
  if (!Number.isFinite(loss)) throw new Error(`batch ${i}: loss ${loss}`);
}
m.dispose();
console.log(`trained ${n} batches`);

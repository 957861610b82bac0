// Bit-identity check across kernel changes: train the baseline-shaped model (and the CRF and char variants) on
// N real batches with every kernel build and thread count, and print a SHA-256 of every weight, Adam moment and
// the last loss (CRF weights included). Run it before and after a kernel change: identical lines = identical bytes.
// node --import tsx tools/bench/golden-weights.ts [batches]
import { createHash } from 'node:crypto';
import path from 'node:path';
import { repoRoot, TrainSchema } from '@nerflow/core';
import { makeBatches, readSplit, type KernelVariant } from '@nerflow/nn';
import { FusedBiLstm } from '../../packages/nn/src/fused.js';
import { taggerSpec } from '@nerflow/train';

const n = Number(process.argv[2] ?? 30);
// a comma-separated subset of the variants below (default: all)
const only = process.argv[3]?.split(',');
const split = readSplit(path.join(repoRoot(), 'runs/baseline/featurize/train.arrow'));
const tags: string[] = JSON.parse(split.meta.tags);
const charVocabSize = split.meta.char_vocab_size ? Number(split.meta.char_vocab_size) : null;
const batches = makeBatches(split, { batchSize: 32, seed: 42, epoch: 1, shuffle: true }).slice(0, n);
const heads = {
  softmax: {},
  crf: { head: 'crf' },
  chars: { chars: { type: 'cnn' } },
  'char-lstm': { chars: { type: 'lstm' } },
  'output-dropout': { output_dropout: 0.5 },
  'crf-char-lstm-dropout': { head: 'crf', chars: { type: 'lstm' }, output_dropout: 0.5 },
};
for (const [name, extra] of Object.entries(heads)) {
  if (only && !only.includes(name)) continue;
  let spec;
  try {
    spec = taggerSpec(
      { train: TrainSchema.parse(extra) },
      { vocabSize: Number(split.meta.vocab_size), tags, charVocabSize },
    );
  } catch (e) {
    console.log(`${name}: skipped (${(e as Error).message.split('\n')[0]})`);
    continue;
  }
  for (const kernel of ['exact', 'fma'] as KernelVariant[])
    for (const threads of [1, 2] as const) {
      const m = new FusedBiLstm(spec, { threads, kernel });
      let loss = 0;
      for (const b of batches) loss = m.train(b);
      const ev = m.evaluate(batches[0]);
      const h = createHash('sha256');
      for (const a of [m.emb, m.embM, m.embV]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      for (const [w] of [...m.shapes(), ...m.headShapes()])
        for (const r of ['param', 'm', 'v'] as const) {
          const v = m.view(r, w);
          h.update(new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)));
        }
      h.update(Float64Array.of(loss, ev.loss));
      h.update(ev.predictions);
      m.dispose();
      console.log(`${name} ${kernel} ${threads}: ${h.digest('hex').slice(0, 32)} loss ${loss}`);
    }
}

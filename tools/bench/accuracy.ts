// The nerflow side of `npm run bench:train -- --epochs N`: the baseline model trained N full epochs on the
// real train split (the train stage's batches: bucketed, batch 32, seed 42, reshuffled every epoch), val
// entity F1 (conlleval rules) after each epoch. Writes the same batches, and the val split, for PyTorch.
import path from 'node:path';
import { entityF1FromIds } from '@nerflow/metrics';
import { loadConfig, repoRoot, TrainSchema } from '@nerflow/core';
import { createTagger, makeBatches, readSplit, type Batch } from '@nerflow/nn';
import { taggerSpec } from '@nerflow/train';
import { modelHeader, writeBatchFile } from './torch-batches.js';

// with --config FILE: that config's model (its train section, head included)
const [featDir, outFile, nEpochs, ...opts] = process.argv.slice(2);
const cIdx = opts.indexOf('--config');
const cfg = cIdx >= 0 ? loadConfig(opts[cIdx + 1], { root: repoRoot() }).train : null;
const epochs = Number(nEpochs);
const train = readSplit(path.join(featDir, 'train.arrow'));
const val = readSplit(path.join(featDir, 'val.arrow'));
const tags: string[] = JSON.parse(train.meta.tags);
// the baseline's model (the train config's defaults), or the config's
const spec = taggerSpec({ train: cfg ?? TrainSchema.parse({}) }, { vocabSize: Number(train.meta.vocab_size), tags });
const perEpoch = Array.from({ length: epochs }, (_, e) =>
  makeBatches(train, { batchSize: 32, seed: 42, epoch: e + 1, shuffle: true }),
);
const valBatches = makeBatches(val, { batchSize: 32, seed: 0, epoch: 0, shuffle: false });

// for PyTorch (torch-batches.ts): every epoch's batches, then val's
const meta = (bs: Batch[]) => bs.map((b) => ({ size: b.size, steps: b.steps }));
writeBatchFile(outFile, { ...modelHeader(spec, tags), epochs: perEpoch.map(meta), val: meta(valBatches) }, [
  ...perEpoch.flat(),
  ...valBatches,
]);

const tagger = createTagger(spec);
const history: { epoch: number; seconds: number; val_entity_f1: number }[] = [];
for (const [e, batches] of perEpoch.entries()) {
  const t0 = performance.now();
  for (const b of batches) tagger.trainBatch(b);
  const seconds = (performance.now() - t0) / 1000;
  const gold: Int32Array[] = [];
  const pred: Int32Array[] = [];
  for (const b of valBatches) {
    const { predictions } = tagger.evaluateBatch(b);
    for (let r = 0; r < b.size; r++) {
      gold.push(b.tags.subarray(r * b.steps, r * b.steps + b.lengths[r]));
      pred.push(predictions.subarray(r * b.steps, r * b.steps + b.lengths[r]));
    }
  }
  history.push({ epoch: e + 1, seconds, val_entity_f1: entityF1FromIds(gold, pred, tags) });
  process.stderr.write(
    `bench: nerflow epoch ${e + 1}/${epochs}: ${seconds.toFixed(1)} s, val entity F1 ${history.at(-1)!.val_entity_f1.toFixed(4)}\n`,
  );
}
console.log(JSON.stringify({ history }));

// The nerflow side of `npm run bench:train`: the baseline model (or, with --config FILE, that config's model:
// its train section, head included) on the real train split's bucketed batches; writes the timed batches for
// the PyTorch side and prints one JSON line.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, repoRoot, TrainSchema } from '@nerflow/core';
import { createTagger, initBackend, kernelProfile, makeBatches, readSplit, setKernelProfiling, type Batch } from '@nerflow/nn';
import { taggerSpec } from '@nerflow/train';

const [featDir, outFile, nTimed, nWarm, ...opts] = process.argv.slice(2);
const profile = opts.includes('--profile');
const cIdx = opts.indexOf('--config');
const config = cIdx >= 0 ? loadConfig(opts[cIdx + 1], { root: repoRoot() }) : null;
const timed = Number(nTimed);
const warm = Number(nWarm);
const backend = await initBackend('auto');
const split = readSplit(path.join(featDir, 'train.arrow'));
const vocab = Number(split.meta.vocab_size);
const tags: string[] = JSON.parse(split.meta.tags);
const all = makeBatches(split, { batchSize: 32, seed: 42, epoch: 1, shuffle: true });
const epochTokens = all.reduce((s, b) => s + b.lengths.reduce((a, c) => a + c, 0), 0);
// every k-th batch of the shuffled epoch, so the sample has the epoch's mix of lengths
const stride = Math.max(1, Math.floor(all.length / (timed + warm)));
const sample = all.filter((_, i) => i % stride === 0).slice(0, timed + warm);
// the baseline's model (the train config's defaults), or the config's (with train.chars: the chars column too)
const charVocabSize = split.meta.char_vocab_size ? Number(split.meta.char_vocab_size) : null;
const spec = taggerSpec({ train: config?.train ?? TrainSchema.parse({}) }, { vocabSize: vocab, tags, charVocabSize });
const chars = spec.chars ?? null;
if (chars && !split.chars) throw new Error(`${featDir}/train.arrow has no chars column: run \`npx nerflow featurize --config baseline.yaml --force\``);

// batches for PyTorch: [u32 header length][header JSON][per batch: tokens i32, tags i32, lengths i32 (, chars i32 [size, steps, width])]
const width = (b: Batch) => {
  let w = 1;
  for (let i = 0; i + 1 < b.chars!.offsets.length; i++) w = Math.max(w, b.chars!.offsets[i + 1] - b.chars!.offsets[i]);
  return w;
};
const padded = (b: Batch) => {
  const W = width(b);
  const out = new Int32Array(b.size * b.steps * W);
  for (let i = 0; i < b.size * b.steps; i++) out.set(b.chars!.ids.subarray(b.chars!.offsets[i], b.chars!.offsets[i + 1]), i * W);
  return out;
};
const header = Buffer.from(JSON.stringify({
  vocab, tags: tags.length, tag_names: tags, embedding_dim: spec.embeddingDim, lstm_units: spec.lstmUnits, dropout: spec.dropout, learning_rate: spec.learningRate,
  head: spec.head, crf_constrain: spec.crf?.constrain ?? false, warmup: warm, chars, batches: sample.map((b) => ({ size: b.size, steps: b.steps, ...(chars ? { width: width(b) } : {}) })),
}));
const parts: Buffer[] = [Buffer.from(Uint32Array.of(header.length).buffer), header];
for (const b of sample) for (const a of [b.tokens, b.tags, b.lengths, ...(chars ? [padded(b)] : [])]) parts.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
writeFileSync(outFile, Buffer.concat(parts));

setKernelProfiling(profile);
const tagger = createTagger(spec);
let peak = process.memoryUsage().rss;
for (const b of sample.slice(0, warm)) tagger.trainBatch(b);
kernelProfile.clear();
const t0 = performance.now();
let real = 0;
for (const b of sample.slice(warm)) {
  tagger.trainBatch(b);
  real += b.lengths.reduce((a, c) => a + c, 0);
  peak = Math.max(peak, process.memoryUsage().rss);
}
const seconds = (performance.now() - t0) / 1000;
// where a batch's time goes: each kernel function, and the rest (JS: inputs, masks, embedding Adam)
const breakdown = profile ? Object.fromEntries([...kernelProfile].map(([k, v]) => [k, { ms_per_batch: v.ms / timed, calls_per_batch: v.calls / timed }])) : undefined;
console.log(JSON.stringify({ backend, head: spec.head, profile: breakdown, ms_per_batch: (1000 * seconds) / timed, tokens_per_s: real / seconds, seconds, epoch_tokens: epochTokens, epoch_batches: all.length, peak_rss: peak }));

// The nerflow side of `npm run bench:serve`: batch prediction over the real test split from a file.
// 1. end to end: `nerflow predict` over a text file (one test sentence per line) → JSON lines, timed;
// 2. the kernel alone on the very batches predict builds (256 sentences, sorted by length), timed: the inference
//    engine predict computes with (its worker threads, whole batches each);
// writes those batches (and nerflow's argmax tags) for the PyTorch side; prints one JSON line.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger, TOKENIZER } from '@nerflow/core';
import { createTagger, initBackend, paddedBatch, readSplit, writeModelMeta, type Batch } from '@nerflow/nn';
import { predictStream, Predictor } from '@nerflow/predict';

const [featDir, trained, work, repsArg] = process.argv.slice(2);
const reps = Number(repsArg ?? 3);
await initBackend('wasm');

// the model: the trained baseline when there is one, else an untrained model of the baseline's shape
// (the same arithmetic: speed does not depend on the weights)
let modelDir = path.join(trained, 'model');
let trainedModel = true;
const vocab = JSON.parse(readFileSync(path.join(featDir, 'vocab.json'), 'utf8'));
const tags: string[] = JSON.parse(readFileSync(path.join(featDir, 'tags.json'), 'utf8')).tags;
if (
  !existsSync(path.join(modelDir, 'nerflow.json')) ||
  !JSON.parse(readFileSync(path.join(modelDir, 'nerflow.json'), 'utf8')).vocab
) {
  trainedModel = false;
  modelDir = path.join(work, 'model');
  const t = createTagger({
    kind: 'fused',
    vocabSize: vocab.words.length,
    numTags: tags.length,
    embeddingDim: 50,
    lstmUnits: 100,
    dropout: 0.1,
    recurrentDropout: 0.1,
    learningRate: 0.001,
    adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    seed: 42,
  });
  await t.save(modelDir);
  await writeModelMeta(modelDir, {
    vocab: { lowercase: vocab.lowercase, words: vocab.words, padding_id: 0, unknown_id: 1 },
    tags,
    max_len: 104,
    tokenizer: { ...TOKENIZER },
    training: { untrained: true },
  });
}

// the real test split as text, one sentence per line (unknown words as a word outside the vocabulary)
const split = readSplit(path.join(featDir, 'test.arrow'));
const lines: string[] = [];
for (let r = 0; r < split.n; r++) {
  const ids = split.tokens.subarray(r * split.maxLen, r * split.maxLen + split.lengths[r]);
  lines.push(Array.from(ids, (id) => (id === 1 ? 'Qzxv' : vocab.words[id])).join(' '));
}
const input = path.join(work, 'test.txt');
writeFileSync(input, lines.join('\n') + '\n');

// 1. end to end, as a user runs it (one warm-up pass, then `reps` timed passes)
const log = createLogger({ quiet: true });
const output = path.join(work, 'out.jsonl');
await predictStream({ modelDir, input, output, format: 'jsonl', log });
let e2eSeconds = 0;
let sentences = 0;
// CPU time of the whole process (every thread: the engine's workers too), a figure the machine's load moves less
const cpu0 = process.cpuUsage();
for (let i = 0; i < reps; i++) {
  const s = await predictStream({ modelDir, input, output, format: 'jsonl', log });
  e2eSeconds += s.seconds;
  sentences += s.sentences;
}
const e2eCpu = process.cpuUsage(cpu0);

// 2. the kernel alone on the batches predict builds
const predictor = await Predictor.load(modelDir);
const segments = lines
  .map((l) => predictor.prepare({ text: l }))
  .flatMap((p) => p.sentences.map(([s, e]) => p.tokens.slice(s, e)));
const vocabIds = new Map<string, number>(vocab.words.map((w: string, i: number) => [w, i]));
const ids = segments.map((toks) =>
  Int32Array.from(toks, (t) => vocabIds.get(vocab.lowercase ? t.text.toLowerCase() : t.text) ?? 1),
);
const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length || a - b);
const batches: Batch[] = [];
for (let at = 0; at < order.length; at += 256) {
  const rows = order.slice(at, at + 256).map((i) => ids[i]);
  const b = paddedBatch(rows.map((r) => r.length));
  rows.forEach((r, i) => b.tokens.set(r, i * b.steps));
  batches.push(b);
}
const K = tags.length;
const run = async () => {
  await Promise.all(
    batches.map(async (b) => {
      b.tags.set((await predictor.decode(b)).predictions); // nerflow's argmax, for PyTorch's agreement check
    }),
  );
};
await run();
const kernelCpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < reps; i++) await run();
const kernelCpu = process.cpuUsage(kernelCpu0);
const kernelSeconds = (performance.now() - t0) / 1000;

const header = Buffer.from(
  JSON.stringify({
    vocab: vocab.words.length,
    tags: K,
    embedding_dim: predictor.meta.spec.embeddingDim,
    lstm_units: predictor.meta.spec.lstmUnits,
    reps,
    batches: batches.map((b) => ({ size: b.size, steps: b.steps })),
  }),
);
const parts: Buffer[] = [Buffer.from(Uint32Array.of(header.length).buffer), header];
for (const b of batches)
  for (const a of [b.tokens, b.tags, b.lengths]) parts.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
writeFileSync(path.join(work, 'batches.bin'), Buffer.concat(parts));

console.log(
  JSON.stringify({
    model_dir: modelDir,
    trained: trainedModel,
    sentences: split.n,
    segments: segments.length,
    tokens: ids.reduce((s, r) => s + r.length, 0),
    input_bytes: statSync(input).size,
    e2e_sentences_per_s: sentences / e2eSeconds,
    kernel_sentences_per_s: (segments.length * reps) / kernelSeconds,
    e2e_cpu_s_per_1000: (e2eCpu.user + e2eCpu.system) / 1e6 / (sentences / 1000),
    kernel_cpu_s_per_1000: (kernelCpu.user + kernelCpu.system) / 1e6 / ((segments.length * reps) / 1000),
    threads: predictor.engine.threads,
    reps,
  }),
);

// The nerflow side of `npm run bench:train`: the baseline model (or, with --config FILE, that config's model:
// its train section, head included) on the real train split's bucketed batches; writes the timed batches for
// the PyTorch side and prints one JSON line.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism, cpus } from 'node:os';
import { loadConfig, repoRoot, TrainSchema } from '@nerflow/core';
import {
  createTagger,
  gemmGflops,
  initBackend,
  kernelProfile,
  makeBatches,
  readSplit,
  resolveKernel,
  setKernelProfiling,
  type Batch,
  type KernelVariant,
  type Tagger,
} from '@nerflow/nn';
import { taggerSpec } from '@nerflow/train';
import { modelHeader, writeBatchFile } from './torch-batches.js';
import { FusedBiLstm } from '../../packages/nn/src/fused.js';

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
if (chars && !split.chars)
  throw new Error(
    `${featDir}/train.arrow has no chars column: run \`npx nerflow featurize --config baseline.yaml --force\``,
  );

// batches for PyTorch (torch-batches.ts), each with its chars i32 [size, steps, width] padded to the widest word
const width = (b: Batch) => {
  let w = 1;
  for (let i = 0; i + 1 < b.chars!.offsets.length; i++) w = Math.max(w, b.chars!.offsets[i + 1] - b.chars!.offsets[i]);
  return w;
};
const padded = (b: Batch) => {
  const W = width(b);
  const out = new Int32Array(b.size * b.steps * W);
  for (let i = 0; i < b.size * b.steps; i++)
    out.set(b.chars!.ids.subarray(b.chars!.offsets[i], b.chars!.offsets[i + 1]), i * W);
  return out;
};
writeBatchFile(
  outFile,
  {
    ...modelHeader(spec, tags),
    warmup: warm,
    chars,
    batches: sample.map((b) => ({ size: b.size, steps: b.steps, ...(chars ? { width: width(b) } : {}) })),
  },
  sample,
  (b) => (chars ? [padded(b)] : []),
);

// The timed models run as `nerflow train` runs them: kernel profiling off. A second set of the same models, with
// every kernel call and job step timed (a timer and a JavaScript wrapper per call), then trains the same batches:
// that gives the LSTM's GFLOP/s and --profile's breakdown without its overhead in the ms/batch figures.
/** FLOPs of the LSTM's matrix products in one batch (both directions), forward and backward. */
function flops(b: { size: number; steps: number }): { forward: number; backward: number } {
  const c = spec.chars,
    E = spec.embeddingDim + (c ? (c.type === 'lstm' ? 2 * c.units : c.filters) : 0),
    H = spec.lstmUnits,
    G = 4 * H,
    B = b.size,
    T = b.steps,
    TB = T * B; // E: the LSTM input (word + char features)
  const recurrent = 2 * (T - 1) * B * H * G;
  return { forward: 2 * (2 * TB * E * G + recurrent), backward: 2 * (recurrent + 2 * TB * G * (2 * E + H)) };
}
const timedFlops = sample.slice(warm).reduce(
  (s, b) => {
    const f = flops(b);
    return { forward: s.forward + f.forward, backward: s.backward + f.backward };
  },
  { forward: 0, backward: 0 },
);

// What `nerflow train` uses by default (train.threads auto on an idle machine of 2+ cores, train.kernel auto),
// then one thread, then one thread on the exact kernel when auto is fma. They train the same batches in turns
// of BLOCK consecutive batches (batches i..i+BLOCK−1 on each model, then the next block), so a shared machine's
// changing load hits them alike while each model runs as `nerflow train` runs it: batch after batch, its weights
// and moments in the caches and its worker spinning for the next job. (Until 2026-11-26 the turns were one batch
// long: each model's batch then began after the other three models' batches (~30 ms, tens of MB of their
// weights), its worker asleep and its ~2 MB of weights out of the caches, which `nerflow train` never sees; that
// cost the 2-thread model ~0.35 ms per batch against the same model alone: tools/bench/README.md, fourth round.)
const BLOCK = 30;
const auto = resolveKernel('auto');
// Beside the default 2-thread setting, the worker woken as the main thread starts a batch's layout (threads.ts
// prepare, off by default): a run on any machine compares the two (`variant`).
const setups: { threads: 1 | 2; kernel: KernelVariant; variant?: string }[] = [
  { threads: 2, kernel: auto },
  { threads: 2, kernel: auto, variant: 'worker woken early' },
  { threads: 1, kernel: auto },
  ...(auto === 'fma' ? [{ threads: 1 as const, kernel: 'exact' as const }] : []),
];
// the main thread's own time on a CPU (Linux schedstat, ns): with 2 threads, a lower bound of the wall time on an
// idle machine (the worker runs beside it), readable even when other work shares the CPUs
const schedstat = `/proc/self/task/${process.pid}/schedstat`;
const mainCpuMs = () => (existsSync(schedstat) ? Number(readFileSync(schedstat, 'utf8').split(' ')[0]) / 1e6 : NaN);
/** The variant's model: the fused BiLSTM, its worker woken early (trainBatch = train). */
function variantTagger(kernel: KernelVariant): Pick<Tagger, 'trainBatch' | 'dispose'> {
  const m = new FusedBiLstm(spec, { threads: 2, kernel, prepare: true });
  return { trainBatch: (b) => m.train(b), dispose: () => m.dispose() };
}
const newModels = () =>
  setups.map((s) => ({
    ...s,
    tagger: s.variant ? variantTagger(s.kernel) : createTagger(spec, s),
    ms: 0,
    cpuMs: 0,
    mainMs: 0,
  }));
let peak = process.memoryUsage().rss;
const timedSample = sample.slice(warm);
let real = 0;
for (const b of timedSample) real += b.lengths.reduce((a, c) => a + c, 0);
/** Warm-up batches, then the timed ones in turns of BLOCK consecutive batches per model (`turn`). */
function train<M extends { tagger: Pick<Tagger, 'trainBatch'> }>(models: M[], turn: (m: M, bs: Batch[]) => void) {
  for (const b of sample.slice(0, warm)) for (const m of models) m.tagger.trainBatch(b);
  for (let at = 0; at < timedSample.length; at += BLOCK) {
    for (const m of models) turn(m, timedSample.slice(at, at + BLOCK));
    peak = Math.max(peak, process.memoryUsage().rss);
  }
}
setKernelProfiling(false);
const models = newModels();
// wall, process CPU and the main thread's CPU read around each turn, not each batch (no /proc read in between)
train(models, (m, bs) => {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const s0 = mainCpuMs();
  for (const b of bs) m.tagger.trainBatch(b);
  m.ms += performance.now() - t0;
  m.mainMs += mainCpuMs() - s0;
  const c = process.cpuUsage(c0);
  m.cpuMs += (c.user + c.system) / 1000;
});
for (const m of models) m.tagger.dispose();
setKernelProfiling(true);
const profiled = newModels().map((m) => ({ ...m, profile: new Map<string, { ms: number; calls: number }>() }));
train(profiled, (m, bs) => {
  for (const b of bs) {
    kernelProfile.clear();
    m.tagger.trainBatch(b);
    for (const [k, v] of kernelProfile) {
      const p = m.profile.get(k) ?? { ms: 0, calls: 0 };
      m.profile.set(k, { ms: p.ms + v.ms, calls: p.calls + v.calls });
    }
  }
});
setKernelProfiling(false);
const runs = models.map((m, i) => {
  const { profile: prof, tagger } = profiled[i];
  tagger.dispose();
  const seconds = m.ms / 1000;
  // where a batch's time goes (the profiled run): each kernel function, and the rest (JS: inputs, masks)
  const breakdown = Object.fromEntries(
    [...prof].map(([k, v]) => [k, { ms_per_batch: v.ms / timed, calls_per_batch: v.calls / timed }]),
  );
  const gflops = (name: 'lstmForward' | 'lstmBackward', f: number) => f / ((prof.get(name)?.ms ?? NaN) * 1e6);
  return {
    threads: m.threads,
    kernel: m.kernel,
    ...(m.variant ? { variant: m.variant } : {}),
    profile: profile ? breakdown : undefined,
    ms_per_batch: m.ms / timed,
    cpu_ms_per_batch: m.cpuMs / timed,
    main_cpu_ms_per_batch: m.mainMs / timed,
    tokens_per_s: real / seconds,
    seconds,
    gflops: {
      lstmForward: gflops('lstmForward', timedFlops.forward),
      lstmBackward: gflops('lstmBackward', timedFlops.backward),
    },
  };
});
// the kernel's GEMM peak on one thread: a cache-resident product of the recurrent step's kind ([704, 100] × [100, 400])
const peaks = Object.fromEntries(
  [...new Set(runs.map((r) => r.kernel))].map((k) => [k, gemmGflops(704, 100, 400, 7, k)]),
);
const cpu = cpus()[0]?.model.trim() ?? 'unknown';
console.log(
  JSON.stringify({
    backend,
    head: spec.head,
    ...runs[0],
    runs,
    peak_rss: peak,
    models: models.length,
    gemm_peak_gflops: peaks,
    cpu,
    cores: availableParallelism(),
    node: process.version,
    v8: process.versions.v8,
    mflop_per_batch: { forward: timedFlops.forward / timed / 1e6, backward: timedFlops.backward / timed / 1e6 },
    epoch_tokens: epochTokens,
    epoch_batches: all.length,
  }),
);

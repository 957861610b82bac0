// Where a 2-thread training batch's time goes: per step of the batch's job (threads.ts), the step's wall time and
// each thread's own compute time in it (the difference is that thread's wait at the barrier), and the batch's
// time outside kernel jobs (JS); then each thread's CPU time: the main thread, the worker, and V8's own threads
// (compiler, GC), which the process's CPU time includes. The baseline model on real batches (every k-th of the epoch,
// as bench:train).
// node --import tsx tools/bench/thread-profile.ts [batches=200] [warmup=20] [kernel=fma] [threads=2] [spin µs] [prepare 0/1]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, TrainSchema } from '@nerflow/core';
import { kernelProfile, makeBatches, readSplit, setKernelProfiling, type KernelVariant } from '@nerflow/nn';
import { FusedBiLstm } from '../../packages/nn/src/fused.js';
import { threadCpuMs } from '../../packages/nn/src/threads.js';
import { taggerSpec } from '@nerflow/train';

const [n, warm] = [Number(process.argv[2] ?? 200), Number(process.argv[3] ?? 20)];
const kernel = (process.argv[4] ?? 'fma') as KernelVariant;
const threads = Number(process.argv[5] ?? 2) as 1 | 2;
// [spin µs] [prepare 0|1]: the 2-thread settings (threads.ts SPIN_US and prepare by default)
const spinUs = process.argv[6] ? Number(process.argv[6]) : undefined;
const prepare = process.argv[7] ? process.argv[7] === '1' : undefined;
const split = readSplit(path.join(repoRoot(), 'runs/baseline/featurize/train.arrow'));
const tags: string[] = JSON.parse(split.meta.tags);
const all = makeBatches(split, { batchSize: 32, seed: 42, epoch: 1, shuffle: true });
const stride = Math.max(1, Math.floor(all.length / (n + warm)));
const sample = all.filter((_, i) => i % stride === 0).slice(0, n + warm);
const spec = taggerSpec({ train: TrainSchema.parse({}) }, { vocabSize: Number(split.meta.vocab_size), tags });
setKernelProfiling(true);
const m = new FusedBiLstm(spec, { threads, kernel, spinUs, prepare });
for (const b of sample.slice(0, warm)) m.train(b);
kernelProfile.clear();
// every thread's CPU time (Linux schedstat, ms): the main thread, the kernel's worker (the busiest other thread) and
// the rest, V8's own threads (its optimizing compiler, GC). Their CPU counts in the process's but runs on the same
// cores as the two kernel threads: on 2 cores, a recompile of the batch's JS is time taken from one of them.
const tasks = (): Map<string, number> => {
  try {
    return new Map(
      readdirSync('/proc/self/task').map((t) => [
        t,
        Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]) / 1e6,
      ]),
    );
  } catch {
    return new Map();
  }
};
const tasks0 = tasks();
let wall = 0;
const c0 = process.cpuUsage();
const m0 = threadCpuMs();
for (const b of sample.slice(warm)) {
  const t = performance.now();
  m.train(b);
  wall += performance.now() - t;
}
const c = process.cpuUsage(c0);
const mainCpu = threadCpuMs() - m0;
const others = [...tasks()]
  .filter(([t]) => Number(t) !== process.pid)
  .map(([t, v]) => v - (tasks0.get(t) ?? 0))
  .sort((a, b) => b - a);
const workerCpu = threads === 2 ? (others[0] ?? NaN) : 0;
const v8Cpu = others.slice(threads === 2 ? 1 : 0).reduce((a, v) => a + v, 0);
m.dispose();
const per = (ms: number) => (ms / n).toFixed(3).padStart(7);
const steps = [...kernelProfile].filter(([k]) => !k.includes(' ·'));
let inJobs = 0;
console.log(`${kernel}, ${threads} thread(s), ${n} batches: ms per batch`);
console.log(`${'step'.padEnd(20)}   wall    main  worker  (calls/batch)`);
for (const [k, v] of steps) {
  inJobs += v.ms;
  const mainMs = kernelProfile.get(`${k} ·main`)?.ms;
  const workerMs = kernelProfile.get(`${k} ·worker`)?.ms;
  const cell = (x?: number) => (x === undefined ? '      -' : per(x));
  console.log(`${k.padEnd(20)} ${per(v.ms)} ${cell(mainMs)} ${cell(workerMs)}  (${(v.calls / n).toFixed(1)})`);
}
console.log(`${'outside the kernel'.padEnd(20)} ${per(wall - inJobs)}`);
console.log(
  `${'total'.padEnd(20)} ${per(wall)}   process CPU ${per((c.user + c.system) / 1000)}, main thread CPU ${per(mainCpu)}`,
);
console.log(
  `${''.padEnd(28)}CPU of the worker thread ${per(workerCpu)}, of V8's other threads (JIT compiler, GC) ${per(v8Cpu)}`,
);

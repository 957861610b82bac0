// PyTorch's thread configurations for the benches' "2 cores" reference, and running a Python side under each.
// Why several: Debian's python3-torch multiplies its ops on OpenBLAS (libopenblas0-pthread). With
// OPENBLAS_NUM_THREADS=2 OpenBLAS splits even the LSTM's tiny per-step products ([32 × 100] × [100 × 400]) over two
// pthreads that spin and sleep around each one: on a 2-core AMD EPYC that made a training step ~4× SLOWER than
// on one thread (72.5 vs 19.1 ms/batch; most of it system time). Until 2026-11-26 the benches ran PyTorch only
// so (OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2), and every "PyTorch, 2 threads" figure and ratio before then
// compared against that misconfigured reference. Now each bench runs every configuration below on the same
// batches, shows the fastest as PyTorch's 2-core figure, and prints the others beside it.
import { spawnSync } from 'node:child_process';

/** 2 cores: OpenBLAS threads × torch intra-op threads (OMP_NUM_THREADS and torch.set_num_threads = BENCH_THREADS). */
export const TWO_CORE_CONFIGS = [
  {
    label: 'OpenBLAS 1 thr, torch 2 thr',
    env: { OMP_NUM_THREADS: '2', OPENBLAS_NUM_THREADS: '1', BENCH_THREADS: '2' },
  },
  {
    label: 'OpenBLAS 2 thr, torch 2 thr',
    env: { OMP_NUM_THREADS: '2', OPENBLAS_NUM_THREADS: '2', BENCH_THREADS: '2' },
  },
  {
    label: 'OpenBLAS 2 thr, torch 1 thr',
    env: { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '2', BENCH_THREADS: '1' },
  },
];
/** 1 core: everything on one thread (the single-core reference). */
export const ONE_CORE_CONFIG = {
  label: '1 thr',
  env: { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', BENCH_THREADS: '1' },
};

/**
 * Run a Python bench script under one configuration; returns its last stdout line (JSON) with `config` (the label)
 * and `cores` (2 or 1) added. `what` names the side in the error.
 */
export function runTorch(py, argv, config, { cwd, what = 'PyTorch side' } = {}) {
  const r = spawnSync(py, argv, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...config.env },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${what} (${config.label}) failed (exit ${r.status})`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  return { ...out, config: config.label, cores: config === ONE_CORE_CONFIG ? 1 : 2 };
}

/** Every 2-core configuration on the same input; `best` is the one with the highest `score(result)`. */
export function bestOfTwoCore(py, argv, score, opts) {
  const all = TWO_CORE_CONFIGS.map((c) => runTorch(py, argv, c, opts));
  const best = all.reduce((a, b) => (score(b) > score(a) ? b : a));
  return { best, all };
}

// The kernel's GEMM on the shapes one training batch of the baseline uses (average batch: 704 token slots),
// in GFLOP/s on one thread; for profiling a CPU where the LSTM is slow. Usage:
//   node --import tsx tools/bench/gemm-shapes.ts [exact|fma]
import { Kernel } from '../../packages/nn/src/kernel.js';
const kern = new Kernel((process.argv[2] ?? 'exact') as 'exact' | 'fma');
const shapes: [string, number, number, number, boolean][] = [
  ['inproj 704x50x400', 704, 50, 400, false],
  ['recur 32x100x400', 32, 100, 400, false],
  ['bwdrec 32x400x100', 32, 400, 100, false],
  ['dwx 50x704x400 T', 50, 704, 400, true],
  ['dwh 100x704x400 T', 100, 704, 400, true],
  ['dx 704x400x50', 704, 400, 50, false],
  ['big dwh 100x2000x400 T', 100, 2000, 400, true],
  ['peak 704x100x400', 704, 100, 400, false],
];
for (const [name, M, K, N, tr] of shapes) {
  const a = kern.alloc(M * K),
    b = kern.alloc(K * N),
    c = kern.alloc(M * N);
  kern.f32(a, M * K).fill(0.5);
  kern.f32(b, K * N).fill(0.25);
  const [sai, sak] = tr ? [1, M] : [K, 1];
  const reps = Math.max(1, Math.round(1e8 / (2 * M * K * N)));
  let best = Infinity;
  for (let r = 0; r < 9; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) kern.raw.gemm(a, sai, sak, b, N, c, N, M, K, N, 1);
    best = Math.min(best, (performance.now() - t) / reps);
  }
  console.log(name.padEnd(24), ((2 * M * K * N) / (best * 1e6)).toFixed(1), 'GFLOP/s');
}

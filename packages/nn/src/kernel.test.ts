import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Kernel, relaxedSimd, resolveKernel, WASM_FILE, WASM_FMA_FILE, type KernelVariant } from './kernel.js';
import { mulberry32 } from '@nerflow/core';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('the committed wasm/lstm.wasm and lstm-fma.wasm are exactly what assembly/lstm.ts builds to (npm run build:wasm)', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'nerflow-wasm-'));
  execFileSync(process.execPath, [path.join(pkg, 'build-wasm.mjs'), out], { stdio: 'pipe' });
  for (const f of [WASM_FILE, WASM_FMA_FILE]) {
    const name = path.basename(fileURLToPath(f));
    assert.ok(
      readFileSync(path.join(out, name)).equals(readFileSync(f)),
      `wasm/${name} is stale: run \`npm run build:wasm -w @nerflow/nn\` and commit it`,
    );
  }
});

test('train.kernel auto is fma exactly where the runtime runs relaxed SIMD (Node 20: switched on at start), else exact', () => {
  assert.equal(resolveKernel('auto'), relaxedSimd() ? 'fma' : 'exact');
  assert.equal(resolveKernel('exact'), 'exact');
  // Node 20 (V8 11.3) validates it once the flag is on; from V8 11.4 it ships
  assert.equal(relaxedSimd(), true, `relaxed SIMD unavailable on Node ${process.version}`);
});

const variants: KernelVariant[] = ['exact', 'fma'];

for (const variant of variants)
  test(`gemm (${variant}) equals a plain triple loop for every shape class (row and column tails, transposed A, accumulate, K panels)`, () => {
    const kern = new Kernel(variant);
    const rand = mulberry32(1);
    for (const [M, K, N] of [
      [1, 1, 1],
      [3, 5, 7],
      [4, 8, 8],
      [5, 3, 9],
      [9, 17, 13],
      [32, 100, 400],
      [13, 6, 17],
      [7, 33, 2],
      [8, 200, 400],
      [6, 700, 402],
      [4, 300, 3],
      [0, 3, 3],
      [3, 0, 5],
    ]) {
      for (const transposed of [false, true]) {
        for (const acc of [0, 1]) {
          const a = kern.alloc(M * K);
          const b = kern.alloc(K * N);
          const c = kern.alloc(M * N);
          const fill = (v: Float32Array) => {
            for (let i = 0; i < v.length; i++) v[i] = rand() * 2 - 1;
            return v;
          };
          const A = fill(kern.f32(a, M * K));
          const Bm = fill(kern.f32(b, K * N));
          const C0 = fill(kern.f32(c, M * N)).slice();
          // A(i, k) at a[i·sai + k·sak]: row-major [M, K], or the transpose of a row-major [K, M]
          const [sai, sak] = transposed ? [1, M] : [K, 1];
          kern.k.gemm(a, sai, sak, b, N, c, N, M, K, N, acc);
          const C = kern.f32(c, M * N);
          for (let i = 0; i < M; i++)
            for (let j = 0; j < N; j++) {
              let s = acc ? C0[i * N + j] : 0;
              let f = Math.fround(s);
              for (let k = 0; k < K; k++) {
                s += A[i * sai + k * sak] * Bm[k * N + j];
                f = Math.fround(f + Math.fround(A[i * sai + k * sak] * Bm[k * N + j]));
              }
              const at = `M${M} K${K} N${N} T${transposed} acc${acc} (${i},${j})`;
              assert.ok(Math.abs(C[i * N + j] - s) < 1e-4 * (1 + Math.abs(s)), `${at}: ${C[i * N + j]} vs ${s}`);
              // exact: f32 multiply then add, in k order, to the bit (register blocks, tails and K panels change nothing)
              if (variant === 'exact') assert.equal(C[i * N + j], f, at);
            }
        }
      }
    }
  });

test("the SIMD sigmoid and tanh are within 2e-7 of Math's over the whole range, and saturate cleanly", () => {
  const kern = new Kernel();
  const n = 20003;
  const x = kern.alloc(n);
  const y = kern.alloc(n);
  const xs = kern.f32(x, n);
  for (let i = 0; i < n; i++) xs[i] = -100 + (200 * i) / (n - 1);
  xs[0] = -1e30;
  xs[n - 1] = 1e30;
  const check = (name: string, f: (v: number) => number, run: () => void) => {
    run();
    const ys = kern.f32(y, n);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(ys[i] - f(xs[i])));
    assert.ok(worst < 2e-7, `${name}: worst absolute error ${worst}`);
    assert.ok(Number.isFinite(ys[0]) && Number.isFinite(ys[n - 1]), `${name} of ±1e30 is finite`);
  };
  check('tanh', Math.tanh, () => kern.k.tanhInto(x, y, n));
  check(
    'sigmoid',
    (v) => 1 / (1 + Math.exp(-v)),
    () => kern.k.sigmoidInto(x, y, n),
  );
});

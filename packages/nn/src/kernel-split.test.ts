// The pieces two threads split a batch into (threads.ts, fused.ts) must give the same bits as one call, and the
// kernel's activations must stay the exact formula earlier models were trained with (the repro check compares
// weights across versions).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Mulberry32, mulberry32 } from '@nerflow/core';
import { Kernel, type KernelVariant } from './kernel.js';
import { KernelThread } from './threads.js';

const f = Math.fround;
const variants: KernelVariant[] = ['exact', 'fma'];

/** The Cephes expf of assembly/lstm.ts as first written (max/min clamp, truncating conversion), one f32 rounding per op. */
function expRef(x: number): number {
  x = Math.min(Math.max(x, f(-87.3)), f(88.3));
  const fx = Math.floor(f(f(x * f(Math.LOG2E)) + 0.5));
  x = f(x - f(fx * f(0.693359375)));
  x = f(x - f(fx * f(-2.1219444e-4)));
  let y = f(1.98756915e-4);
  for (const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1])
    y = f(f(y * x) + f(c));
  y = f(f(f(f(y * x) * x) + x) + 1);
  return f(y * 2 ** fx);
}
const sigmoidRef = (x: number) => f(1 / f(1 + expRef(-x)));
const tanhRef = (x: number) => f(1 - f(2 / f(1 + expRef(f(x + x)))));

for (const variant of variants)
  test(`sigmoid and tanh (${variant}) are the Cephes formula to the bit, op by op, on ±0, extremes, the clamp bounds and 300,000 other inputs`, () => {
    const kern = new Kernel(variant);
    const rand = mulberry32(3);
    const special = [0, -0, 1e-45, -1e-45, 1e-38, 87.3, -87.3, 88.3, -88.3, 44.15, -43.65, 88, -87, 1e30, -1e30];
    const n = 300_000 + special.length + 1; // odd: the scalar tail too
    const x = kern.alloc(n);
    const y = kern.alloc(n);
    const xs = kern.f32(x, n);
    xs.set(special);
    const bits = new Uint32Array(1);
    const asF = new Float32Array(bits.buffer);
    for (let i = special.length; i < n; i++) {
      if (i % 2)
        xs[i] = (rand() * 2 - 1) * 100; // the range that matters
      else {
        // any finite f32 bit pattern
        do bits[0] = Math.floor(rand() * 2 ** 32);
        while (!Number.isFinite(asF[0]));
        xs[i] = asF[0];
      }
    }
    for (const [name, run, ref] of [
      ['sigmoid', () => kern.k.sigmoidInto(x, y, n), sigmoidRef],
      ['tanh', () => kern.k.tanhInto(x, y, n), tanhRef],
    ] as const) {
      run();
      const ys = kern.f32(y, n);
      for (let i = 0; i < n; i++) {
        const want = ref(xs[i]);
        assert.ok(Object.is(ys[i], want), `${name}(${xs[i]}) = ${ys[i]}, formula gives ${want}`);
      }
    }
  });

/** Random f32 data in the kernel's memory. */
function filled(kern: Kernel, n: number, rand: () => number): number {
  const p = kern.alloc(n);
  const v = kern.f32(p, n);
  for (let i = 0; i < n; i++) v[i] = rand() * 2 - 1;
  return p;
}
const bytes = (kern: Kernel, p: number, floats: number) => Buffer.from(kern.memory.buffer.slice(p, p + 4 * floats));

for (const variant of variants)
  test(`gemm (${variant}) cut into row ranges at multiples of 4 gives the same bits as one call (row and column tails, transposed A)`, () => {
    const kern = new Kernel(variant);
    const rand = mulberry32(7);
    for (const [M, K, N] of [
      [200, 30, 17],
      [50, 704, 400],
      [22, 9, 13],
      [13, 5, 3],
      [40, 100, 400],
    ]) {
      for (const transposed of [false, true]) {
        const a = filled(kern, M * K, rand);
        const b = filled(kern, K * N, rand);
        const one = kern.alloc(M * N);
        const cut = kern.alloc(M * N);
        const [sai, sak] = transposed ? [1, M] : [K, 1];
        kern.k.gemm(a, sai, sak, b, N, one, N, M, K, N, 0);
        for (const at of [0, 4, M & ~3, Math.floor(M / 2) & ~3]) {
          kern.f32(cut, M * N).fill(NaN);
          kern.k.gemm(a, sai, sak, b, N, cut, N, at, K, N, 0);
          kern.k.gemm(a + 4 * at * sai, sai, sak, b, N, cut + 4 * at * N, N, M - at, K, N, 0);
          assert.ok(
            bytes(kern, cut, M * N).equals(bytes(kern, one, M * N)),
            `M${M} K${K} N${N} T${transposed} cut ${at}`,
          );
        }
      }
    }
  });

for (const variant of variants)
  test(`gemmBias (${variant}) gives the bits of the bias copied into every row then gemm with acc (row and column tails, several K panels, K = 0)`, () => {
    const kern = new Kernel(variant);
    const rand = mulberry32(9);
    for (const [M, K, N] of [
      [200, 30, 17],
      [22, 9, 13],
      [13, 5, 3],
      [7, 2000, 50],
      [9, 0, 6],
      [40, 100, 400],
    ]) {
      const a = filled(kern, Math.max(1, M * K), rand);
      const b = filled(kern, Math.max(1, K * N), rand);
      const bias = filled(kern, N, rand);
      const want = kern.alloc(M * N);
      const got = kern.alloc(M * N);
      kern.k.fillRows(want, bias, M, N);
      kern.k.gemm(a, K, 1, b, N, want, N, M, K, N, 1);
      kern.f32(got, M * N).fill(NaN);
      kern.k.gemmBias(a, K, 1, b, N, got, N, M, K, N, bias);
      assert.ok(bytes(kern, got, M * N).equals(bytes(kern, want, M * N)), `M${M} K${K} N${N}`);
    }
  });

test('joinRows and joinInputGradsRows over any cut, splitDirection per direction and softmaxXentRows per row range equal the one-call functions', () => {
  const kern = new Kernel('exact');
  const rand = mulberry32(9);
  const [T, B, H, K] = [7, 5, 6, 9];
  const TB = T * B;
  const lengths = kern.alloc(B);
  kern.i32(lengths, B).set([7, 3, 1, 5, 7]);
  const hf = filled(kern, TB * H, rand);
  const hb = filled(kern, TB * H, rand);
  const whole = kern.alloc(TB * 2 * H);
  const parts = kern.alloc(TB * 2 * H);
  kern.k.joinDirections(hf, hb, lengths, T, B, H, whole);
  for (const cut of [0, 1, 17, TB - 1, TB]) {
    kern.f32(parts, TB * 2 * H).fill(NaN);
    kern.k.joinRows(hf, hb, lengths, B, H, parts, 0, cut);
    kern.k.joinRows(hf, hb, lengths, B, H, parts, cut, TB);
    assert.ok(bytes(kern, parts, TB * 2 * H).equals(bytes(kern, whole, TB * 2 * H)), `joinRows cut at ${cut}`);
  }
  const d = filled(kern, TB * 2 * H, rand);
  const [f1, b1, f2, b2] = [0, 1, 2, 3].map(() => filled(kern, TB * H, rand));
  kern.k.splitDirections(d, lengths, T, B, H, f1, b1);
  kern.k.splitDirection(d, lengths, T, B, H, 0, f2);
  kern.k.splitDirection(d, lengths, T, B, H, 1, b2);
  assert.ok(bytes(kern, f2, TB * H).equals(bytes(kern, f1, TB * H)), 'forward half');
  assert.ok(bytes(kern, b2, TB * H).equals(bytes(kern, b1, TB * H)), 'backward half');

  // each token's input gradient (forward + backward direction, through their masks), sentences cut at any point
  const E = 4;
  const [dxf, dxb] = [0, 1].map(() => filled(kern, TB * E, rand));
  const [mf, mb] = [0, 1].map(() => filled(kern, B * E, rand));
  const g1 = kern.alloc(B * T * E);
  const g2 = kern.alloc(B * T * E);
  kern.k.joinInputGrads(dxf, dxb, mf, mb, lengths, T, B, E, g1);
  for (const cut of [0, 2, B]) {
    kern.f32(g2, B * T * E).fill(NaN);
    kern.k.joinInputGradsRows(dxf, dxb, mf, mb, lengths, T, B, E, g2, 0, cut);
    kern.k.joinInputGradsRows(dxf, dxb, mf, mb, lengths, T, B, E, g2, cut, B);
    assert.ok(bytes(kern, g2, B * T * E).equals(bytes(kern, g1, B * T * E)), `joinInputGradsRows cut at ${cut}`);
  }

  // softmax cross-entropy: labels −1 on padding
  const labels = kern.alloc(TB);
  const lab = kern.i32(labels, TB);
  let count = 0;
  for (let i = 0; i < TB; i++) {
    lab[i] = i % 4 === 3 ? -1 : Math.floor(rand() * K);
    if (lab[i] >= 0) count++;
  }
  const logits = filled(kern, TB * K, rand);
  const l2 = kern.alloc(TB * K);
  kern.f32(l2, TB * K).set(kern.f32(logits, TB * K));
  const [p1, p2] = [kern.alloc(TB), kern.alloc(TB)];
  const rowLoss = kern.alloc(2 * TB);
  const total = kern.k.softmaxXent(logits, labels, p1, TB, K, count, 1);
  const cut = 12;
  const t1 = kern.k.softmaxXentRows(l2, labels, p2, cut, K, count, 1, rowLoss);
  const t2 = kern.k.softmaxXentRows(
    l2 + 4 * cut * K,
    labels + 4 * cut,
    p2 + 4 * cut,
    TB - cut,
    K,
    count,
    1,
    rowLoss + 8 * cut,
  );
  const rl = new Float64Array(kern.memory.buffer, rowLoss, TB);
  let sum = 0;
  for (let i = 0; i < TB; i++) sum += rl[i];
  assert.equal(sum, total, 'the rows’ losses added in order are the one call’s total');
  assert.ok(Math.abs(t1 + t2 - total) < 1e-9, 'each range returns its own sum');
  for (let i = 0; i < TB; i++) if (lab[i] < 0) assert.equal(rl[i], 0, `padding row ${i}`);
  assert.deepEqual(kern.i32(p2, TB), kern.i32(p1, TB), 'predictions');
  assert.ok(bytes(kern, l2, TB * K).equals(bytes(kern, logits, TB * K)), 'gradients');
});

test('a job of steps runs each step on both threads with a barrier between them; errors on either side surface and the thread stays usable', () => {
  const kern = new Kernel('exact');
  const thread = new KernelThread(kern);
  try {
    const n = 64;
    const src = kern.alloc(n);
    kern.f32(src, n).set(Array.from({ length: n }, (_, i) => i + 0.5));
    const [a, b, c, d] = [0, 1, 2, 3].map(() => kern.alloc(n, true));
    for (let round = 0; round < 50; round++) {
      kern.f32(c, n).fill(0);
      kern.f32(d, n).fill(0);
      // step 1: each thread writes one buffer; step 2: each copies the buffer the OTHER thread wrote in step 1
      thread.run([
        { label: 'one', main: [['fillRows', [a, src, 1, n]]], worker: [['fillRows', [b, src, 1, n]]] },
        { label: 'two', main: [['fillRows', [c, b, 1, n]]], worker: [['fillRows', [d, a, 1, n]]] },
        { label: 'three', main: [], worker: [] },
      ]);
      assert.deepEqual(kern.f32(c, n), kern.f32(src, n), `round ${round}: main read the worker's step-1 output`);
      assert.deepEqual(kern.f32(d, n), kern.f32(src, n), `round ${round}: worker read the main thread's step-1 output`);
    }
    // the worker traps in step 1: it still meets the barrier, skips the rest, and the error names its calls
    assert.throws(
      () =>
        thread.run([
          { label: 'x', main: [['fillRows', [a, src, 1, n]]], worker: [['fillRows', [2 ** 31, src, 1, n]]] },
          { label: 'y', main: [['fillRows', [c, src, 1, n]]], worker: [['fillRows', [d, src, 1, n]]] },
        ]),
      /second thread failed in fillRows: .*out of bounds/i,
    );
    // the main thread traps in step 1: it still meets the barrier (the worker finishes), then throws its own error
    assert.throws(
      () =>
        thread.run([
          { label: 'x', main: [['fillRows', [2 ** 31, src, 1, n]]], worker: [['fillRows', [b, src, 1, n]]] },
          { label: 'y', main: [], worker: [['fillRows', [d, src, 1, n]]] },
        ]),
      /out of bounds/i,
    );
    kern.f32(c, n).fill(0);
    thread.pair('fillRows', [c, src, 1, n], [d, src, 1, n]);
    assert.deepEqual(kern.f32(c, n), kern.f32(src, n), 'usable after both errors');
  } finally {
    thread.close();
  }
});

test('maskRowRange (output dropout, rows cut between threads) gives maskRows’ bits, at any cut', () => {
  const kern = new Kernel('exact');
  const rand = mulberry32(11);
  for (const [T, B, D] of [
    [7, 5, 200],
    [3, 4, 6],
    [1, 3, 9],
  ]) {
    const n = T * B * D;
    const x = filled(kern, n, rand);
    const mask = filled(kern, B * D, rand);
    const one = kern.alloc(n);
    const cut = kern.alloc(n);
    kern.f32(one, n).set(kern.f32(x, n));
    kern.f32(cut, n).set(kern.f32(x, n));
    kern.k.maskRows(one, mask, T, B, D);
    const rows = T * B;
    const c1 = Math.floor(rows / 3);
    const c2 = Math.floor((2 * rows) / 3) + 1;
    for (const [i0, i1] of [
      [0, c1],
      [c1, c2],
      [c2, rows],
    ])
      kern.k.maskRowRange(cut, mask, B, D, i0, i1);
    assert.deepEqual(bytes(kern, cut, n), bytes(kern, one, n), `T ${T} B ${B} D ${D}`);
    assert.notDeepEqual(bytes(kern, cut, n), bytes(kern, x, n));
  }
});

for (const variant of variants)
  test(`lstmBackwardShared (${variant}): two directions' weight gradients shared between threads give lstmBackward's bits, in turn or at once, and one thread helps with the other's blocks`, () => {
    const kern = new Kernel(variant);
    const thread = new KernelThread(kern);
    const rand = mulberry32(11);
    // one direction per call; sizes with every tail (E and H not multiples of 4 or 8, T·B not a multiple of 32), and
    // a second pair where direction 1's BPTT is short and its blocks many (E and T·B large), so thread 0 helps it
    const shapes: [number, number, number, number][][] = [
      [
        [7, 5, 13, 10],
        [7, 5, 13, 10],
      ],
      [
        [200, 4, 4, 24],
        [3, 64, 2045, 6],
      ],
    ];
    try {
      for (const [si, dims] of shapes.entries()) {
        const dirs = dims.map(([T, B, E, H]) => {
          const G = 4 * H;
          const TB = T * B;
          const fill = (n: number, scale = 1) => {
            const p = kern.alloc(n);
            const v = kern.f32(p, n);
            for (let i = 0; i < n; i++) v[i] = (rand() * 2 - 1) * scale;
            return p;
          };
          const d = {
            T,
            B,
            E,
            H,
            G,
            TB,
            x: fill(TB * E),
            wx: fill(E * G, 0.3),
            wh: fill(H * G, 0.3),
            bias: fill(G),
            rmask: fill(B * H, 1.2),
            dh: fill(TB * H),
            gates: kern.alloc(TB * G),
            cell: kern.alloc(TB * H),
            tc: kern.alloc(TB * H),
            h: kern.alloc(TB * H),
            hin: kern.alloc(TB * H),
            dz: kern.alloc(TB * G),
            dx: kern.alloc(TB * E),
            // the weight gradients accumulate onto what is there (acc)
            g0: fill(E * G + H * G + G),
            dwx: kern.alloc(E * G),
            dwh: kern.alloc(H * G),
            dbias: kern.alloc(G),
            whT: kern.alloc(G * H),
            wxT: kern.alloc(G * ((E + 3) & ~3)),
            dhn: kern.alloc(B * H),
            dcn: kern.alloc(B * H),
          };
          kern.k.lstmForward(d.x, d.wx, d.wh, d.bias, d.rmask, T, B, E, H, d.gates, d.cell, d.tc, d.h, d.hin);
          return d;
        });
        type D = (typeof dirs)[number];
        const reset = (d: D) => {
          const g = kern.f32(d.g0, d.E * d.G + d.H * d.G + d.G);
          kern.f32(d.dwx, d.E * d.G).set(g.subarray(0, d.E * d.G));
          kern.f32(d.dwh, d.H * d.G).set(g.subarray(d.E * d.G, (d.E + d.H) * d.G));
          kern.f32(d.dbias, d.G).set(g.subarray((d.E + d.H) * d.G));
        };
        const args = (d: D) =>
          [
            d.dh,
            d.x,
            d.wx,
            d.wh,
            d.rmask,
            d.T,
            d.B,
            d.E,
            d.H,
            d.gates,
            d.cell,
            d.tc,
            d.hin,
            d.dz,
            d.dx,
            d.dwx,
            d.dwh,
            d.dbias,
            d.whT,
            d.wxT,
            d.dhn,
            d.dcn,
          ] as const;
        const outputs = (d: D) =>
          Buffer.concat(
            [
              [d.dz, d.TB * d.G],
              [d.dx, d.TB * d.E],
              [d.dwx, d.E * d.G],
              [d.dwh, d.H * d.G],
              [d.dbias, d.G],
            ].map(([p, n]) => bytes(kern, p, n)),
          );
        const want = dirs.map((d) => {
          reset(d);
          kern.k.lstmBackward(...args(d));
          return outputs(d);
        });
        const work = kern.alloc(32);
        const check = (what: string) =>
          dirs.forEach((d, i) => assert.ok(outputs(d).equals(want[i]), `${what}: direction ${i} (shapes ${si})`));
        // in turn, either order
        for (const order of [
          [0, 1],
          [1, 0],
        ]) {
          dirs.forEach(reset);
          kern.i32(work, 32).fill(0);
          for (const i of order) kern.k.lstmBackwardShared(...args(dirs[i]), work, i);
          check(`in turn ${order}`);
        }
        // at once, one direction per thread
        let helped = 0;
        // (direction 0: a long BPTT, few blocks; direction 1: a short BPTT, ~1 ms of blocks; until thread 0 has
        // helped, at most 100 rounds: whether it does depends on when the worker starts)
        for (let round = 0; round < 100 && !(si === 1 && helped > 0 && round >= 10); round++) {
          dirs.forEach(reset);
          kern.i32(work, 32).fill(0);
          thread.run([
            {
              label: 'shared',
              main: [['lstmBackwardShared', [...args(dirs[0]), work, 0]]],
              worker: [['lstmBackwardShared', [...args(dirs[1]), work, 1]]],
            },
          ]);
          check(`two threads, round ${round}`);
          // direction 1's counter: its blocks + 1 (the claim that found none left), + 1 more when thread 0 came to help
          const [T, B, E, H] = dims[1];
          const blocks = 1 + Math.ceil(E / 8) + Math.ceil(H / 8) + Math.ceil((T * B) / 32);
          const next = kern.i32(work, 32)[16 + 1];
          assert.ok(next === blocks + 1 || next === blocks + 2, `direction 1's counter ${next}, ${blocks} blocks`);
          if (next === blocks + 2) helped++;
        }
        if (si === 1) assert.ok(helped > 0, 'thread 0 helped with direction 1 in at least one of 100 rounds');
      }
    } finally {
      thread.close();
    }
  });

test('maskDraws (dropout masks drawn in the kernel) gives mulberry32 maskInto’s masks and state, to the bit', () => {
  const kern = new Kernel('exact');
  const n = 10_007;
  const out = kern.alloc(n);
  const state = kern.alloc(1);
  for (const [seed, p] of [
    [1, 0.1],
    [0xffffffff, 0.5],
    [12345, 0.2],
    [7, 0.9],
    [0, 0.3333],
    [0x6d2b79f5, 0.01],
  ]) {
    const g = new Mulberry32(seed);
    const want = new Float32Array(n);
    g.maskInto(want, p, 1 / (1 - p));
    new Uint32Array(kern.memory.buffer, state, 1)[0] = seed >>> 0;
    kern.k.maskDraws(out, n, state, p * 4294967296, 1 / (1 - p));
    assert.ok(bytes(kern, out, n).equals(Buffer.from(want.buffer)), `seed ${seed}, p ${p}: masks`);
    assert.equal(new Uint32Array(kern.memory.buffer, state, 1)[0], g.state, `seed ${seed}, p ${p}: state after`);
  }
});

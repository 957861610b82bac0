// The training-speed changes of issue 15 that must not change a bit: the embedding's lazy Adam in SIMD (against
// the scalar formula), cut between threads at a word; the dropout masks drawn without a call per draw (against
// the generator's own next()); a worker woken early (prepare) or spinning for any time still runs every job right.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '@nerflow/core';
import { FusedBiLstm, positionsByWord } from './fused.js';
import type { Batch } from './data.js';
import { Kernel, type KernelVariant } from './kernel.js';
import type { TaggerSpec } from './spec.js';
import {
  KernelThread,
  LINGER_US,
  SPIN_LOADED_US,
  SPIN_US,
  spinFor,
  type KernelCall,
  type KernelStep,
} from './threads.js';

const f = Math.fround;

/** The lazy Adam update of assembly/lstm.ts embeddingAdam as scalar arithmetic (f32 sums, f64 Adam, f32 stores). */
function embeddingAdamRef(
  emb: Float32Array,
  m: Float32Array,
  v: Float32Array,
  dx: Float32Array,
  order: Int32Array,
  ids: Int32Array,
  E: number,
  [lr, b1, b2, eps]: number[],
): void {
  for (let i = 0; i < ids.length;) {
    const id = ids[i];
    const g = new Float32Array(E);
    for (; i < ids.length && ids[i] === id; i++) for (let k = 0; k < E; k++) g[k] = f(g[k] + dx[order[i] * E + k]);
    for (let k = 0; k < E; k++) {
      const o = id * E + k;
      const mk = b1 * m[o] + (1 - b1) * g[k];
      const vk = b2 * v[o] + (1 - b2) * g[k] * g[k];
      m[o] = mk;
      v[o] = vk;
      emb[o] = emb[o] - (lr * mk) / (Math.sqrt(vk) + eps);
    }
  }
}

for (const variant of ['exact', 'fma'] as KernelVariant[])
  test(`embeddingAdam (${variant}, SIMD) is the scalar formula to the bit, in one call or cut at any word (E 100, 13, 1)`, () => {
    const rand = mulberry32(21);
    for (const E of [100, 13, 1]) {
      const V = 50;
      const P = 120; // token positions, sorted by word id as fused.ts sorts them (frequent and rare words)
      const ids = Int32Array.from({ length: P }, () => 1 + Math.floor(rand() ** 3 * (V - 1))).sort();
      const order = Int32Array.from({ length: P }, (_, i) => (i * 37) % P);
      const hp = [1e-3 * (1 + rand()), 0.9, 0.999, 1e-7];
      const tables = () => {
        const r = mulberry32(E);
        return [0, 1, 2].map((t) => Float32Array.from({ length: V * E }, () => (t === 2 ? r() : r() - 0.5) * 0.1));
      };
      const dxv = Float32Array.from({ length: P * E }, () => rand() * 2 - 1);
      const [re, rm, rv] = tables();
      embeddingAdamRef(re, rm, rv, dxv, order, ids, E, hp);
      // word boundaries to cut at (0 and P: one call)
      const cuts = [0, ...Array.from({ length: P - 1 }, (_, i) => i + 1).filter((i) => ids[i] !== ids[i - 1])];
      for (const cut of [0, cuts[1], cuts[Math.floor(cuts.length / 2)], cuts.at(-1)!]) {
        const kern = new Kernel(variant);
        const [emb, m, v, dx] = [V * E, V * E, V * E, P * E].map((n) => kern.alloc(n));
        const [o, w, g] = [kern.alloc(P), kern.alloc(P), kern.alloc(E)];
        const [te, tm, tv] = tables();
        kern.f32(emb, V * E).set(te);
        kern.f32(m, V * E).set(tm);
        kern.f32(v, V * E).set(tv);
        kern.f32(dx, P * E).set(dxv);
        kern.i32(o, P).set(order);
        kern.i32(w, P).set(ids);
        const [lr, b1, b2, eps] = hp;
        kern.k.embeddingAdam(emb, m, v, dx, o, w, cut, E, lr, b1, b2, eps, g);
        kern.k.embeddingAdam(emb, m, v, dx, o + 4 * cut, w + 4 * cut, P - cut, E, lr, b1, b2, eps, g);
        for (const [name, got, want] of [
          ['embedding', kern.f32(emb, V * E), re],
          ['m', kern.f32(m, V * E), rm],
          ['v', kern.f32(v, V * E), rv],
        ] as const)
          assert.ok(Buffer.from(got.slice().buffer).equals(Buffer.from(want.buffer)), `${name}, E ${E}, cut ${cut}`);
      }
    }
  });

const spec: TaggerSpec = {
  kind: 'fused',
  vocabSize: 30,
  numTags: 3,
  embeddingDim: 4,
  lstmUnits: 4,
  dropout: 0.5,
  recurrentDropout: 0.25,
  learningRate: 1e-2,
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  seed: 9,
};

test('dropout masks drawn without a call per draw are the generator’s own draws (same masks, same state after)', () => {
  const fast = new FusedBiLstm(spec);
  const slow = new FusedBiLstm(spec);
  // a different function than the generator's next: the mask takes the call-per-draw path
  const next = slow.dropoutRng.next;
  slow.rand = () => next();
  const mask = (m: FusedBiLstm, n: number, p: number): Float32Array =>
    (m as unknown as { dropMask(n: number, p: number): Float32Array }).dropMask(n, p);
  let dropped = 0;
  for (const [n, p] of [
    [1000, 0.5],
    [333, 0.1],
    [64, 0.9],
    [1, 0.3],
    [5000, 0.25],
  ]) {
    const a = mask(fast, n, p);
    const b = mask(slow, n, p);
    assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), `n ${n}, p ${p}`);
    assert.equal(fast.dropoutRng.state, slow.dropoutRng.state, `state after n ${n}, p ${p}`);
    dropped += a.filter((x) => x === 0).length;
    assert.ok(a.every((x) => x === 0 || x === f(1 / (1 - p))));
  }
  assert.ok(dropped > 1000, `${dropped} dropped`);
  fast.dispose();
  slow.dispose();
});

test('a worker woken early (prepare) or spinning any time at the barriers runs every job, in order', async () => {
  const kern = new Kernel('exact');
  const thread = new KernelThread(kern);
  try {
    // by default the spin follows the machine's load (spinFor), which this test does not control
    assert.ok([SPIN_US, SPIN_LOADED_US].includes(thread.spinUs), `default spin ${thread.spinUs}`);
    assert.equal(thread.prepares, false, 'off by default');
    thread.prepares = true;
    const n = 32;
    const src = kern.alloc(n);
    kern.f32(src, n).set(Array.from({ length: n }, (_, i) => i - 7.25));
    const [a, b, c, d] = [0, 1, 2, 3].map(() => kern.alloc(n, true));
    const job = (round: number) => {
      for (const x of [a, b, c, d]) kern.f32(x, n).fill(round);
      thread.run([
        { label: 'one', main: [['fillRows', [a, src, 1, n]]], worker: [['fillRows', [b, src, 1, n]]] },
        { label: 'two', main: [['fillRows', [c, b, 1, n]]], worker: [['fillRows', [d, a, 1, n]]] },
      ]);
      assert.deepEqual(kern.f32(c, n), kern.f32(src, n), `round ${round}: main read the worker's output`);
      assert.deepEqual(kern.f32(d, n), kern.f32(src, n), `round ${round}: worker read the main thread's output`);
    };
    let round = 0;
    for (const spin of [0, SPIN_US, 500]) {
      thread.spinUs = spin;
      assert.equal(thread.spinUs, spin);
      for (let i = 0; i < 20; i++) job(++round); // without prepare
      for (let i = 0; i < 20; i++) {
        thread.prepare(); // the job right after
        job(++round);
      }
      // prepared, but the job comes after the worker stopped spinning for it (it sleeps again, then wakes for it)
      thread.prepare();
      await new Promise((r) => setTimeout(r, 10));
      job(++round);
      thread.prepare();
      thread.prepare();
      job(++round);
      assert.equal(thread.spinUs, spin, 'a spin that was set stays, whatever the load');
    }
    thread.prepares = false;
    thread.prepare();
    job(++round);
  } finally {
    thread.close();
  }
  thread.prepare(); // after close: nothing to wake, no error
});

test('the main thread’s idle work runs once per job, never before the step it is given (idleFrom)', () => {
  const kern = new Kernel('exact');
  const thread = new KernelThread(kern);
  try {
    // the main thread's step i writes i to a marker; the worker's steps 2 and 3 are long products, so the main
    // thread waits after them: the idle work reads the marker to see how far the main thread had come
    const vals = kern.alloc(4);
    kern.f32(vals, 4).set([0, 1, 2, 3]);
    const marker = kern.alloc(1, true);
    const N = 128;
    const [x, y, z] = [0, 1, 2].map(() => kern.alloc(N * N, true));
    const slow: KernelCall = ['gemm', [x, N, 1, y, N, z, N, N, N, N, 0]];
    const steps = (): KernelStep[] =>
      [0, 1, 2, 3].map((i) => ({
        label: `s${i}`,
        main: [['fillRows', [marker, vals + 4 * i, 1, 1]]],
        worker: i >= 2 ? [slow, slow, slow, slow] : [],
      }));
    for (const from of [0, 2, 3]) {
      let ran = 0;
      for (let round = 0; round < 10; round++) {
        const seen: number[] = [];
        thread.run(steps(), () => seen.push(kern.f32(marker, 1)[0]), from);
        // at most once, and only where the main thread would wait (here nearly always: the worker's steps are long)
        assert.ok(seen.length <= 1, `idleFrom ${from}, round ${round}: ran ${seen.length} times`);
        if (seen.length) assert.ok(seen[0] >= from, `idleFrom ${from}: ran after the main thread's step ${seen[0]}`);
        ran += seen.length;
      }
      assert.ok(ran >= 1, `idleFrom ${from}: ran in ${ran} of 10 jobs`);
    }
  } finally {
    thread.close();
  }
});

test('a detached last step runs on the worker after run returns; the next run or settle waits for it and reports its error', () => {
  const kern = new Kernel('exact');
  const thread = new KernelThread(kern);
  try {
    const N = 192;
    const [x, y, z, w] = [0, 1, 2, 3].map(() => kern.alloc(N * N, true));
    kern.f32(x, N * N).fill(0.5);
    kern.f32(y, N * N).fill(0.25);
    const slow: KernelCall = ['gemm', [x, N, 1, y, N, z, N, N, N, N, 0]];
    assert.throws(
      () => thread.run([{ label: 'a', main: [slow], worker: [] }], undefined, 0, true),
      /detached last step has main-thread calls/,
    );
    let early = 0;
    for (let round = 0; round < 10; round++) {
      // the worker spins for the next job after a detached one (LINGER_US), or sleeps at once, or spins longer
      thread.lingerUs = [LINGER_US, 0, 5000][round % 3];
      kern.f32(z, N * N).fill(-1);
      thread.run(
        [
          { label: 'a', main: [], worker: [] },
          { label: 'b', main: [], worker: Array.from({ length: 12 }, () => slow) },
        ],
        undefined,
        0,
        true,
      );
      // run returned while the worker was still at its products (they take milliseconds: nearly always, unless this
      // thread was descheduled for as long on a loaded machine)
      if (kern.f32(z, N * N)[N * N - 1] !== N * 0.125) early++;
      thread.settle();
      assert.ok(
        kern.f32(z, N * N).every((v) => v === N * 0.125),
        `round ${round}: settled before the worker ended`,
      );
    }
    assert.ok(early >= 1, `run returned before the detached step ended in ${early} of 10 rounds`);
    // the next run waits for a detached step too: it reads what that step wrote
    thread.run([{ label: 'b', main: [], worker: [slow] }], undefined, 0, true);
    thread.run([{ label: 'c', main: [['fillRows', [w, z + 4 * (N * N - 1), 1, 1]]], worker: [] }]);
    assert.equal(kern.f32(w, 1)[0], N * 0.125);
    // an error in a detached step surfaces at the next settle, and the thread stays usable
    thread.run([{ label: 'bad', main: [], worker: [['fillRows', [2 ** 31, x, 1, N]]] }], undefined, 0, true);
    assert.throws(() => thread.settle(), /second thread failed in fillRows: .*out of bounds/i);
    thread.settle();
    thread.pair('fillRows', [w, x, 1, 1], [w + 4, x, 1, 1]);
    assert.deepEqual([...kern.f32(w, 2)], [0.5, 0.5]);
  } finally {
    thread.close();
  }
});

test('the embedding’s positions sorted by word: uint32 keys give the f64 keys’ order (ids up to 10^6, 4,000 positions)', () => {
  const rand = mulberry32(7);
  for (const [size, steps] of [
    [40, 100],
    [3, 5],
  ]) {
    const lengths = Int32Array.from({ length: size }, () => 1 + Math.floor(rand() * steps));
    const tokens = new Int32Array(size * steps);
    // a few frequent words (repeated positions) among rare ones, padding (id 0) inside the lengths too
    for (let r = 0; r < size; r++)
      for (let t = 0; t < lengths[r]; t++)
        tokens[r * steps + t] = rand() < 0.3 ? Math.floor(rand() * 5) : Math.floor(rand() * 1_000_000);
    const b: Batch = { size, steps, lengths, tokens, tags: new Int32Array(size * steps), index: new Int32Array(size) };
    const P = size * steps;
    const want: [number, number][] = [];
    for (let r = 0; r < size; r++)
      for (let t = 0; t < lengths[r]; t++) if (tokens[r * steps + t]) want.push([tokens[r * steps + t], r * steps + t]);
    want.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    for (const narrow of [true, false]) {
      const [ids, order] = [new Int32Array(P), new Int32Array(P)];
      const n = positionsByWord(b, ids, order, narrow);
      assert.equal(n, want.length);
      assert.deepEqual(
        Array.from({ length: n }, (_, i) => [ids[i], order[i]]),
        want,
        `narrow ${narrow}, ${size} x ${steps}`,
      );
    }
  }
});

test('the barrier spin: long on a machine with cores to spare, short once the load average exceeds the cores', () => {
  assert.equal(spinFor(0.3, 2), SPIN_US);
  assert.equal(spinFor(2.1, 2), SPIN_US, 'a 2-thread training alone on 2 cores');
  assert.equal(spinFor(2.6, 2), SPIN_LOADED_US);
  assert.equal(spinFor(7.5, 8), SPIN_US);
  assert.equal(spinFor(12, 8), SPIN_LOADED_US);
  assert.ok(SPIN_LOADED_US < SPIN_US);
});

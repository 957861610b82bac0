import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend, tf } from './backend.js';
import { allowedTransitions, pathAllowed, viterbi } from './crf.js';
import { crfNllTf } from './crf-tf.js';
import { Kernel } from './kernel.js';
import { mulberry32 } from '@nerflow/core';

before(async () => {
  await initBackend('wasm');
});

// A tiny IOB2 tag set and a batch of 4 sentences (lengths 4, 1, 3, 0) padded to T steps, row-major [B, T] as
// a Batch holds it; the kernel reads time-major [T·B, K], laid out below.
const TAGS = ['O', 'B-a', 'I-a', 'B-b', 'I-b'];
const K = TAGS.length;
const LENGTHS = [4, 1, 3, 0];
const GOLD = [[0, 1, 2, 0], [3], [1, 2, 2], []];

interface Case {
  T: number;
  emissions: Float64Array; // [B, T, K] row-major
  p: { transitions: Float64Array; start: Float64Array; end: Float64Array };
}

function randomCase(seed: number, T = 4, spread = 2): Case {
  const rand = mulberry32(seed);
  // float32 values, so the kernel (f32) and the float64 references see the same numbers
  const r = () => Math.fround((rand() * 2 - 1) * spread);
  const emissions = new Float64Array(LENGTHS.length * T * K);
  for (let b = 0; b < LENGTHS.length; b++)
    for (let t = 0; t < LENGTHS[b]; t++) for (let k = 0; k < K; k++) emissions[(b * T + t) * K + k] = r();
  return {
    T,
    emissions,
    p: {
      transitions: Float64Array.from({ length: K * K }, r),
      start: Float64Array.from({ length: K }, r),
      end: Float64Array.from({ length: K }, r),
    },
  };
}

function labelsOf(T: number, gold = GOLD): Int32Array {
  const out = new Int32Array(LENGTHS.length * T).fill(-1);
  gold.forEach((g, b) => g.forEach((y, t) => (out[b * T + t] = y)));
  return out;
}

/** Run the kernel's crfNll (and crfViterbi) on a case: loss, gradients ([B, T, K] for the emissions), predictions. */
function kernelRun(c: Case, labelsRowMajor: Int32Array, allowed: Int32Array | null, scale = 1) {
  const { T } = c;
  const B = LENGTHS.length;
  const kern = new Kernel();
  const emis = kern.alloc(T * B * K);
  const labels = kern.alloc(T * B);
  const lengths = kern.alloc(B);
  const tr = kern.alloc(K * K);
  const st = kern.alloc(K);
  const en = kern.alloc(K);
  const al = allowed ? kern.alloc(allowed.length) : 0;
  const dtr = kern.alloc(K * K);
  const dst = kern.alloc(K);
  const den = kern.alloc(K);
  const pred = kern.alloc(T * B);
  const work = kern.alloc(kern.k.crfScratch(T, K));
  const e = kern.f32(emis, T * B * K);
  const lab = kern.i32(labels, T * B);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      lab[t * B + b] = labelsRowMajor[b * T + t];
      for (let k = 0; k < K; k++) e[(t * B + b) * K + k] = c.emissions[(b * T + t) * K + k];
    }
  kern.i32(lengths, B).set(LENGTHS);
  kern.f32(tr, K * K).set(c.p.transitions);
  kern.f32(st, K).set(c.p.start);
  kern.f32(en, K).set(c.p.end);
  if (allowed) kern.i32(al, allowed.length).set(allowed);
  kern.k.crfViterbi(emis, lengths, T, B, K, tr, st, en, al, pred, work);
  const pr = kern.i32(pred, T * B);
  const predictions = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) predictions[b * T + t] = pr[t * B + b];
  const loss = kern.k.crfNll(emis, labels, lengths, T, B, K, tr, st, en, al, scale, 1, dtr, dst, den, work);
  const g = kern.f32(emis, T * B * K);
  const demis = new Float64Array(B * T * K);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) demis[(b * T + t) * K + k] = g[(t * B + b) * K + k];
  return {
    loss,
    predictions,
    demis,
    dtr: kern.f32(dtr, K * K).slice(),
    dstart: kern.f32(dst, K).slice(),
    dend: kern.f32(den, K).slice(),
  };
}

/** Every tag path of length n. */
function* paths(n: number): Generator<number[]> {
  if (n === 0) return;
  const y = new Array(n).fill(0);
  for (;;) {
    yield y.slice();
    let i = n - 1;
    while (i >= 0 && ++y[i] === K) y[i--] = 0;
    if (i < 0) return;
  }
}

function score(c: Case, b: number, y: number[]): number {
  let s = c.p.start[y[0]] + c.p.end[y[y.length - 1]];
  y.forEach((v, t) => (s += c.emissions[(b * c.T + t) * K + v] + (t ? c.p.transitions[y[t - 1] * K + v] : 0)));
  return s;
}

/** The NLL by enumerating every path in float64 (the allowed ones only when the gold path is allowed). */
function bruteNll(c: Case, gold: number[][], allowed: Int32Array | null): number {
  let total = 0;
  gold.forEach((g, b) => {
    if (!g.length) return;
    const constrained = !!allowed && pathAllowed(g, allowed, K);
    let z = 0;
    for (const y of paths(g.length)) if (!constrained || pathAllowed(y, allowed!, K)) z += Math.exp(score(c, b, y));
    total += Math.log(z) - score(c, b, g);
  });
  return total;
}

function bruteBest(c: Case, b: number, allowed: Int32Array | null): number[] {
  let best: number[] = [];
  let bs = -Infinity;
  for (const y of paths(LENGTHS[b])) {
    if (allowed && !pathAllowed(y, allowed, K)) continue;
    const s = score(c, b, y);
    if (s > bs) [bs, best] = [s, y];
  }
  return best;
}

const IOB2 = allowedTransitions(TAGS);

test('the IOB2 constraint table: I-X only after B-X or I-X, never first; anything may end', () => {
  const ok = (a: string, b: string) => !!IOB2[TAGS.indexOf(a) * K + TAGS.indexOf(b)];
  assert.ok(
    ok('B-a', 'I-a') && ok('I-a', 'I-a') && ok('O', 'B-a') && ok('I-a', 'B-b') && ok('B-a', 'O') && ok('I-b', 'B-b'),
  );
  assert.ok(!ok('O', 'I-a') && !ok('B-a', 'I-b') && !ok('I-a', 'I-b') && !ok('B-b', 'I-a'));
  assert.deepEqual(Array.from(IOB2.subarray(K * K, K * K + K)), [1, 1, 0, 1, 0], 'start: not I-');
  assert.deepEqual(Array.from(IOB2.subarray(K * K + K)), [1, 1, 1, 1, 1], 'end: anything');
  // IOBES: inside an entity only I-/E- of its type; outside only O, B-, S-; a sentence ends closed
  const tags = ['O', 'B-a', 'I-a', 'E-a', 'S-a'];
  const t = allowedTransitions(tags);
  const ok2 = (a: string, b: string) => !!t[tags.indexOf(a) * 5 + tags.indexOf(b)];
  assert.ok(
    ok2('B-a', 'E-a') &&
      ok2('I-a', 'I-a') &&
      ok2('E-a', 'O') &&
      ok2('S-a', 'B-a') &&
      !ok2('B-a', 'O') &&
      !ok2('O', 'E-a') &&
      !ok2('E-a', 'I-a'),
  );
  assert.deepEqual(Array.from(t.subarray(25 + 5)), [1, 0, 0, 1, 1]);
  assert.throws(() => allowedTransitions(['O', 'PER']), /"PER".*train\.crf\.constrain: false/);
});

test('crfNll equals brute-force enumeration of every tag path (log-partition), with and without the constraint', () => {
  for (const seed of [1, 2, 3]) {
    const c = randomCase(seed);
    for (const allowed of [null, IOB2]) {
      const ours = kernelRun(c, labelsOf(c.T), allowed).loss;
      const theirs = bruteNll(c, GOLD, allowed);
      assert.ok(
        Math.abs(ours - theirs) < 1e-4 * Math.abs(theirs),
        `seed ${seed} constrained ${!!allowed}: ${ours} vs ${theirs}`,
      );
    }
  }
  // a gold path the constraint forbids (O → I-a: ingest only warned) is scored without the constraint
  const c = randomCase(4);
  const bad = [[0, 2, 2, 0], [3], [1, 2, 2], []];
  const ours = kernelRun(c, labelsOf(c.T, bad), IOB2).loss;
  assert.ok(Number.isFinite(ours) && Math.abs(ours - bruteNll(c, bad, IOB2)) < 1e-4 * ours, `${ours}`);
  assert.ok(Math.abs(ours - bruteNll(c, bad, null)) > 1e-3, 'the allowed rows stay constrained');
  // large scores do not overflow (log space)
  const big = randomCase(5, 4, 60);
  const l = kernelRun(big, labelsOf(4), IOB2).loss;
  assert.ok(Math.abs(l - bruteNll(big, GOLD, IOB2)) < 1e-4 * Math.abs(l) + 1e-3, `${l}`);
});

test('crfNll gradients match finite differences of the exact loss: emissions, transitions, start, end', () => {
  const eps = 1e-4;
  for (const allowed of [null, IOB2]) {
    const c = randomCase(6);
    const scale = 0.25;
    const r = kernelRun(c, labelsOf(c.T), allowed, scale);
    const analytic: number[] = [];
    const numeric: number[] = [];
    const fd = (get: () => number, set: (v: number) => void) => {
      const v = get();
      set(v + eps);
      const up = bruteNll(c, GOLD, allowed);
      set(v - eps);
      const down = bruteNll(c, GOLD, allowed);
      set(v);
      return (scale * (up - down)) / (2 * eps);
    };
    for (let i = 0; i < c.emissions.length; i++) {
      analytic.push(r.demis[i]);
      numeric.push(
        fd(
          () => c.emissions[i],
          (v) => (c.emissions[i] = v),
        ),
      );
    }
    const params: [Float64Array, Float32Array][] = [
      [c.p.transitions, r.dtr],
      [c.p.start, r.dstart],
      [c.p.end, r.dend],
    ];
    for (const [w, g] of params) {
      for (let i = 0; i < w.length; i++) {
        analytic.push(g[i]);
        numeric.push(
          fd(
            () => w[i],
            (v) => (w[i] = v),
          ),
        );
      }
    }
    let worst = 0;
    for (let i = 0; i < analytic.length; i++) worst = Math.max(worst, Math.abs(analytic[i] - numeric[i]));
    assert.ok(analytic.length === c.emissions.length + K * K + 2 * K);
    assert.ok(worst < 2e-3 * scale, `constrained ${!!allowed}: worst absolute difference ${worst}`);
    // forbidden transitions get no gradient where the constraint holds; padding gets none either
    if (allowed)
      for (let i = 0; i < K * K; i++)
        if (!allowed[i]) assert.ok(Math.abs(r.dtr[i]) < 1e-30, `forbidden ${i}: ${r.dtr[i]}`);
    for (let b = 0; b < LENGTHS.length; b++)
      for (let t = LENGTHS[b]; t < c.T; t++)
        for (let k = 0; k < K; k++) assert.equal(r.demis[(b * c.T + t) * K + k], 0);
  }
});

test('crfViterbi returns the brute-force best path; with the constraint, the best valid IOB2 path', () => {
  for (const seed of [7, 8, 9, 10, 11]) {
    const c = randomCase(seed, 4, 3);
    for (const allowed of [null, IOB2]) {
      const r = kernelRun(c, labelsOf(c.T), allowed);
      const js = viterbi(c.emissions, LENGTHS, c.T, K, c.p, allowed);
      for (let b = 0; b < LENGTHS.length; b++) {
        const best = bruteBest(c, b, allowed);
        assert.deepEqual(
          Array.from(r.predictions.subarray(b * c.T, b * c.T + LENGTHS[b])),
          best,
          `seed ${seed} row ${b}`,
        );
        assert.deepEqual(
          Array.from(js.subarray(b * c.T, b * c.T + LENGTHS[b])),
          best,
          `JS viterbi, seed ${seed} row ${b}`,
        );
        for (let t = LENGTHS[b]; t < c.T; t++) assert.equal(r.predictions[b * c.T + t], 0, 'padding predicts 0');
      }
    }
  }
});

test('with the constraint every decoded sequence is valid IOB2, even when the scores push for I- after O', () => {
  const rand = mulberry32(12);
  let invalidUnconstrained = 0;
  for (let trial = 0; trial < 40; trial++) {
    const c = randomCase(100 + trial, 4, 4);
    // emissions that love I- tags, transitions that love O → I-
    for (let i = 0; i < c.emissions.length; i += K) c.emissions[i + 2 + 2 * Math.floor(rand() * 2)] += 5;
    c.p.transitions[0 * K + 2] = 8;
    c.p.transitions[0 * K + 4] = 8;
    const free = kernelRun(c, labelsOf(c.T), null).predictions;
    const held = kernelRun(c, labelsOf(c.T), IOB2).predictions;
    for (let b = 0; b < LENGTHS.length; b++) {
      const row = (p: Int32Array) => Array.from(p.subarray(b * c.T, b * c.T + LENGTHS[b]));
      if (!pathAllowed(row(free), IOB2, K)) invalidUnconstrained++;
      assert.ok(
        pathAllowed(row(held), IOB2, K),
        `trial ${trial} row ${b}: ${row(held)
          .map((y) => TAGS[y])
          .join(' ')}`,
      );
    }
  }
  assert.ok(invalidUnconstrained > 10, `the test has teeth: ${invalidUnconstrained} unconstrained rows were invalid`);
});

test('padding invariance: more padded steps change neither the loss, the gradients nor the path', () => {
  const c = randomCase(13);
  const wide: Case = { T: 7, p: c.p, emissions: new Float64Array(LENGTHS.length * 7 * K) };
  const rand = mulberry32(14);
  for (let b = 0; b < LENGTHS.length; b++)
    for (let t = 0; t < 7; t++)
      for (let k = 0; k < K; k++) {
        // garbage on padding must not matter either
        wide.emissions[(b * 7 + t) * K + k] = t < LENGTHS[b] ? c.emissions[(b * 4 + t) * K + k] : rand() * 50;
      }
  const a = kernelRun(c, labelsOf(4), IOB2);
  const w = kernelRun(wide, labelsOf(7), IOB2);
  assert.ok(Math.abs(a.loss - w.loss) < 1e-6, `${a.loss} vs ${w.loss}`);
  assert.deepEqual(Array.from(w.dtr), Array.from(a.dtr));
  assert.deepEqual(Array.from(w.dstart), Array.from(a.dstart));
  assert.deepEqual(Array.from(w.dend), Array.from(a.dend));
  for (let b = 0; b < LENGTHS.length; b++)
    for (let t = 0; t < 7; t++)
      for (let k = 0; k < K; k++) {
        assert.equal(w.demis[(b * 7 + t) * K + k], t < LENGTHS[b] ? a.demis[(b * 4 + t) * K + k] : 0);
      }
  for (let b = 0; b < LENGTHS.length; b++)
    assert.deepEqual(
      Array.from(w.predictions.subarray(b * 7, b * 7 + LENGTHS[b])),
      Array.from(a.predictions.subarray(b * 4, b * 4 + LENGTHS[b])),
    );
});

type CrfPart = 'emissions' | 'transitions' | 'start' | 'end';

/** The independent CRF in TF.js ops on a case: its loss and the autodiff gradients of the parts named. */
function tfNllGrads(c: Case, allowed: Int32Array | null, parts: CrfPart[]) {
  const vars = {
    transitions: tf.variable(tf.tensor2d(Float32Array.from(c.p.transitions), [K, K])),
    start: tf.variable(tf.tensor1d(Float32Array.from(c.p.start))),
    end: tf.variable(tf.tensor1d(Float32Array.from(c.p.end))),
  };
  const emissions = tf.variable(tf.tensor3d(Float32Array.from(c.emissions), [LENGTHS.length, c.T, K]));
  const of: Record<CrfPart, tf.Variable> = { emissions, ...vars };
  const { value, grads } = tf.variableGrads(
    () => crfNllTf(emissions, labelsOf(c.T), LENGTHS, vars, allowed),
    parts.map((p) => of[p]),
  );
  const out = { loss: value.dataSync()[0], grads: new Map(parts.map((p) => [p, grads[of[p].name].dataSync()])) };
  tf.dispose([value, ...Object.values(grads), emissions, ...Object.values(vars)]);
  return out;
}

/** The kernel's gradients of the parts named equal TF.js's entry by entry, to `tol`. */
function assertSameCrfGrads(
  ours: ReturnType<typeof kernelRun>,
  theirs: ReturnType<typeof tfNllGrads>,
  tol: number,
  context: string,
): void {
  const kernel: Record<CrfPart, ArrayLike<number>> = {
    emissions: ours.demis,
    transitions: ours.dtr,
    start: ours.dstart,
    end: ours.dend,
  };
  for (const [name, t] of theirs.grads) {
    const g = kernel[name];
    for (let i = 0; i < t.length; i++)
      assert.ok(Math.abs(g[i] - t[i]) < tol, `${name}[${i}]: kernel ${g[i]} vs TF.js ${t[i]} (${context})`);
  }
}

test('the kernel agrees with an independent CRF written in TF.js ops: same loss, autodiff gradients equal', () => {
  // the last two: scores up to ±60, where states are reached only from far less likely ones (the kernel's
  // rescaled products would overflow there, so it must take its term-by-term path)
  for (const [allowed, spread] of [
    [null, 2],
    [IOB2, 2],
    [null, 60],
    [IOB2, 60],
  ] as const) {
    const c = randomCase(15, 4, spread);
    const ours = kernelRun(c, labelsOf(c.T), allowed);
    const theirs = tfNllGrads(c, allowed, ['emissions', 'transitions', 'start', 'end']);
    assert.ok(
      Math.abs(theirs.loss - ours.loss) < 1e-4 * Math.abs(theirs.loss),
      `loss ${ours.loss} vs TF.js ${theirs.loss}`,
    );
    assertSameCrfGrads(ours, theirs, spread > 2 ? 1e-4 : 1e-5, `constrained ${!!allowed}, spread ${spread}`);
  }
});

test('a tag reached only from a far less likely one (scores ±100) keeps its exact marginals: kernel = TF.js = brute force', () => {
  // row 0: O scores 100 at t = 0, I-a scores 100 at t = 1: the path B-a I-a is as likely as O O, but B-a is
  // e^−100 less likely than O at t = 0, so rescaling by the step's maximum would lose it
  for (const allowed of [null, IOB2]) {
    const c = randomCase(16);
    const e = (t: number, k: number, v: number) => (c.emissions[t * K + k] = v);
    for (let k = 0; k < K; k++) {
      e(0, k, -100);
      for (const t of [1, 2, 3]) e(t, k, 0);
    }
    e(0, 0, 100);
    e(0, 1, 0);
    e(1, 2, 100);
    const ours = kernelRun(c, labelsOf(c.T), allowed);
    const brute = bruteNll(c, GOLD, allowed);
    assert.ok(Math.abs(ours.loss - brute) < 1e-4 * brute, `loss ${ours.loss} vs brute force ${brute}`);
    assertSameCrfGrads(ours, tfNllGrads(c, allowed, ['emissions', 'transitions']), 1e-4, `constrained ${!!allowed}`);
  }
});

test('crfNll without gold tags (labels = 0) gives the tag marginals of every token, equal to brute force; constrained ones too', () => {
  const c = randomCase(17);
  const { T } = c;
  const B = LENGTHS.length;
  for (const allowed of [null, IOB2]) {
    const kern = new Kernel();
    const emis = kern.alloc(T * B * K);
    const lengths = kern.alloc(B);
    const [tr, st, en] = [kern.alloc(K * K), kern.alloc(K), kern.alloc(K)];
    const al = allowed ? kern.alloc(allowed.length) : 0;
    const [dtr, dst, den] = [kern.alloc(K * K), kern.alloc(K), kern.alloc(K)];
    const work = kern.alloc(kern.k.crfScratch(T, K));
    const e = kern.f32(emis, T * B * K);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) e[(t * B + b) * K + k] = c.emissions[(b * T + t) * K + k];
    kern.i32(lengths, B).set(LENGTHS);
    kern.f32(tr, K * K).set(c.p.transitions);
    kern.f32(st, K).set(c.p.start);
    kern.f32(en, K).set(c.p.end);
    if (allowed) kern.i32(al, allowed.length).set(allowed);
    assert.equal(kern.k.crfNll(emis, 0, lengths, T, B, K, tr, st, en, al, 1, 1, dtr, dst, den, work), 0);
    const p = kern.f32(emis, T * B * K);
    for (let b = 0; b < B; b++) {
      const n = LENGTHS[b];
      const marg = new Float64Array(n * K);
      let z = 0;
      for (const y of paths(n)) {
        if (allowed && !pathAllowed(y, allowed, K)) continue;
        const w = Math.exp(score(c, b, y));
        z += w;
        y.forEach((v, t) => (marg[t * K + v] += w));
      }
      for (let t = 0; t < T; t++)
        for (let k = 0; k < K; k++) {
          const want = t < n ? marg[t * K + k] / z : 0;
          assert.ok(
            Math.abs(p[(t * B + b) * K + k] - want) < 1e-5,
            `row ${b} t ${t} tag ${k}: ${p[(t * B + b) * K + k]} vs ${want}`,
          );
        }
      if (allowed && n) for (const k of [2, 4]) assert.equal(p[b * K + k], 0, 'no I- first');
    }
  }
});

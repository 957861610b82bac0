import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Mulberry32, mulberry32 } from './rng.js';

test('mulberry32: the known first draws of seed 42; Mulberry32 continues from a saved state', () => {
  const r = mulberry32(42);
  const first = [r(), r(), r()];
  const again = mulberry32(42);
  assert.deepEqual([again(), again(), again()], first);
  assert.ok(first.every((x) => x >= 0 && x < 1));
  const g = new Mulberry32(42);
  g.next();
  const resumed = new Mulberry32(0);
  resumed.state = g.state;
  assert.equal(resumed.next(), first[1]);
});

test('maskInto draws what next() draws (same masks, same state after), 0 below p and keep above', () => {
  for (const [n, p] of [
    [5000, 0.5],
    [777, 0.1],
    [64, 0.9],
    [1, 0.25],
    [0, 0.5],
  ]) {
    const keep = 1 / (1 - p);
    const a = new Mulberry32(7 + n);
    const b = new Mulberry32(7 + n);
    const want = Float32Array.from({ length: n }, () => (a.next() < p ? 0 : keep));
    const got = new Float32Array(n);
    b.maskInto(got, p, keep);
    assert.ok(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `n ${n}, p ${p}`);
    assert.equal(b.state, a.state);
    if (n > 100) {
      const dropped = got.filter((x) => x === 0).length / n;
      assert.ok(Math.abs(dropped - p) < 0.06, `dropped ${dropped} of ${n} at p ${p}`);
    }
  }
});

test('Mulberry32.skip(n) leaves the state n draws leave', () => {
  for (const [seed, n] of [
    [42, 0],
    [42, 1],
    [7, 9_600],
    [0xffffffff, 123_457],
  ]) {
    const drawn = new Mulberry32(seed);
    for (let i = 0; i < n; i++) drawn.next();
    const skipped = new Mulberry32(seed);
    skipped.skip(n);
    assert.equal(skipped.state, drawn.state, `seed ${seed}, ${n} draws`);
  }
});

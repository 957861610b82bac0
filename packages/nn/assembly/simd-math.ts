// SIMD math shared by the kernel's modules (lstm.ts, crf.ts, infer.ts): one copy of each formula, inlined where it is used.
// Nothing here is exported from the wasm module (lstm.ts does not re-export this file).

// exp in f32x4 (Cephes expf: range reduction by ln 2, degree-6 polynomial, 2^n from the exponent bits).
// Written for the instructions V8 emits on x64 (same results as the plain form, bit for bit, on every input):
// - the clamp is pmax/pmin (one maxps/minps each) where max/min cost ~8 instructions for NaN and ±0 rules
//   that cannot matter here: the bounds are not zero, and a NaN input stays NaN either way;
// - n = fx (an integer in [−126, 127]) is read from the bits of fx + 1.5·2²³, which is exact for |n| < 2²²,
//   instead of a saturating float → int conversion (~6 instructions on x64 without AVX-512).
const EXP_MAGIC: f32 = 12582912.0; // 1.5·2²³: fx + EXP_MAGIC has the bits 0x4B400000 + n
@inline
export function vexp(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  let fx = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(0.5)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, x), x), x), f32x4.splat(1));
  const pow2 = i32x4.shl(i32x4.add(f32x4.add(fx, f32x4.splat(EXP_MAGIC)), i32x4.splat(127 - 0x4b400000)), 23);
  return f32x4.mul(y, pow2);
}

// sigmoid and tanh from vexp (the LSTM's gates in training, lstm.ts, and in inference, infer.ts: the same bits)
@inline
export function vsigmoid(x: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), vexp(f32x4.neg(x))));
}

@inline
export function vtanh(x: v128): v128 {
  return f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(f32x4.splat(1), vexp(f32x4.add(x, x)))));
}

// in place over n floats; the tail goes through the same vector formula, one lane used
export function sigmoidRange(p: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(p + (<usize>i << 2), vsigmoid(v128.load(p + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(p + (<usize>i << 2), f32x4.extract_lane(vsigmoid(f32x4.splat(load<f32>(p + (<usize>i << 2)))), 0));
}

export function tanhRange(p: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(p + (<usize>i << 2), vtanh(v128.load(p + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(p + (<usize>i << 2), f32x4.extract_lane(vtanh(f32x4.splat(load<f32>(p + (<usize>i << 2)))), 0));
}

// nerflow's BiLSTM kernel: AssemblyScript compiled to WebAssembly SIMD (npm run build:wasm -w @nerflow/nn).
// All arrays are f32 (or i32) in the module's memory, addressed by byte pointers that the caller lays out
// (packages/nn/src/kernel.ts). Matrices are row-major. Gate order is Keras': i, f, c (called g), o.
// One direction of the LSTM per call; the caller runs the forward and the backward direction.

export * from './crf';
import { sigmoidRange, tanhRange, vsigmoid, vtanh } from './simd-math';

/** Where free memory starts: below it sit the module's static data (Mathf's exp/log tables). */
export function heapBase(): usize {
  return __heap_base;
}

// ---------------------------------------------------------------------------------------------- GEMM

/**
 * s + x·y on 4 lanes. Built twice (build-wasm.mjs): without relaxed SIMD it is a multiply then an add,
 * two roundings, the same on every CPU; with it (lstm-fma.wasm) a fused multiply-add where the CPU has one,
 * which halves the instructions of the GEMM's inner loop (one rounding: results differ in the last bits).
 */
@inline
function madd(x: v128, y: v128, s: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(x, y, s);
  return f32x4.add(s, f32x4.mul(x, y));
}

/** Bytes of B one pass of the GEMM streams per block of rows: kept in a typical L2 (256 KiB of 512 KiB–2 MiB). */
const GEMM_PANEL_BYTES: i32 = 256 * 1024;

/**
 * C[i·ldc + j] (+)= Σ_k A[i·sai + k·sak] · B[k·ldb + j] for i < M, j < N, k < K.
 * A is read by element (any strides: plain, or transposed with sai = 1), B and C by rows of 4-wide
 * vectors. Blocks of 4 rows × 8 columns keep 8 accumulators in registers; tails are handled below.
 * K is cut into panels whose rows of B fit in L2 (the weight gradients have K = every token of the batch):
 * each panel adds onto C in k order, so the sums are the same to the bit as in one pass.
 */
export function gemm(a: usize, sai: i32, sak: i32, b: usize, ldb: i32, c: usize, ldc: i32, M: i32, K: i32, N: i32, acc: i32): void {
  gemmFrom(a, sai, sak, b, ldb, c, ldc, M, K, N, acc, 0);
}

/**
 * C[i·ldc + j] = bias[j] + Σ_k A[i·sai + k·sak] · B[k·ldb + j]: gemm whose sums start from a row vector instead of
 * C (the bias copied into every row of C, then gemm with acc = 1: the same bits without writing and reading C).
 */
export function gemmBias(a: usize, sai: i32, sak: i32, b: usize, ldb: i32, c: usize, ldc: i32, M: i32, K: i32, N: i32, bias: usize): void {
  gemmFrom(a, sai, sak, b, ldb, c, ldc, M, K, N, 0, bias);
}

/** gemm's sums start from C (acc = 1), else from bias[j] (bias ≠ 0), else from 0. */
function gemmFrom(a: usize, sai: i32, sak: i32, b: usize, ldb: i32, c: usize, ldc: i32, M: i32, K: i32, N: i32, acc: i32, bias: usize): void {
  const kc = max(16, GEMM_PANEL_BYTES / (max(N, 1) << 2));
  for (let k0 = 0; k0 < K; k0 += kc) {
    gemmPanel(a + ((<usize>k0 * sak) << 2), sai, sak, b + ((<usize>k0 * ldb) << 2), ldb, c, ldc, M, min(kc, K - k0), N, k0 > 0 ? 1 : acc, k0 > 0 ? 0 : bias);
  }
  if (K <= 0 && !acc) gemmPanel(a, sai, sak, b, ldb, c, ldc, M, 0, N, 0, bias);
}

function gemmPanel(a: usize, sai: i32, sak: i32, b: usize, ldb: i32, c: usize, ldc: i32, M: i32, K: i32, N: i32, acc: i32, bias: usize): void {
  const ai = <usize>sai << 2;
  const ak = <usize>sak << 2;
  const bk = <usize>ldb << 2;
  const cr = <usize>ldc << 2;
  const N8 = N & ~7;
  const N4 = N & ~3;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = a + <usize>i * ai;
    const a1 = a0 + ai;
    const a2 = a1 + ai;
    const a3 = a2 + ai;
    const c0 = c + <usize>i * cr;
    const c1 = c0 + cr;
    const c2 = c1 + cr;
    const c3 = c2 + cr;
    let j = 0;
    for (; j < N8; j += 8) {
      const jo = <usize>j << 2;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
      let s20 = f32x4.splat(0), s21 = f32x4.splat(0), s30 = f32x4.splat(0), s31 = f32x4.splat(0);
      if (acc) {
        s00 = v128.load(c0 + jo); s01 = v128.load(c0 + jo, 16);
        s10 = v128.load(c1 + jo); s11 = v128.load(c1 + jo, 16);
        s20 = v128.load(c2 + jo); s21 = v128.load(c2 + jo, 16);
        s30 = v128.load(c3 + jo); s31 = v128.load(c3 + jo, 16);
      } else if (bias) {
        s00 = v128.load(bias + jo); s01 = v128.load(bias + jo, 16);
        s10 = s00; s11 = s01; s20 = s00; s21 = s01; s30 = s00; s31 = s01;
      }
      let bp = b + jo;
      let ko: usize = 0;
      // A's elements load straight into all four lanes (load32_splat: one instruction; a load then a splat is two,
      // the splat on a vector port the multiply-adds need): ~10% faster here
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(bp);
        const b1 = v128.load(bp, 16);
        let x = v128.load32_splat(a0 + ko);
        s00 = madd(x, b0, s00); s01 = madd(x, b1, s01);
        x = v128.load32_splat(a1 + ko);
        s10 = madd(x, b0, s10); s11 = madd(x, b1, s11);
        x = v128.load32_splat(a2 + ko);
        s20 = madd(x, b0, s20); s21 = madd(x, b1, s21);
        x = v128.load32_splat(a3 + ko);
        s30 = madd(x, b0, s30); s31 = madd(x, b1, s31);
        bp += bk;
        ko += ak;
      }
      v128.store(c0 + jo, s00); v128.store(c0 + jo, s01, 16);
      v128.store(c1 + jo, s10); v128.store(c1 + jo, s11, 16);
      v128.store(c2 + jo, s20); v128.store(c2 + jo, s21, 16);
      v128.store(c3 + jo, s30); v128.store(c3 + jo, s31, 16);
    }
    for (; j < N4; j += 4) {
      const jo = <usize>j << 2;
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      if (acc) {
        s0 = v128.load(c0 + jo); s1 = v128.load(c1 + jo); s2 = v128.load(c2 + jo); s3 = v128.load(c3 + jo);
      } else if (bias) {
        s0 = v128.load(bias + jo); s1 = s0; s2 = s0; s3 = s0;
      }
      let bp = b + jo;
      let ko: usize = 0;
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(bp);
        s0 = madd(v128.load32_splat(a0 + ko), b0, s0);
        s1 = madd(v128.load32_splat(a1 + ko), b0, s1);
        s2 = madd(v128.load32_splat(a2 + ko), b0, s2);
        s3 = madd(v128.load32_splat(a3 + ko), b0, s3);
        bp += bk;
        ko += ak;
      }
      v128.store(c0 + jo, s0); v128.store(c1 + jo, s1); v128.store(c2 + jo, s2); v128.store(c3 + jo, s3);
    }
    if (j < N) {
      // the last 1–3 columns: the 4 rows in the 4 lanes, one accumulator per column, so the columns' chains
      // of additions overlap; each lane adds a(i, k)·b(k, j) in k order, as a scalar loop would
      const nt = N - j;
      const jo = <usize>j << 2;
      let t0 = f32x4.splat(0), t1 = f32x4.splat(0), t2 = f32x4.splat(0);
      if (acc) {
        t0 = lanes(c0 + jo, c1 + jo, c2 + jo, c3 + jo);
        if (nt > 1) t1 = lanes(c0 + jo + 4, c1 + jo + 4, c2 + jo + 4, c3 + jo + 4);
        if (nt > 2) t2 = lanes(c0 + jo + 8, c1 + jo + 8, c2 + jo + 8, c3 + jo + 8);
      } else if (bias) {
        t0 = v128.load32_splat(bias + jo);
        if (nt > 1) t1 = v128.load32_splat(bias + jo, 4);
        if (nt > 2) t2 = v128.load32_splat(bias + jo, 8);
      }
      let bp = b + jo;
      let ko: usize = 0;
      for (let k = 0; k < K; k++) {
        const av = lanes(a0 + ko, a1 + ko, a2 + ko, a3 + ko);
        t0 = madd(av, v128.load32_splat(bp), t0);
        if (nt > 1) t1 = madd(av, v128.load32_splat(bp, 4), t1);
        if (nt > 2) t2 = madd(av, v128.load32_splat(bp, 8), t2);
        bp += bk;
        ko += ak;
      }
      storeLanes(t0, c0 + jo, c1 + jo, c2 + jo, c3 + jo);
      if (nt > 1) storeLanes(t1, c0 + jo + 4, c1 + jo + 4, c2 + jo + 4, c3 + jo + 4);
      if (nt > 2) storeLanes(t2, c0 + jo + 8, c1 + jo + 8, c2 + jo + 8, c3 + jo + 8);
    }
  }
  for (; i < M; i++) {
    const a0 = a + <usize>i * ai;
    const c0 = c + <usize>i * cr;
    let j = 0;
    // the last 1–3 rows: 16 columns at a time, four independent chains of multiply-adds (one chain alone waits
    // on each one's latency), then 4 at a time
    for (; j + 16 <= N; j += 16) {
      const jo = <usize>j << 2;
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      if (acc) {
        s0 = v128.load(c0 + jo); s1 = v128.load(c0 + jo, 16); s2 = v128.load(c0 + jo, 32); s3 = v128.load(c0 + jo, 48);
      } else if (bias) {
        s0 = v128.load(bias + jo); s1 = v128.load(bias + jo, 16); s2 = v128.load(bias + jo, 32); s3 = v128.load(bias + jo, 48);
      }
      let bp = b + jo;
      let ko: usize = 0;
      for (let k = 0; k < K; k++) {
        const x = v128.load32_splat(a0 + ko);
        s0 = madd(x, v128.load(bp), s0);
        s1 = madd(x, v128.load(bp, 16), s1);
        s2 = madd(x, v128.load(bp, 32), s2);
        s3 = madd(x, v128.load(bp, 48), s3);
        bp += bk;
        ko += ak;
      }
      v128.store(c0 + jo, s0); v128.store(c0 + jo, s1, 16); v128.store(c0 + jo, s2, 32); v128.store(c0 + jo, s3, 48);
    }
    for (; j < N4; j += 4) {
      const jo = <usize>j << 2;
      let s0 = acc ? v128.load(c0 + jo) : bias ? v128.load(bias + jo) : f32x4.splat(0);
      let bp = b + jo;
      let ko: usize = 0;
      for (let k = 0; k < K; k++) {
        s0 = madd(v128.load32_splat(a0 + ko), v128.load(bp), s0);
        bp += bk;
        ko += ak;
      }
      v128.store(c0 + jo, s0);
    }
    for (; j < N; j++) gemmScalar(a0, ak, b + (<usize>j << 2), bk, c0 + (<usize>j << 2), K, acc, bias ? bias + (<usize>j << 2) : 0);
  }
}

/** Four floats from four addresses, in lanes 0–3. */
@inline
function lanes(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  let v = f32x4.splat(load<f32>(p0));
  v = f32x4.replace_lane(v, 1, load<f32>(p1));
  v = f32x4.replace_lane(v, 2, load<f32>(p2));
  return f32x4.replace_lane(v, 3, load<f32>(p3));
}

@inline
function storeLanes(v: v128, p0: usize, p1: usize, p2: usize, p3: usize): void {
  store<f32>(p0, f32x4.extract_lane(v, 0));
  store<f32>(p1, f32x4.extract_lane(v, 1));
  store<f32>(p2, f32x4.extract_lane(v, 2));
  store<f32>(p3, f32x4.extract_lane(v, 3));
}

/** One element of C: c (+)= Σ_k a[k·ak] · b[k·bk] (byte strides). */
@inline
function gemmScalar(a: usize, ak: usize, b: usize, bk: usize, c: usize, K: i32, acc: i32, bias: usize): void {
  let s: f32 = acc ? load<f32>(c) : bias ? load<f32>(bias) : 0;
  for (let k = 0; k < K; k++) {
    s += load<f32>(a) * load<f32>(b);
    a += ak;
    b += bk;
  }
  store<f32>(c, s);
}

/** out[c·R + r] = x[r·C + c]: an [R, C] matrix transposed to [C, R]. */
export function transpose(x: usize, out: usize, R: i32, C: i32): void {
  transposeLd(x, out, R, C, R);
}

/** out[c·ldo + r] = x[r·C + c]: an [R, C] matrix transposed to [C, R], its rows ldo ≥ R apart (the gap not written). */
function transposeLd(x: usize, out: usize, R: i32, C: i32, ldo: i32): void {
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) store<f32>(out + ((<usize>c * ldo + r) << 2), load<f32>(x + ((<usize>r * C + c) << 2)));
  }
}

/** out[j] (+)= Σ_r x[r·N + j]: column sums of an [R, N] matrix. */
export function colSum(x: usize, out: usize, R: i32, N: i32, acc: i32): void {
  if (!acc) memory.fill(out, 0, <usize>N << 2);
  const N4 = N & ~3;
  for (let r = 0; r < R; r++) {
    const row = x + ((<usize>r * N) << 2);
    let j = 0;
    for (; j < N4; j += 4) {
      const o = <usize>j << 2;
      v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(row + o)));
    }
    for (; j < N; j++) store<f32>(out + (<usize>j << 2), load<f32>(out + (<usize>j << 2)) + load<f32>(row + (<usize>j << 2)));
  }
}

/** Every row of an [R, N] matrix set to v[0..N). */
export function fillRows(out: usize, v: usize, R: i32, N: i32): void {
  const bytes = <usize>N << 2;
  for (let r = 0; r < R; r++) memory.copy(out + <usize>r * bytes, v, bytes);
}

// -------------------------------------------------------------------------------------- activations

/** Element-wise tanh of n floats into out (vector formula; exported for the accuracy test). */
export function tanhInto(x: usize, out: usize, n: i32): void {
  memory.copy(out, x, <usize>n << 2);
  tanhRange(out, n);
}

/** Element-wise sigmoid of n floats into out (exported for the accuracy test). */
export function sigmoidInto(x: usize, out: usize, n: i32): void {
  memory.copy(out, x, <usize>n << 2);
  sigmoidRange(out, n);
}

// --------------------------------------------------------------------------------------------- LSTM

/**
 * One direction of an LSTM over T steps of a batch of B rows, time-major: row t·B + r is step t of row r.
 * x [T·B, E] inputs; wx [E, 4H], wh [H, 4H], bias [4H]; rmask [B, H] recurrent dropout (0 = none).
 * Writes gates [T·B, 4H] (after their activations), cell [T·B, H], tc = tanh(cell) [T·B, H], h [T·B, H]
 * and hin [T·B, H] = the masked h(t−1) that entered step t (zeros at t = 0), which backward needs.
 */
export function lstmForward(x: usize, wx: usize, wh: usize, bias: usize, rmask: usize, T: i32, B: i32, E: i32, H: i32,
  gates: usize, cell: usize, tc: usize, h: usize, hin: usize): void {
  const G = 4 * H;
  const TB = T * B;
  gemmBias(x, E, 1, wx, G, gates, G, TB, E, G, bias);
  const stepG = (<usize>B * G) << 2;
  const stepH = (<usize>B * H) << 2;
  memory.fill(hin, 0, stepH);
  for (let t = 0; t < T; t++) {
    const gt = gates + <usize>t * stepG;
    const ht = hin + <usize>t * stepH;
    if (t > 0) {
      const hprev = h + <usize>(t - 1) * stepH;
      if (rmask) mulInto(hprev, rmask, ht, B * H);
      else memory.copy(ht, hprev, stepH);
      gemm(ht, H, 1, wh, G, gt, G, B, H, G, 1);
    }
    const ct = cell + <usize>t * stepH;
    const tct = tc + <usize>t * stepH;
    const hot = h + <usize>t * stepH;
    for (let r = 0; r < B; r++) {
      const row = gt + ((<usize>r * G) << 2);
      const hb = <usize>H << 2;
      const ro = (<usize>r * H) << 2;
      const cp = t > 0 ? cell + <usize>(t - 1) * stepH + ro : 0;
      // each unit's four gates activated (stored: backward reads them) and its cell and output, in one pass over
      // the row: the same operations per element as activating the gates first, so the same bits
      let u = 0;
      for (; u + 4 <= H; u += 4) {
        const o = <usize>u << 2;
        const i = vsigmoid(v128.load(row + o));
        const f = vsigmoid(v128.load(row + hb + o));
        const g = vtanh(v128.load(row + 2 * hb + o));
        const og = vsigmoid(v128.load(row + 3 * hb + o));
        v128.store(row + o, i);
        v128.store(row + hb + o, f);
        v128.store(row + 2 * hb + o, g);
        v128.store(row + 3 * hb + o, og);
        const ig = f32x4.mul(i, g);
        const c = cp ? f32x4.add(f32x4.mul(f, v128.load(cp + o)), ig) : ig;
        v128.store(ct + ro + o, c);
        const th = vtanh(c);
        v128.store(tct + ro + o, th);
        v128.store(hot + ro + o, f32x4.mul(og, th));
      }
      for (; u < H; u++) {
        const o = <usize>u << 2;
        const i = lane0(vsigmoid(f32x4.splat(load<f32>(row + o))));
        const f = lane0(vsigmoid(f32x4.splat(load<f32>(row + hb + o))));
        const g = lane0(vtanh(f32x4.splat(load<f32>(row + 2 * hb + o))));
        const og = lane0(vsigmoid(f32x4.splat(load<f32>(row + 3 * hb + o))));
        store<f32>(row + o, i);
        store<f32>(row + hb + o, f);
        store<f32>(row + 2 * hb + o, g);
        store<f32>(row + 3 * hb + o, og);
        const ig = i * g;
        const c = cp ? f * load<f32>(cp + o) + ig : ig;
        store<f32>(ct + ro + o, c);
        const th = lane0(vtanh(f32x4.splat(c)));
        store<f32>(tct + ro + o, th);
        store<f32>(hot + ro + o, og * th);
      }
    }
  }
}

@inline
function lane0(v: v128): f32 {
  return f32x4.extract_lane(v, 0);
}

/**
 * Backpropagation through time for one direction, from dh [T·B, H] (the loss gradient reaching each h(t)
 * from the output layer). Uses what lstmForward saved. Writes dz [T·B, 4H] (pre-activation gate gradients),
 * dx [T·B, E], and accumulates (acc = 1) or sets the weight gradients dwx [E, 4H], dwh [H, 4H], dbias [4H].
 * Scratch: whT [4H, H], wxT [4H, E4] (E4 = E rounded up to a multiple of 4: its rows start 16-byte aligned, so the
 * GEMM's vector loads of them never straddle a cache line), dhn [B, H], dcn [B, H].
 */
export function lstmBackward(dh: usize, x: usize, wx: usize, wh: usize, rmask: usize, T: i32, B: i32, E: i32, H: i32,
  gates: usize, cell: usize, tc: usize, hin: usize,
  dz: usize, dx: usize, dwx: usize, dwh: usize, dbias: usize,
  whT: usize, wxT: usize, dhn: usize, dcn: usize): void {
  bptt(dh, wx, wh, rmask, T, B, E, H, gates, cell, tc, dz, whT, wxT, dhn, dcn);
  const G = 4 * H;
  const stepG = (<usize>B * G) << 2;
  const stepH = (<usize>B * H) << 2;
  gemm(x, 1, E, dz, G, dwx, G, E, T * B, G, 1);
  // hin is zero at t = 0 (no h(−1)): its B rows add only zeros to dwh, so the sum starts at t = 1, the same bits
  gemm(hin + stepH, 1, H, dz + stepG, G, dwh, G, H, (T - 1) * B, G, 1);
  colSum(dz, dbias, T * B, G, 1);
  gemm(dz, G, 1, wxT, wxTStride(E), dx, E, T * B, G, E, 0);
}

/**
 * lstmBackward for two threads, one direction each, that share the work after BPTT. `work` holds two 64-byte
 * records (zeroed by the caller), one per direction: `self` (0 or 1) is this call's. After its BPTT this call
 * describes its direction's remaining products (dbias, dwx and dwh by blocks of rows, dx by blocks of 32 token rows)
 * in its record and marks it ready; it then takes blocks from its own record's counter until none is left, and
 * then, if the other direction is ready, helps with that one's. Whichever thread computes a block, it is the same
 * code on the same rows (row blocks cut at multiples of 4, the GEMM's own blocks), so the results are the same to
 * the bit as lstmBackward's; the thread that reached this point first takes the blocks the other has not.
 * One thread running both calls in turn (self 0, then 1) does all of direction 0, then all of direction 1.
 * The weight gradients are final only when both calls have returned (a barrier), not when one has.
 */
export function lstmBackwardShared(dh: usize, x: usize, wx: usize, wh: usize, rmask: usize, T: i32, B: i32, E: i32,
  H: i32, gates: usize, cell: usize, tc: usize, hin: usize,
  dz: usize, dx: usize, dwx: usize, dwh: usize, dbias: usize,
  whT: usize, wxT: usize, dhn: usize, dcn: usize, work: usize, self: i32): void {
  bptt(dh, wx, wh, rmask, T, B, E, H, gates, cell, tc, dz, whT, wxT, dhn, dcn);
  const mine = work + (<usize>self << 6);
  store<i32>(mine, <i32>x, W_X << 2);
  store<i32>(mine, <i32>hin, W_HIN << 2);
  store<i32>(mine, <i32>dz, W_DZ << 2);
  store<i32>(mine, <i32>wxT, W_WXT << 2);
  store<i32>(mine, <i32>dx, W_DX << 2);
  store<i32>(mine, <i32>dwx, W_DWX << 2);
  store<i32>(mine, <i32>dwh, W_DWH << 2);
  store<i32>(mine, <i32>dbias, W_DBIAS << 2);
  store<i32>(mine, T, W_T << 2);
  store<i32>(mine, B, W_B << 2);
  store<i32>(mine, E, W_E << 2);
  store<i32>(mine, H, W_H << 2);
  atomic.store<i32>(mine, 1); // ready: the record and dz are written (a sequentially consistent store)
  takeBlocks(mine);
  const other = work + (<usize>(1 - self) << 6);
  if (atomic.load<i32>(other) == 1) takeBlocks(other);
}

// a direction's record in lstmBackwardShared's work area (i32 words): ready, next block, then the pointers and sizes
const W_NEXT = 1;
const W_X = 2;
const W_HIN = 3;
const W_DZ = 4;
const W_WXT = 5;
const W_DX = 6;
const W_DWX = 7;
const W_DWH = 8;
const W_DBIAS = 9;
const W_T = 10;
const W_B = 11;
const W_E = 12;
const W_H = 13;
/** wxT's row stride: E rounded up to a multiple of 4 floats (lstmBackward's scratch contract). */
@inline
function wxTStride(E: i32): i32 {
  return (E + 3) & ~3;
}

/** Rows of dwx and dwh per block (a multiple of 4), and token rows of dx per block. */
const GRAD_ROWS = 8;
const DX_ROWS = 32;

/** Blocks of one direction's record, taken one at a time from its counter until none is left. */
function takeBlocks(rec: usize): void {
  const T = load<i32>(rec, W_T << 2);
  const B = load<i32>(rec, W_B << 2);
  const E = load<i32>(rec, W_E << 2);
  const H = load<i32>(rec, W_H << 2);
  const G = 4 * H;
  const TB = T * B;
  const nx = (E + GRAD_ROWS - 1) / GRAD_ROWS;
  const nh = (H + GRAD_ROWS - 1) / GRAD_ROWS;
  const nd = (TB + DX_ROWS - 1) / DX_ROWS;
  const dz = <usize>load<i32>(rec, W_DZ << 2);
  for (;;) {
    let c = atomic.add<i32>(rec + (W_NEXT << 2), 1);
    if (c == 0) {
      colSum(dz, <usize>load<i32>(rec, W_DBIAS << 2), TB, G, 1);
      continue;
    }
    c -= 1;
    if (c < nx) {
      gradRows(<usize>load<i32>(rec, W_X << 2), E, dz, <usize>load<i32>(rec, W_DWX << 2), G, c * GRAD_ROWS, TB);
      continue;
    }
    c -= nx;
    if (c < nh) {
      // from t = 1, as lstmBackward (hin is zero at t = 0)
      const hin = <usize>load<i32>(rec, W_HIN << 2) + ((<usize>B * H) << 2);
      gradRows(hin, H, dz + ((<usize>B * G) << 2), <usize>load<i32>(rec, W_DWH << 2), G, c * GRAD_ROWS, TB - B);
      continue;
    }
    c -= nh;
    if (c < nd) {
      const r0 = c * DX_ROWS;
      const wxT = <usize>load<i32>(rec, W_WXT << 2);
      const dx = <usize>load<i32>(rec, W_DX << 2);
      gemm(dz + ((<usize>r0 * G) << 2), G, 1, wxT, wxTStride(E), dx + ((<usize>r0 * E) << 2), E, min(DX_ROWS, TB - r0), G, E, 0);
      continue;
    }
    break;
  }
}

/** Rows [i0, i0 + GRAD_ROWS) of a weight gradient dw [n, G] += aᵀ · dz over K token rows (a [K, n], dz [K, G]). */
@inline
function gradRows(a: usize, n: i32, dz: usize, dw: usize, G: i32, i0: i32, K: i32): void {
  gemm(a + (<usize>i0 << 2), 1, n, dz, G, dw + ((<usize>i0 * G) << 2), G, min(GRAD_ROWS, n - i0), K, G, 1);
}

/** lstmBackward's backpropagation through time: dz for every step (and the transposes it and the GEMMs after it read). */
function bptt(dh: usize, wx: usize, wh: usize, rmask: usize, T: i32, B: i32, E: i32, H: i32,
  gates: usize, cell: usize, tc: usize, dz: usize, whT: usize, wxT: usize, dhn: usize, dcn: usize): void {
  const G = 4 * H;
  transpose(wh, whT, H, G);
  transposeLd(wx, wxT, E, G, wxTStride(E));
  const stepG = (<usize>B * G) << 2;
  const stepH = (<usize>B * H) << 2;
  const hb = <usize>H << 2;
  memory.fill(dhn, 0, stepH);
  memory.fill(dcn, 0, stepH);
  const one = f32x4.splat(1);
  for (let t = T - 1; t >= 0; t--) {
    const gt = gates + <usize>t * stepG;
    const zt = dz + <usize>t * stepG;
    const dht = dh + <usize>t * stepH;
    const tct = tc + <usize>t * stepH;
    for (let r = 0; r < B; r++) {
      const row = gt + ((<usize>r * G) << 2);
      const zrow = zt + ((<usize>r * G) << 2);
      const ro = (<usize>r * H) << 2;
      const cp = t > 0 ? cell + <usize>(t - 1) * stepH + ro : 0;
      let u = 0;
      for (; u + 4 <= H; u += 4) {
        const o = <usize>u << 2;
        const i = v128.load(row + o);
        const f = v128.load(row + hb + o);
        const g = v128.load(row + 2 * hb + o);
        const og = v128.load(row + 3 * hb + o);
        const th = v128.load(tct + ro + o);
        const d = f32x4.add(v128.load(dht + ro + o), v128.load(dhn + ro + o));
        const dc = f32x4.add(v128.load(dcn + ro + o), f32x4.mul(f32x4.mul(d, og), f32x4.sub(one, f32x4.mul(th, th))));
        const cprev = cp ? v128.load(cp + o) : f32x4.splat(0);
        v128.store(zrow + o, f32x4.mul(f32x4.mul(dc, g), f32x4.mul(i, f32x4.sub(one, i))));
        v128.store(zrow + hb + o, f32x4.mul(f32x4.mul(dc, cprev), f32x4.mul(f, f32x4.sub(one, f))));
        v128.store(zrow + 2 * hb + o, f32x4.mul(f32x4.mul(dc, i), f32x4.sub(one, f32x4.mul(g, g))));
        v128.store(zrow + 3 * hb + o, f32x4.mul(f32x4.mul(d, th), f32x4.mul(og, f32x4.sub(one, og))));
        v128.store(dcn + ro + o, f32x4.mul(dc, f));
      }
      for (; u < H; u++) {
        const o = <usize>u << 2;
        const i = load<f32>(row + o);
        const f = load<f32>(row + hb + o);
        const g = load<f32>(row + 2 * hb + o);
        const og = load<f32>(row + 3 * hb + o);
        const th = load<f32>(tct + ro + o);
        const d = load<f32>(dht + ro + o) + load<f32>(dhn + ro + o);
        const dc = load<f32>(dcn + ro + o) + d * og * (1 - th * th);
        const cprev: f32 = cp ? load<f32>(cp + o) : 0;
        store<f32>(zrow + o, dc * g * (i * (1 - i)));
        store<f32>(zrow + hb + o, dc * cprev * (f * (1 - f)));
        store<f32>(zrow + 2 * hb + o, dc * i * (1 - g * g));
        store<f32>(zrow + 3 * hb + o, d * th * (og * (1 - og)));
        store<f32>(dcn + ro + o, dc * f);
      }
    }
    if (t > 0) {
      gemm(zt, G, 1, whT, H, dhn, H, B, G, H, 0);
      if (rmask) mulInto(dhn, rmask, dhn, B * H);
    }
  }
}

function mulInto(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (<usize>i << 2), f32x4.mul(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2)));
}

// ------------------------------------------------------------------------------------- output layer

/**
 * The per-token input of the output layer, time-major [T·B, 2H]: row t·B + r = (hf(t, r) | hb(len−1−t, r))
 * for t < len(r), zeros past the end. The backward direction ran over each row reversed, so its state for
 * token t sits at its own step len−1−t.
 */
export function joinDirections(hf: usize, hb: usize, lengths: usize, T: i32, B: i32, H: i32, out: usize): void {
  joinRows(hf, hb, lengths, B, H, out, 0, T * B);
}

/** joinDirections for rows [i0, i1) of out only (row i = step i / B of sentence i % B): two threads split the rows. */
export function joinRows(hf: usize, hb: usize, lengths: usize, B: i32, H: i32, out: usize, i0: i32, i1: i32): void {
  const hbytes = <usize>H << 2;
  for (let i = i0; i < i1; i++) {
    const t = i / B;
    const r = i - t * B;
    const len = load<i32>(lengths + (<usize>r << 2));
    const dst = out + ((<usize>i * 2 * H) << 2);
    if (t < len) {
      memory.copy(dst, hf + ((<usize>i * H) << 2), hbytes);
      memory.copy(dst + hbytes, hb + ((<usize>((len - 1 - t) * B + r) * H) << 2), hbytes);
    } else {
      memory.fill(dst, 0, 2 * hbytes);
    }
  }
}

/** The reverse of joinDirections for gradients: d [T·B, 2H] → dhf, dhb [T·B, H] (zeros on padding). */
export function splitDirections(d: usize, lengths: usize, T: i32, B: i32, H: i32, dhf: usize, dhb: usize): void {
  splitDirection(d, lengths, T, B, H, 0, dhf);
  splitDirection(d, lengths, T, B, H, 1, dhb);
}

/**
 * One direction's half of splitDirections: dir 0 → dhf (columns [0, H) of d, rows in order), dir 1 → dhb
 * (columns [H, 2H), each sentence's rows reversed); zeros on padding. Two threads take one direction each.
 */
export function splitDirection(d: usize, lengths: usize, T: i32, B: i32, H: i32, dir: i32, out: usize): void {
  const hbytes = <usize>H << 2;
  memory.fill(out, 0, <usize>T * B * hbytes);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < B; r++) {
      const len = load<i32>(lengths + (<usize>r << 2));
      if (t >= len) continue;
      const src = d + ((<usize>(t * B + r) * 2 * H) << 2);
      if (dir == 0) memory.copy(out + ((<usize>(t * B + r) * H) << 2), src, hbytes);
      else memory.copy(out + ((<usize>((len - 1 - t) * B + r) * H) << 2), src + hbytes, hbytes);
    }
  }
}

/**
 * Softmax cross-entropy over rows of logits [R, K] in place: labels [R] (i32, −1 = padding, not counted).
 * Writes the argmax of each row to pred [R] (i32) and, when grad, the gradient of the mean loss over the
 * counted rows into the logits' place ((softmax − onehot) / count; zeros on padding). Returns the summed
 * loss (the caller divides by the count).
 */
export function softmaxXent(logits: usize, labels: usize, pred: usize, R: i32, K: i32, count: i32, grad: i32): f64 {
  return softmaxXentRows(logits, labels, pred, R, K, count, grad, 0);
}

/**
 * softmaxXent that also writes each row's loss (f64) to rowLoss [R] (0 on padding; 0 = not written), so that two
 * threads can each take a range of rows and the caller adds the rows' losses in order, as one call would.
 */
export function softmaxXentRows(logits: usize, labels: usize, pred: usize, R: i32, K: i32, count: i32, grad: i32,
  rowLoss: usize): f64 {
  let total: f64 = 0;
  const scale: f32 = count > 0 ? <f32>1 / <f32>count : 0;
  for (let r = 0; r < R; r++) {
    const row = logits + ((<usize>r * K) << 2);
    const label = load<i32>(labels + (<usize>r << 2));
    if (rowLoss) store<f64>(rowLoss + (<usize>r << 3), 0);
    let best = 0;
    let mx = load<f32>(row);
    for (let k = 1; k < K; k++) {
      const v = load<f32>(row + (<usize>k << 2));
      if (v > mx) {
        mx = v;
        best = k;
      }
    }
    store<i32>(pred + (<usize>r << 2), best);
    if (label < 0) {
      if (grad) memory.fill(row, 0, <usize>K << 2);
      continue;
    }
    let sum: f32 = 0;
    for (let k = 0; k < K; k++) sum += Mathf.exp(load<f32>(row + (<usize>k << 2)) - mx);
    const lse = mx + Mathf.log(sum);
    const loss = <f64>(lse - load<f32>(row + (<usize>label << 2)));
    total += loss;
    if (rowLoss) store<f64>(rowLoss + (<usize>r << 3), loss);
    if (grad) {
      for (let k = 0; k < K; k++) {
        const p = Mathf.exp(load<f32>(row + (<usize>k << 2)) - lse);
        store<f32>(row + (<usize>k << 2), (p - (k === label ? <f32>1 : <f32>0)) * scale);
      }
    }
  }
  return total;
}

// --------------------------------------------------------------------------------------------- Adam

/** Adam on n parameters: m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; p ← p − lrT · m / (√v + ε). */
export function adam(p: usize, g: usize, m: usize, v: usize, n: i32, lrT: f32, b1: f32, b2: f32, eps: f32): void {
  const vb1 = f32x4.splat(b1);
  const vb1c = f32x4.splat(1 - b1);
  const vb2 = f32x4.splat(b2);
  const vb2c = f32x4.splat(1 - b2);
  const vlr = f32x4.splat(lrT);
  const veps = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gi = v128.load(g + o);
    const mi = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vb1c, gi));
    const vi = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(vb2c, f32x4.mul(gi, gi)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    v128.store(p + o, f32x4.sub(v128.load(p + o), f32x4.div(f32x4.mul(vlr, mi), f32x4.add(f32x4.sqrt(vi), veps))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mi = b1 * load<f32>(m + o) + (1 - b1) * gi;
    const vi = b2 * load<f32>(v + o) + (1 - b2) * gi * gi;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(p + o, load<f32>(p + o) - (lrT * mi) / (Mathf.sqrt(vi) + eps));
  }
}

// -------------------------------------------------------------------------------------- embedding

/**
 * The LSTM's input for one direction, time-major [T·B, E]: row t·B + r = emb[ids[t·B + r]] · mask[r] (mask
 * [B, E], Keras' input dropout for this direction, or 0 = none); zeros where the id is ≤ 0 (padding).
 */
export function embedInputs(emb: usize, ids: usize, mask: usize, T: i32, B: i32, E: i32, out: usize): void {
  const eb = <usize>E << 2;
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < B; r++) {
      const i = t * B + r;
      const id = load<i32>(ids + (<usize>i << 2));
      const dst = out + <usize>i * eb;
      if (id <= 0) {
        memory.fill(dst, 0, eb);
        continue;
      }
      const src = emb + <usize>id * eb;
      if (!mask) {
        memory.copy(dst, src, eb);
        continue;
      }
      const m = mask + <usize>r * eb;
      for (let j = 0; j < E; j++) store<f32>(dst + (<usize>j << 2), load<f32>(src + (<usize>j << 2)) * load<f32>(m + (<usize>j << 2)));
    }
  }
}

/**
 * The gradient of each token's embedded input, row-major [B·T, E]: the forward direction's dx at step t plus
 * the backward direction's at step len−1−t, each through its dropout mask (maskF, maskB [B, E], or 0); zeros
 * past each row's length. Computed in f64 and rounded once to f32, as the JS it replaces did.
 */
export function joinInputGrads(dxf: usize, dxb: usize, maskF: usize, maskB: usize, lengths: usize, T: i32, B: i32, E: i32, out: usize): void {
  joinInputGradsRows(dxf, dxb, maskF, maskB, lengths, T, B, E, out, 0, B);
}

/** joinInputGrads for sentences [r0, r1) only (out rows r·T + t): two threads split the sentences. */
export function joinInputGradsRows(dxf: usize, dxb: usize, maskF: usize, maskB: usize, lengths: usize, T: i32, B: i32, E: i32,
  out: usize, r0: i32, r1: i32): void {
  const eb = <usize>E << 2;
  memory.fill(out + <usize>r0 * T * eb, 0, <usize>(r1 - r0) * T * eb);
  for (let r = r0; r < r1; r++) {
    const len = load<i32>(lengths + (<usize>r << 2));
    for (let t = 0; t < len; t++) {
      const dst = out + <usize>(r * T + t) * eb;
      const f = dxf + <usize>(t * B + r) * eb;
      const b = dxb + <usize>((len - 1 - t) * B + r) * eb;
      for (let j = 0; j < E; j++) {
        const o = <usize>j << 2;
        const mf: f64 = maskF ? <f64>load<f32>(maskF + <usize>r * eb + o) : 1;
        const mb: f64 = maskB ? <f64>load<f32>(maskB + <usize>r * eb + o) : 1;
        store<f32>(dst + o, <f32>(<f64>load<f32>(f + o) * mf + <f64>load<f32>(b + o) * mb));
      }
    }
  }
}

/**
 * Lazy Adam on the embedding rows of one batch. `order` [n] lists the batch's token positions (into dx
 * [·, E]) sorted by word id, then position; `ids` [n] their word ids. Each word's gradient is summed over its
 * positions in that order (f32), then its row takes an Adam step computed in f64, as the JS it replaces did.
 * Scratch g [E].
 */
export function embeddingAdam(emb: usize, m: usize, v: usize, dx: usize, order: usize, ids: usize, n: i32, E: i32,
  lr: f64, b1: f64, b2: f64, eps: f64, g: usize): void {
  // SIMD: the rows' sum 4 lanes at a time (each element's adds in the same order), Adam's f64 arithmetic 2 lanes
  // at a time (the same IEEE operations per element as the scalar tail: bit-identical to the scalar loop)
  const eb = <usize>E << 2;
  const E4 = E & ~3;
  const E2 = E & ~1;
  const vb1 = f64x2.splat(b1);
  const vb1c = f64x2.splat(1 - b1);
  const vb2 = f64x2.splat(b2);
  const vb2c = f64x2.splat(1 - b2);
  const vlr = f64x2.splat(lr);
  const veps = f64x2.splat(eps);
  let i = 0;
  while (i < n) {
    const id = load<i32>(ids + (<usize>i << 2));
    memory.fill(g, 0, eb);
    for (; i < n && load<i32>(ids + (<usize>i << 2)) === id; i++) {
      const src = dx + <usize>load<i32>(order + (<usize>i << 2)) * eb;
      let k = 0;
      for (; k < E4; k += 4) {
        const o = <usize>k << 2;
        v128.store(g + o, f32x4.add(v128.load(g + o), v128.load(src + o)));
      }
      for (; k < E; k++) store<f32>(g + (<usize>k << 2), load<f32>(g + (<usize>k << 2)) + load<f32>(src + (<usize>k << 2)));
    }
    const o = <usize>id * eb;
    let k = 0;
    for (; k < E2; k += 2) {
      const ko = o + (<usize>k << 2);
      const gk = f64x2.promote_low_f32x4(v128.load64_zero(g + (<usize>k << 2)));
      const mk = f64x2.add(f64x2.mul(vb1, f64x2.promote_low_f32x4(v128.load64_zero(m + ko))), f64x2.mul(vb1c, gk));
      const vk = f64x2.add(
        f64x2.mul(vb2, f64x2.promote_low_f32x4(v128.load64_zero(v + ko))),
        f64x2.mul(f64x2.mul(vb2c, gk), gk),
      );
      v128.store64_lane(m + ko, f32x4.demote_f64x2_zero(mk), 0);
      v128.store64_lane(v + ko, f32x4.demote_f64x2_zero(vk), 0);
      const e = f64x2.promote_low_f32x4(v128.load64_zero(emb + ko));
      const step = f64x2.div(f64x2.mul(vlr, mk), f64x2.add(f64x2.sqrt(vk), veps));
      v128.store64_lane(emb + ko, f32x4.demote_f64x2_zero(f64x2.sub(e, step)), 0);
    }
    for (; k < E; k++) {
      const ko = o + (<usize>k << 2);
      const gk = <f64>load<f32>(g + (<usize>k << 2));
      const mk = b1 * <f64>load<f32>(m + ko) + (1 - b1) * gk;
      const vk = b2 * <f64>load<f32>(v + ko) + (1 - b2) * gk * gk;
      store<f32>(m + ko, <f32>mk);
      store<f32>(v + ko, <f32>vk);
      store<f32>(emb + ko, <f32>(<f64>load<f32>(emb + ko) - (lr * mk) / (Math.sqrt(vk) + eps)));
    }
  }
}

export * from './chars';
export * from './dropout';
export * from './infer';

// Character features for nerflow's kernel: a CNN over each token's characters with max-pooling over
// positions (Ma & Hovy 2016), forward and backward. Re-exported by lstm.ts (one module, one binary).
// Layout: N token slots; slot n's characters are ids[offsets[n] .. offsets[n+1]) (i32, no padding inside;
// a slot with no characters, e.g. padding, gets a zero feature vector). Id 0 (padding) reads as a zero
// embedding and never receives a gradient. The convolution is 'same' (zeros beyond the word's ends, a
// window of w characters centred on each one), so a token's features depend on its own characters only.
import { gemm, gemmBias, transpose } from './lstm';

/** One row per character: its window of w character embeddings, [w·D] (zeros outside the word). */
function im2col(ids: usize, offsets: usize, N: i32, emb: usize, D: i32, w: i32, cols: usize): void {
  const h = (w - 1) >> 1;
  const rowBytes = (<usize>w * D) << 2;
  const dBytes = <usize>D << 2;
  for (let n = 0; n < N; n++) {
    const s = load<i32>(offsets + (<usize>n << 2));
    const L = load<i32>(offsets + (<usize>(n + 1) << 2)) - s;
    for (let p = 0; p < L; p++) {
      const row = cols + <usize>(s + p) * rowBytes;
      for (let k = 0; k < w; k++) {
        const q = p + k - h;
        const dst = row + <usize>k * dBytes;
        const id = q >= 0 && q < L ? load<i32>(ids + (<usize>(s + q) << 2)) : 0;
        if (id > 0) memory.copy(dst, emb + <usize>id * dBytes, dBytes);
        else memory.fill(dst, 0, dBytes);
      }
    }
  }
}

/**
 * Forward: cols [total, w·D] (the windows), conv [total, F] = cols · wconv + bias, out [N, F] = the max
 * over each slot's characters, arg [N, F] (i32) = the conv row that won (−1 for an empty slot).
 * wconv is Keras' Conv1D kernel [w, D, F] (row-major = [w·D, F]); emb [C, D].
 */
export function charCnnForward(ids: usize, offsets: usize, N: i32, emb: usize, wconv: usize, bias: usize, D: i32, w: i32, F: i32,
  cols: usize, conv: usize, out: usize, arg: usize): void {
  const total = load<i32>(offsets + (<usize>N << 2));
  const K = w * D;
  im2col(ids, offsets, N, emb, D, w, cols);
  gemmBias(cols, K, 1, wconv, F, conv, F, total, K, F, bias);
  for (let n = 0; n < N; n++) {
    const s = load<i32>(offsets + (<usize>n << 2));
    const e = load<i32>(offsets + (<usize>(n + 1) << 2));
    const o = out + ((<usize>n * F) << 2);
    const a = arg + ((<usize>n * F) << 2);
    for (let f = 0; f < F; f++) {
      let best = -1;
      let mx: f32 = 0;
      for (let r = s; r < e; r++) {
        const v = load<f32>(conv + ((<usize>r * F + f) << 2));
        if (best < 0 || v > mx) {
          mx = v;
          best = r;
        }
      }
      store<f32>(o + (<usize>f << 2), mx);
      store<i32>(a + (<usize>f << 2), best);
    }
  }
}

/**
 * Backward from dout [N, F] (the loss gradient reaching each slot's features): accumulates the gradients
 * of the conv kernel dwconv [w·D, F], its bias dbias [F] and the character embeddings demb [C, D] (row 0
 * untouched). Uses cols and arg from the forward. The max lets one conv row per (slot, filter) through,
 * so instead of GEMMs over a mostly-zero d conv, each winner adds g·cols[r] to row f of dwT [F, w·D] and
 * g·wconv[:, f] to dcols[r] (SIMD over w·D). Scratch: dwT [F, w·D], dcols [total, w·D], wT [F, w·D].
 */
export function charCnnBackward(dout: usize, ids: usize, offsets: usize, N: i32, wconv: usize, D: i32, w: i32, F: i32,
  cols: usize, arg: usize, dwconv: usize, dbias: usize, demb: usize, dwT: usize, dcols: usize, wT: usize): void {
  const total = load<i32>(offsets + (<usize>N << 2));
  const K = w * D;
  const kBytes = <usize>K << 2;
  transpose(wconv, wT, K, F);
  memory.fill(dwT, 0, <usize>F * kBytes);
  memory.fill(dcols, 0, <usize>total * kBytes);
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      const i = (<usize>n * F + f) << 2;
      const r = load<i32>(arg + i);
      if (r < 0) continue;
      const g = load<f32>(dout + i);
      if (g == 0) continue;
      axpy(dwT + <usize>f * kBytes, cols + <usize>r * kBytes, g, K);
      axpy(dcols + <usize>r * kBytes, wT + <usize>f * kBytes, g, K);
      const b = dbias + (<usize>f << 2);
      store<f32>(b, load<f32>(b) + g);
    }
  }
  // dwconv [K, F] += dwT transposed
  for (let k = 0; k < K; k++) {
    for (let f = 0; f < F; f++) {
      const at = dwconv + ((<usize>k * F + f) << 2);
      store<f32>(at, load<f32>(at) + load<f32>(dwT + (<usize>f * kBytes) + (<usize>k << 2)));
    }
  }
  // scatter the window gradients back onto the characters' embedding rows
  const h = (w - 1) >> 1;
  for (let n = 0; n < N; n++) {
    const s = load<i32>(offsets + (<usize>n << 2));
    const L = load<i32>(offsets + (<usize>(n + 1) << 2)) - s;
    for (let p = 0; p < L; p++) {
      for (let k = 0; k < w; k++) {
        const q = p + k - h;
        if (q < 0 || q >= L) continue;
        const id = load<i32>(ids + (<usize>(s + q) << 2));
        if (id <= 0) continue;
        const src = dcols + ((<usize>(s + p) * K + <usize>k * D) << 2);
        const dst = demb + ((<usize>id * D) << 2);
        for (let d = 0; d < D; d++) {
          const o = <usize>d << 2;
          store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
        }
      }
    }
  }
}

/** y[0..n) += a · x[0..n) */
@inline
function axpy(y: usize, x: usize, a: f32, n: i32): void {
  const va = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(va, v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o));
  }
}

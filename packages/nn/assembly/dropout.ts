// Dropout on the BiLSTM's output (Ma & Hovy 2016; Lample et al. 2016 apply it before the CRF): one mask per
// sentence and feature, constant over time like Keras' input masks, scaled by 1/(1−p) (the caller draws it).
// Re-exported by lstm.ts (one module, one binary). The same call serves forward (h · mask) and backward
// (dh · mask): the mask is a diagonal, its own transpose.

/** x [T·B, D] (time-major) · mask [B, D], in place: row t·B + r is multiplied by mask row r. */
export function maskRows(x: usize, mask: usize, T: i32, B: i32, D: i32): void {
  maskRowRange(x, mask, B, D, 0, T * B);
}

/**
 * maskRows on rows [i0, i1) of x [·, D] only (row i times mask row i mod B; maskRows is all T·B rows), so a
 * batch's rows cut between two threads give what one maskRows call gives.
 */
export function maskRowRange(x: usize, mask: usize, B: i32, D: i32, i0: i32, i1: i32): void {
  const dBytes = <usize>D << 2;
  const D4 = D & ~3;
  for (let i = i0; i < i1; i++) {
    const row = x + <usize>i * dBytes;
    const m = mask + <usize>(i % B) * dBytes;
    let j = 0;
    for (; j < D4; j += 4) {
      const o = <usize>j << 2;
      v128.store(row + o, f32x4.mul(v128.load(row + o), v128.load(m + o)));
    }
    for (; j < D; j++) {
      const o = <usize>j << 2;
      store<f32>(row + o, load<f32>(row + o) * load<f32>(m + o));
    }
  }
}

/**
 * Dropout masks drawn in the kernel, the same draws and bits as mulberry32's maskInto (core/rng.ts): out[i] = 0 where
 * draw i's 32 bits are < P (= p·2^32: the draw < p), else keep (1/(1−p) as f32), for n draws from the generator
 * state at `state` (a u32 in memory), which holds the state after the draws when it returns: masks drawn one after
 * another chain through it. 2-thread training draws the next batch's masks this way on the worker, after its job.
 */
export function maskDraws(out: usize, n: i32, state: usize, P: f64, keep: f32): void {
  let s = load<u32>(state);
  for (let i = 0; i < n; i++) {
    s += 0x6d2b79f5;
    let t = (s ^ (s >>> 15)) * (s | 1);
    t ^= t + (t ^ (t >>> 7)) * (t | 61);
    store<f32>(out + (<usize>i << 2), <f64>(t ^ (t >>> 14)) >= P ? keep : 0);
  }
  store<u32>(state, s);
}

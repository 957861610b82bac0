// Inference only (packages/nn/src/infer.ts): one direction of the LSTM, forward pass alone, for prediction.
// It computes what lstmForward (lstm.ts) computes for every real position, to the bit, with less work:
// - the input projection bias + x·Wx of a word is one row of a table [V, 4H] computed once per model with the
//   same GEMM (per element the same fused/unfused multiply-adds in the same k order), so a step copies a row
//   instead of multiplying; a char model's features continue that sum (acc = 1) in the same k order;
// - rows are sorted by length (ascending), so at step t the rows still running are a suffix of the batch:
//   padding positions are never computed (their h is 0), and nothing backpropagation needs is kept
//   (gates and cell state for the current step only).

import { gemm } from './lstm';
import { sigmoidRange, tanhRange, vtanh } from './simd-math';

/**
 * The input-projection table of one direction: table [V, 4H] row v = bias + emb[v]·wx[0..We) (emb [V, We],
 * wx [E, 4H] with E ≥ We: a char model's char rows are left to inferDirection).
 */
export function inferTable(emb: usize, wx: usize, bias: usize, V: i32, We: i32, H: i32, table: usize): void {
  const G = 4 * H;
  const bytes = <usize>G << 2;
  for (let v = 0; v < V; v++) memory.copy(table + <usize>v * bytes, bias, bytes);
  gemm(emb, We, 1, wx, G, table, G, V, We, G, 1);
}

/**
 * One direction of the LSTM over a batch of B rows sorted by length ascending (lengths [B]), time-major ids
 * [T·B] (this direction's token order; the backward direction reads each row reversed), no dropout.
 * table [V, 4H] from inferTable; xc [T·B, F] char features and wxc [F, 4H] (wx's char rows), or F = 0;
 * wh [H, 4H]. Writes h [T·B, H] (0 on padding, as lstmForward's h on real positions); scratch gates [B, 4H],
 * cell [B, H].
 */
export function inferDirection(table: usize, ids: usize, lengths: usize, T: i32, B: i32, H: i32, xc: usize, wxc: usize,
  F: i32, wh: usize, h: usize, gates: usize, cell: usize): void {
  const G = 4 * H;
  const gb = <usize>G << 2;
  const hb = <usize>H << 2;
  let s = 0; // rows [s, B) are still running at step t
  for (let t = 0; t < T; t++) {
    while (s < B && load<i32>(lengths + (<usize>s << 2)) <= t) s++;
    const ht = h + <usize>t * B * hb;
    if (s > 0) memory.fill(ht, 0, <usize>s * hb);
    if (s >= B) continue;
    const n = B - s;
    for (let r = s; r < B; r++) {
      const id = load<i32>(ids + (<usize>(t * B + r) << 2));
      memory.copy(gates + <usize>r * gb, table + <usize>id * gb, gb);
    }
    const gs = gates + <usize>s * gb;
    if (F > 0) gemm(xc + ((<usize>(t * B + s) * F) << 2), F, 1, wxc, G, gs, G, n, F, G, 1);
    if (t > 0) gemm(h + <usize>((t - 1) * B + s) * hb, H, 1, wh, G, gs, G, n, H, G, 1);
    for (let r = s; r < B; r++) {
      const row = gates + <usize>r * gb;
      sigmoidRange(row, 2 * H); // i, f
      tanhRange(row + 2 * hb, H); // g
      sigmoidRange(row + 3 * hb, H); // o
      const ct = cell + <usize>r * hb;
      const hot = ht + <usize>r * hb;
      let u = 0;
      for (; u + 4 <= H; u += 4) {
        const o = <usize>u << 2;
        const ig = f32x4.mul(v128.load(row + o), v128.load(row + 2 * hb + o));
        const c = t > 0 ? f32x4.add(f32x4.mul(v128.load(row + hb + o), v128.load(ct + o)), ig) : ig;
        v128.store(ct + o, c);
        v128.store(hot + o, f32x4.mul(v128.load(row + 3 * hb + o), vtanh(c)));
      }
      for (; u < H; u++) {
        const o = <usize>u << 2;
        const ig = load<f32>(row + o) * load<f32>(row + 2 * hb + o);
        const c = t > 0 ? load<f32>(row + hb + o) * load<f32>(ct + o) + ig : ig;
        store<f32>(ct + o, c);
        store<f32>(hot + o, load<f32>(row + 3 * hb + o) * f32x4.extract_lane(vtanh(f32x4.splat(c)), 0));
      }
    }
  }
}

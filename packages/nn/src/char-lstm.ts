import type { Kernel, KernelExports } from './kernel.js';

/**
 * The char BiLSTM of Lample et al. (2016) on nerflow's kernel: every token's characters run through an LSTM
 * forward and another one backward (the kernel's lstmForward / lstmBackward, the very calls of the word
 * BiLSTM, with the token slots as the batch and character positions as time); the token's char features
 * are the forward LSTM's state after its last character joined with the backward LSTM's state after its
 * first, [B·T, 2U] (row-major slots like the batch; zeros for a slot without characters, e.g. padding).
 *
 * Layout: only the slots with characters are run, packed (n of them); time-major [Tc·n, ·] with Tc the
 * longest word of the batch. The backward direction reads each word reversed, so in both directions a
 * word's padding steps come after its last real step: their states feed only later padding steps, whose
 * gradient is 0, so nothing needs masking (the word BiLSTM's argument). Character id 0 (padding) reads as a
 * zero embedding (embedInputs) and never receives a gradient.
 */
export interface CharLstmContext {
  kern: Kernel;
  /** Byte offset of a weight (or its gradient) in the model's regions. */
  ptr(region: 'param' | 'grad', name: string): number;
  /** lstmForward / lstmBackward for both directions: on two threads when the model has them. */
  both<N extends 'lstmForward' | 'lstmBackward'>(
    name: N,
    fw: Parameters<KernelExports[N]>,
    bw: Parameters<KernelExports[N]>,
  ): void;
}

/** The char BiLSTM's weights as Keras names and shapes them (Bidirectional(LSTM) over the characters). */
export function charLstmShapes(vocabSize: number, dim: number, units: number): [string, number[]][] {
  const G = 4 * units;
  const dir = (d: string): [string, number[]][] => [
    [`char_${d}_lstm/kernel`, [dim, G]],
    [`char_${d}_lstm/recurrent_kernel`, [units, G]],
    [`char_${d}_lstm/bias`, [G]],
  ];
  return [['char_embedding/embeddings', [vocabSize, dim]], ...dir('forward'), ...dir('backward')];
}

/** What forward leaves for backward (kernel offsets, valid until the caller's kernel reset). */
export interface CharLstmState {
  /** [B·T, 2U] char features per slot. */
  out: number;
  slotsTotal: number;
  slots: Int32Array;
  lengths: Int32Array;
  Tc: number;
  dirs: { d: string; ids: number; x: number; gates: number; cell: number; tc: number; h: number; hin: number }[];
}

/** Forward: characters (ids, offsets over B·T slots, as the batch's chars column) → features at `out`. */
export function charLstmForward(
  ctx: CharLstmContext,
  chars: { ids: Int32Array; offsets: Int32Array },
  slotsTotal: number,
  dim: number,
  units: number,
): CharLstmState {
  const { kern } = ctx;
  const k = kern.k;
  const U = units;
  const G = 4 * U;
  const D = dim;
  const packed: number[] = [];
  let Tc = 0;
  for (let s = 0; s < slotsTotal; s++) {
    const L = chars.offsets[s + 1] - chars.offsets[s];
    if (L > 0) {
      packed.push(s);
      if (L > Tc) Tc = L;
    }
  }
  const slots = Int32Array.from(packed);
  const n = slots.length;
  const lengths = Int32Array.from(slots, (s) => chars.offsets[s + 1] - chars.offsets[s]);
  const a = (m: number) => kern.alloc(m);
  const out = kern.alloc(slotsTotal * 2 * U, true);
  const emb = ctx.ptr('param', 'char_embedding/embeddings');
  const dirs = ['forward', 'backward'].map((d) => ({
    d,
    ids: a(Tc * n),
    x: a(Tc * n * D),
    gates: a(Tc * n * G),
    cell: a(Tc * n * U),
    tc: a(Tc * n * U),
    h: a(Tc * n * U),
    hin: a(Tc * n * U),
  }));
  if (n === 0) return { out, slotsTotal, slots, lengths, Tc, dirs };
  dirs.forEach((dir, di) => {
    const ids = kern.i32(dir.ids, Tc * n).fill(0);
    for (let j = 0; j < n; j++) {
      const start = chars.offsets[slots[j]];
      const L = lengths[j];
      for (let t = 0; t < L; t++) ids[t * n + j] = chars.ids[start + (di === 0 ? t : L - 1 - t)];
    }
    k.embedInputs(emb, dir.ids, 0, Tc, n, D, dir.x);
  });
  const args = (dir: (typeof dirs)[number]): Parameters<KernelExports['lstmForward']> => [
    dir.x,
    ctx.ptr('param', `char_${dir.d}_lstm/kernel`),
    ctx.ptr('param', `char_${dir.d}_lstm/recurrent_kernel`),
    ctx.ptr('param', `char_${dir.d}_lstm/bias`),
    0,
    Tc,
    n,
    D,
    U,
    dir.gates,
    dir.cell,
    dir.tc,
    dir.h,
    dir.hin,
  ];
  ctx.both('lstmForward', args(dirs[0]), args(dirs[1]));
  // each slot's features: the state after the last step of its word, forward then backward
  const o = kern.f32(out, slotsTotal * 2 * U);
  dirs.forEach((dir, di) => {
    const h = kern.f32(dir.h, Tc * n * U);
    for (let j = 0; j < n; j++) {
      const row = (lengths[j] - 1) * n + j;
      o.set(h.subarray(row * U, (row + 1) * U), slots[j] * 2 * U + di * U);
    }
  });
  return { out, slotsTotal, slots, lengths, Tc, dirs };
}

/**
 * Backward: dout [B·T, 2U] (the loss gradient at each slot's features) → the char LSTM weights' gradients
 * and the character embedding's, accumulated into the grad region (zeroed by the caller before the pass).
 */
export function charLstmBackward(
  ctx: CharLstmContext,
  st: CharLstmState,
  dout: number,
  c: { vocabSize: number; dim: number; units: number },
): void {
  const { kern } = ctx;
  const { slots, lengths, Tc } = st;
  const n = slots.length;
  if (n === 0) return;
  const U = c.units;
  const G = 4 * U;
  const D = c.dim;
  const a = (m: number) => kern.alloc(m);
  const scratch = st.dirs.map(() => ({
    dh: kern.alloc(Tc * n * U, true),
    dz: a(Tc * n * G),
    dx: a(Tc * n * D),
    whT: a(G * U),
    wxT: a(G * ((D + 3) & ~3)),
    dhn: a(n * U),
    dcn: a(n * U),
  }));
  const dv = kern.f32(dout, st.slotsTotal * 2 * U);
  st.dirs.forEach((_, di) => {
    const dh = kern.f32(scratch[di].dh, Tc * n * U);
    for (let j = 0; j < n; j++) {
      const row = (lengths[j] - 1) * n + j;
      const src = slots[j] * 2 * U + di * U;
      dh.set(dv.subarray(src, src + U), row * U);
    }
  });
  const args = (di: number): Parameters<KernelExports['lstmBackward']> => {
    const dir = st.dirs[di];
    const s = scratch[di];
    return [
      s.dh,
      dir.x,
      ctx.ptr('param', `char_${dir.d}_lstm/kernel`),
      ctx.ptr('param', `char_${dir.d}_lstm/recurrent_kernel`),
      0,
      Tc,
      n,
      D,
      U,
      dir.gates,
      dir.cell,
      dir.tc,
      dir.hin,
      s.dz,
      s.dx,
      ctx.ptr('grad', `char_${dir.d}_lstm/kernel`),
      ctx.ptr('grad', `char_${dir.d}_lstm/recurrent_kernel`),
      ctx.ptr('grad', `char_${dir.d}_lstm/bias`),
      s.whT,
      s.wxT,
      s.dhn,
      s.dcn,
    ];
  };
  ctx.both('lstmBackward', args(0), args(1));
  // the character embedding's gradient: each real character position's input gradient into its id's row,
  // forward direction first, then backward, in a fixed order (the same sums on one thread or two)
  const demb = kern.f32(ctx.ptr('grad', 'char_embedding/embeddings'), c.vocabSize * D);
  st.dirs.forEach((dir, di) => {
    const ids = kern.i32(dir.ids, Tc * n);
    const dx = kern.f32(scratch[di].dx, Tc * n * D);
    for (let p = 0; p < Tc * n; p++) {
      const id = ids[p];
      if (id <= 0) continue;
      for (let q = 0; q < D; q++) demb[id * D + q] += dx[p * D + q];
    }
  });
}

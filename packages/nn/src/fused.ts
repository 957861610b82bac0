import { tf } from './backend.js';
import type { Batch } from './data.js';
import { glorotUniform, orthogonal, uniform } from './init.js';
import { mulberry32 } from './rng.js';
import type { TaggerSpec } from './spec.js';

/** Our gate order. (Keras' kernels are ordered i, f, c, o.) */
export const GATES = ['i', 'f', 'o', 'g'] as const;
const KERAS_GATE = { i: 0, f: 1, g: 2, o: 3 } as const;

/**
 * nerflow's fused BiLSTM tagger: Embedding → BiLSTM → per-token softmax, with a hand-written backward pass.
 *
 * On TF.js the cost is per op, and on the wasm backend only some ops take a fast path. Measured here:
 * plain 2-D matmul [32,100]×[100,400] 0.08 ms, but batched 1.9 ms and transposed 0.9 ms; a slice of 32
 * rows out of [704, 800] 1.6 ms; unstack of 22 steps 30 ms. So the layout avoids every one of those:
 * - Both directions side by side on the feature axis: state [B, 2H] = (forward | backward); for each gate
 *   one weight matrix W_k [(2H + 2E + 1), 2H] over the input [h | x | 1] (bias folded in), block-diagonal
 *   between the directions (off-blocks held at zero by masking their gradient). A step is one concat and
 *   four plain matmuls for both directions, and each elementwise op covers both.
 * - The per-step inputs are built time-major in JS: for row r at step t the forward half holds token t and
 *   the backward half token len-1-t (zeros past the end), so no reversal op and no slicing. Padding sits
 *   at the end of both halves: states computed on padding only feed later padding, whose loss is masked,
 *   so their gradient is exactly 0 and no masking op is needed inside the recurrence.
 * - Backward is explicit BPTT; the per-step output gradients come from one read-back; weight gradients
 *   for all steps are one matmul per gate after the loop, with transposes done explicitly.
 * - The embedding table lives in JS memory: rows gathered in JS, and its gradient and Adam update touch
 *   only the rows of the words in the batch (lazy Adam), not the whole vocabulary.
 */
export class FusedBiLstm {
  readonly spec: TaggerSpec;
  /** [vocab, E] in JS memory, with Adam's moments. */
  emb: Float32Array;
  embM: Float32Array;
  embV: Float32Array;
  /** W_i, W_f, W_o, W_g [(2H+2E+1), 2H]; Wo_f, Wo_b [2H, K] (rows of the other direction zero); bo [K]. */
  vars: Record<string, tf.Variable>;
  adam: Record<string, { m: tf.Variable; v: tf.Variable }>;
  private masks: Record<string, tf.Tensor>;
  step = 0;
  rand: () => number;
  readonly beta1 = 0.9;
  readonly beta2 = 0.999;
  readonly epsilon = 1e-7;

  constructor(spec: TaggerSpec) {
    this.spec = spec;
    const { vocabSize: V, embeddingDim: E, lstmUnits: H, numTags: K } = spec;
    const rand = mulberry32(spec.seed);
    this.emb = uniform(V * E, 0.05, rand);
    this.embM = new Float32Array(V * E);
    this.embV = new Float32Array(V * E);
    const rows = 2 * H + 2 * E + 1;
    const W: Record<string, Float32Array> = Object.fromEntries(GATES.map((g) => [g, new Float32Array(rows * 2 * H)]));
    for (let d = 0; d < 2; d++) {
      const kx = glorotUniform(E, 4 * H, E * 4 * H, rand); // Keras kernel [E, 4H]
      const kh = orthogonal(H, 4 * H, rand); // Keras recurrent kernel [H, 4H]
      for (const g of GATES) {
        const dst = W[g];
        const src = KERAS_GATE[g];
        for (let r = 0; r < H; r++) for (let u = 0; u < H; u++) dst[(d * H + r) * 2 * H + d * H + u] = kh[r * 4 * H + src * H + u];
        for (let r = 0; r < E; r++) for (let u = 0; u < H; u++) dst[(2 * H + d * E + r) * 2 * H + d * H + u] = kx[r * 4 * H + src * H + u];
        if (g === 'f') for (let u = 0; u < H; u++) dst[(rows - 1) * 2 * H + d * H + u] = 1; // unit forget bias, as Keras
      }
    }
    const ko = glorotUniform(2 * H, K, 2 * H * K, rand); // Keras Dense kernel [2H, K] over (fwd | bwd)
    const woF = new Float32Array(2 * H * K);
    const woB = new Float32Array(2 * H * K);
    woF.set(ko.subarray(0, H * K));
    woB.set(ko.subarray(H * K), H * K);
    this.vars = {
      ...Object.fromEntries(GATES.map((g) => [`W_${g}`, tf.variable(tf.tensor2d(W[g], [rows, 2 * H]), true)])),
      Wo_f: tf.variable(tf.tensor2d(woF, [2 * H, K]), true),
      Wo_b: tf.variable(tf.tensor2d(woB, [2 * H, K]), true),
      bo: tf.variable(tf.zeros([K]), true),
    };
    const gateMask = gateBlockMask(E, H);
    this.masks = {
      ...Object.fromEntries(GATES.map((g) => [`W_${g}`, gateMask])),
      Wo_f: halfMask(H, K, 0),
      Wo_b: halfMask(H, K, 1),
    };
    this.adam = Object.fromEntries(Object.entries(this.vars).map(([k, v]) => [k, { m: tf.variable(tf.zerosLike(v)), v: tf.variable(tf.zerosLike(v)) }]));
    this.rand = mulberry32((spec.seed ^ 0x9e3779b9) >>> 0);
  }

  /** Per-step inputs [B, 2E+1] (x fwd | x bwd | 1), time-major. */
  private inputs(b: Batch, dropMask: Float32Array | null): Float32Array {
    const E = this.spec.embeddingDim;
    const B = b.size;
    const w = 2 * E + 1;
    const out = new Float32Array(b.steps * B * w);
    for (let r = 0; r < B; r++) {
      const len = b.lengths[r];
      for (let t = 0; t < b.steps; t++) {
        const o = (t * B + r) * w;
        out[o + 2 * E] = 1;
        if (t >= len) continue;
        const fwd = b.tokens[r * b.steps + t];
        const bwd = b.tokens[r * b.steps + len - 1 - t];
        if (fwd !== 0) out.set(this.emb.subarray(fwd * E, fwd * E + E), o);
        if (bwd !== 0) out.set(this.emb.subarray(bwd * E, bwd * E + E), o + E);
        if (dropMask) for (let k = 0; k < 2 * E; k++) out[o + k] *= dropMask[r * 2 * E + k];
      }
    }
    return out;
  }

  /** For time-major position (t, r): the row whose backward-half output belongs there: (len-1-t, r). */
  private static mirror(b: Batch): Int32Array {
    const B = b.size;
    const idx = new Int32Array(b.steps * B);
    for (let t = 0; t < b.steps; t++) for (let r = 0; r < B; r++) {
      const len = b.lengths[r];
      idx[t * B + r] = (t < len ? len - 1 - t : t) * B + r;
    }
    return idx;
  }

  /** Keras-style dropout mask, constant over time, scaled by 1/(1-p). */
  private dropMask(n: number, p: number): Float32Array {
    const keep = 1 / (1 - p);
    return Float32Array.from({ length: n }, () => (this.rand() < p ? 0 : keep));
  }

  /** One training step (forward, backward, Adam); returns the mean loss over real tokens. */
  train(b: Batch): number {
    const r = this.compute(b, true);
    this.step++;
    this.applyAdam(r.grads!);
    tf.dispose(Object.values(r.grads!));
    this.applyEmbeddingAdam(b, r.dx!);
    return r.loss;
  }

  /** Loss and argmax predictions ([B·T] row-major, like the batch), no dropout. */
  evaluate(b: Batch): { loss: number; predictions: Int32Array } {
    const r = this.compute(b, false);
    return { loss: r.loss, predictions: r.predictions! };
  }

  /**
   * The loss and, when `train`, the gradients of the dense weights and of the embedded inputs
   * (dx: [B·T·E] row-major, summed over both directions; the embedding gradient row by row).
   */
  compute(b: Batch, train: boolean, opts: { dropout?: boolean } = {}): { loss: number; predictions?: Int32Array; grads?: Record<string, tf.Tensor>; dx?: Float32Array } {
    const { embeddingDim: E, lstmUnits: H, numTags: K } = this.spec;
    const useDropout = opts.dropout ?? train;
    const dropout = useDropout ? this.spec.dropout : 0;
    const recurrentDropout = useDropout ? this.spec.recurrentDropout : 0;
    const B = b.size;
    const T = b.steps;
    const TB = T * B;
    const IN = 2 * E + 1;
    let real = 0;
    for (let r = 0; r < B; r++) real += b.lengths[r];
    const w = new Float32Array(TB);
    const labels = new Int32Array(TB);
    for (let r = 0; r < B; r++) for (let t = 0; t < b.lengths[r]; t++) {
      w[t * B + r] = 1 / real;
      labels[t * B + r] = b.tags[r * T + t];
    }
    const inMask = dropout > 0 ? this.dropMask(B * 2 * E, dropout) : null;
    const xData = this.inputs(b, inMask);
    const recMaskData = recurrentDropout > 0 ? this.dropMask(B * 2 * H, recurrentDropout) : null;
    const mirror = FusedBiLstm.mirror(b);
    const Wg = GATES.map((g) => this.vars[`W_${g}`]);
    const { Wo_f, Wo_b, bo } = this.vars;

    let loss = 0;
    let predictions: Int32Array | undefined;
    let dx: Float32Array | undefined;
    const grads = tf.tidy((): Record<string, tf.Tensor> => {
      const recMask = recMaskData ? tf.tensor2d(recMaskData, [B, 2 * H]) : null;
      let h: tf.Tensor = tf.zeros([B, 2 * H]);
      let c: tf.Tensor = tf.zeros([B, 2 * H]);
      const saved: { xh: tf.Tensor; i: tf.Tensor; f: tf.Tensor; o: tf.Tensor; g: tf.Tensor; cPrev: tf.Tensor; tc: tf.Tensor }[] = [];
      const outs: tf.Tensor[] = [];
      for (let t = 0; t < T; t++) {
        const hin = recMask ? tf.mul(h, recMask) : h;
        const xh = tf.concat([hin, tf.tensor2d(xData.subarray(t * B * IN, (t + 1) * B * IN), [B, IN])], 1);
        const i = tf.sigmoid(tf.matMul(xh, Wg[0]));
        const f = tf.sigmoid(tf.matMul(xh, Wg[1]));
        const o = tf.sigmoid(tf.matMul(xh, Wg[2]));
        const g = tf.tanh(tf.matMul(xh, Wg[3]));
        const cPrev = c;
        c = tf.add(tf.mul(f, cPrev), tf.mul(i, g));
        const tc = tf.tanh(c);
        h = tf.mul(o, tc);
        outs.push(h);
        if (train) saved.push({ xh, i, f, o, g, cPrev, tc });
      }
      const Hall = tf.concat(outs, 0); // [TB, 2H], time-major; backward half in mirrored time
      const mirrorT = tf.tensor1d(mirror, 'int32');
      const logits = tf.add(tf.add(tf.matMul(Hall, Wo_f), tf.gather(tf.matMul(Hall, Wo_b), mirrorT)), bo);
      const logp = tf.logSoftmax(logits);
      const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), K);
      const wT = tf.tensor2d(w, [TB, 1]);
      loss = -tf.sum(tf.mul(tf.mul(onehot, logp), wT)).dataSync()[0];
      if (!train) {
        const am = tf.argMax(logits, 1).dataSync();
        predictions = new Int32Array(B * T);
        for (let t = 0; t < T; t++) for (let r = 0; r < B; r++) predictions[r * T + t] = am[t * B + r];
        return {};
      }
      // ---- backward ----
      const dlogits = tf.mul(tf.sub(tf.exp(logp), onehot), wT); // [TB, K]
      const dlogitsM = tf.gather(dlogits, mirrorT); // mirror is an involution
      const HallT = tf.transpose(Hall);
      const gWo_f = tf.matMul(HallT, dlogits);
      const gWo_b = tf.matMul(HallT, dlogitsM);
      const gbo = tf.sum(dlogits, 0);
      const dHall = tf.add(tf.matMul(dlogits, tf.transpose(Wo_f)), tf.matMul(dlogitsM, tf.transpose(Wo_b))).dataSync() as Float32Array;
      // dh of step t reaches h through the first 2H rows of each W_k: [4·2H, 2H] = rows of the four transposes
      const WhT = tf.concat(Wg.map((Wk) => tf.transpose(tf.slice(Wk, [0, 0], [2 * H, 2 * H]))), 0);
      let dhNext: tf.Tensor = tf.zeros([B, 2 * H]);
      let dcNext: tf.Tensor = tf.zeros([B, 2 * H]);
      const dGate: tf.Tensor[][] = GATES.map(() => new Array(T));
      for (let t = T - 1; t >= 0; t--) {
        const s = saved[t];
        const dh = tf.add(tf.tensor2d(dHall.subarray(t * B * 2 * H, (t + 1) * B * 2 * H), [B, 2 * H]), dhNext);
        const dc = tf.add(dcNext, tf.mul(tf.mul(dh, s.o), tf.sub(1, tf.square(s.tc))));
        dcNext = tf.mul(dc, s.f);
        const di = tf.mul(tf.mul(dc, s.g), tf.mul(s.i, tf.sub(1, s.i)));
        const df = tf.mul(tf.mul(dc, s.cPrev), tf.mul(s.f, tf.sub(1, s.f)));
        const dO = tf.mul(tf.mul(dh, s.tc), tf.mul(s.o, tf.sub(1, s.o)));
        const dg = tf.mul(tf.mul(dc, s.i), tf.sub(1, tf.square(s.g)));
        [di, df, dO, dg].forEach((d, k) => (dGate[k][t] = d));
        dhNext = tf.matMul(tf.concat([di, df, dO, dg], 1), WhT);
        if (recMask) dhNext = tf.mul(dhNext, recMask);
      }
      const XHt = tf.transpose(tf.concat(saved.map((s) => s.xh), 0)); // [2H+IN, TB]
      const out: Record<string, tf.Tensor> = { Wo_f: tf.mul(gWo_f, this.masks.Wo_f), Wo_b: tf.mul(gWo_b, this.masks.Wo_b), bo: gbo };
      let dX: tf.Tensor | null = null as tf.Tensor | null;
      GATES.forEach((g, k) => {
        const dZ = tf.concat(dGate[k], 0); // [TB, 2H]
        out[`W_${g}`] = tf.mul(tf.matMul(XHt, dZ), this.masks[`W_${g}`]);
        const part = tf.matMul(dZ, tf.transpose(tf.slice(Wg[k], [2 * H, 0], [2 * E, 2 * H]))); // [TB, 2E]
        dX = dX ? tf.add(dX, part) : part;
      });
      dx = this.foldInputGrad(dX!.dataSync() as Float32Array, b, inMask);
      return out;
    });
    return { loss, predictions, grads: train ? grads : undefined, dx };
  }

  /** Time-major [T·B, 2E] input gradient → row-major [B·T, E] per token (forward + mirrored backward half). */
  private foldInputGrad(d: Float32Array, b: Batch, inMask: Float32Array | null): Float32Array {
    const E = this.spec.embeddingDim;
    const B = b.size;
    const out = new Float32Array(B * b.steps * E);
    for (let r = 0; r < B; r++) {
      const len = b.lengths[r];
      for (let t = 0; t < len; t++) {
        const dst = (r * b.steps + t) * E;
        const f = (t * B + r) * 2 * E;
        const m = ((len - 1 - t) * B + r) * 2 * E + E;
        for (let k = 0; k < E; k++) {
          const mf = inMask ? inMask[r * 2 * E + k] : 1;
          const mb = inMask ? inMask[r * 2 * E + E + k] : 1;
          out[dst + k] = d[f + k] * mf + d[m + k] * mb;
        }
      }
    }
    return out;
  }

  private lrT(): number {
    const t = this.step;
    return (this.spec.learningRate * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
  }

  /** Adam (Keras' defaults: β1 0.9, β2 0.999, ε 1e-7) on the dense weights. */
  private applyAdam(grads: Record<string, tf.Tensor>): void {
    const lr = this.lrT();
    tf.tidy(() => {
      for (const [k, g] of Object.entries(grads)) {
        const { m, v } = this.adam[k];
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        this.vars[k].assign(tf.sub(this.vars[k], tf.mul(tf.div(m, tf.add(tf.sqrt(v), this.epsilon)), lr)));
      }
    });
  }

  /** Lazy Adam on the embedding: only rows of words in the batch (padding row 0 never moves). */
  private applyEmbeddingAdam(b: Batch, dx: Float32Array): void {
    const E = this.spec.embeddingDim;
    const rows = new Map<number, Float32Array>();
    for (let r = 0; r < b.size; r++) {
      for (let t = 0; t < b.lengths[r]; t++) {
        const pos = r * b.steps + t;
        const id = b.tokens[pos];
        if (id === 0) continue;
        let g = rows.get(id);
        if (!g) rows.set(id, (g = new Float32Array(E)));
        for (let k = 0; k < E; k++) g[k] += dx[pos * E + k];
      }
    }
    const lr = this.lrT();
    const { beta1: b1, beta2: b2, epsilon: eps } = this;
    for (const id of [...rows.keys()].sort((a, c) => a - c)) {
      const g = rows.get(id)!;
      const o = id * E;
      for (let k = 0; k < E; k++) {
        const m = (this.embM[o + k] = b1 * this.embM[o + k] + (1 - b1) * g[k]);
        const v = (this.embV[o + k] = b2 * this.embV[o + k] + (1 - b2) * g[k] * g[k]);
        this.emb[o + k] -= (lr * m) / (Math.sqrt(v) + eps);
      }
    }
  }

  dispose(): void {
    tf.dispose(Object.values(this.vars));
    tf.dispose([...new Set(Object.values(this.masks))]);
    for (const s of Object.values(this.adam)) tf.dispose([s.m, s.v]);
  }
}

/** 1 where a gate weight may be non-zero: h and x rows of direction d feed only direction d's units; bias row everywhere. */
function gateBlockMask(E: number, H: number): tf.Tensor {
  const rows = 2 * H + 2 * E + 1;
  const m = new Float32Array(rows * 2 * H);
  for (let d = 0; d < 2; d++) {
    for (let r = 0; r < H; r++) m.fill(1, (d * H + r) * 2 * H + d * H, (d * H + r) * 2 * H + d * H + H);
    for (let r = 0; r < E; r++) m.fill(1, (2 * H + d * E + r) * 2 * H + d * H, (2 * H + d * E + r) * 2 * H + d * H + H);
  }
  m.fill(1, (rows - 1) * 2 * H, rows * 2 * H);
  return tf.tensor2d(m, [rows, 2 * H]);
}

/** 1 on the rows of direction d of an output kernel [2H, K]. */
function halfMask(H: number, K: number, d: number): tf.Tensor {
  const m = new Float32Array(2 * H * K);
  m.fill(1, d * H * K, (d + 1) * H * K);
  return tf.tensor2d(m, [2 * H, K]);
}

import { allowedTransitions } from './crf.js';
import type { Batch } from './data.js';
import { glorotUniform, orthogonal, uniform } from './init.js';
import { Kernel, type KernelExports, type KernelVariant } from './kernel.js';
import { Mulberry32, mulberry32 } from '@nerflow/core';
import { KernelThread, type KernelCall, type KernelStep } from './threads.js';
import { softmaxAt } from './infer-worker.mjs';
import { charFeatures, inputDim, type TaggerSpec } from './spec.js';
import { charLstmBackward, charLstmForward, charLstmShapes, type CharLstmContext } from './char-lstm.js';

/**
 * Cost of one embedding row's Adam update, in sums of one position's gradient row (embeddingAdam). Measured on real
 * batches (AMD EPYC, warm caches): halves of 9 vs 26 µs with the positions cut in half, 18 vs 18 µs with 6.
 */
const EMBEDDING_ROW_COST = 6;
/**
 * The first of the two embeddingAdam calls' share of that modelled work (frequent words, low ids): at one half, the
 * halves took 36 vs 89 µs per batch (one thread, each in turn, warm: the rare words' rows are not in cache); at 0.65
 * 60 vs 76, at 0.75 70 vs 53, at 0.85 78 vs 31 (AMD EPYC, load ~2).
 */
const EMBEDDING_FIRST_SHARE = 0.7;

/**
 * Where in a training job the main thread's idle work (the next batch's dropout masks, where JavaScript draws them:
 * char models and frozen embeddings; otherwise the worker draws them in the kernel after the job) goes: from the
 * BiLSTM's backward step on, which the worker ended later in the profiles made before that step's products were
 * shared (0.04-0.15 ms). At the first barrier, where the two threads arrive within a few µs of each other, the same
 * work delayed the next step by its length (~0.1 ms per batch).
 */
function idleAfter(steps: KernelStep[]): number {
  return Math.max(
    0,
    steps.findIndex((s) => s.label === 'lstmBackward'),
  );
}

/**
 * The batch's real token positions (row-major, r·steps + t; padding id 0 left out) sorted by word id, then position:
 * ids[i] and order[i] for i < the count returned. Sorted as keys id·P + pos (P = size·steps): uint32 when `narrow`
 * (the caller's check that vocab·P fits; a Uint32Array's sort took 2 µs per batch here, a Float64Array's 10), else f64.
 */
export function positionsByWord(b: Batch, ids: Int32Array, order: Int32Array, narrow: boolean): number {
  const P = b.size * b.steps;
  const keys = narrow ? new Uint32Array(P) : new Float64Array(P);
  let n = 0;
  for (let r = 0; r < b.size; r++) {
    const len = b.lengths[r];
    const row = r * b.steps;
    for (let t = 0; t < len; t++) {
      const id = b.tokens[row + t];
      if (id !== 0) keys[n++] = id * P + row + t;
    }
  }
  const sorted = keys.subarray(0, n).sort();
  for (let i = 0; i < n; i++) {
    const key = sorted[i];
    const id = Math.floor(key / P);
    ids[i] = id;
    order[i] = key - id * P;
  }
  return n;
}

/** The dense weights, named and shaped as Keras Bidirectional(LSTM) + TimeDistributed(Dense) store them. */
export function weightShapes(spec: TaggerSpec): [string, number[]][] {
  const { lstmUnits: H, numTags: K } = spec;
  const E = inputDim(spec);
  const dir = (d: string): [string, number[]][] => [
    [`${d}_lstm/kernel`, [E, 4 * H]],
    [`${d}_lstm/recurrent_kernel`, [H, 4 * H]],
    [`${d}_lstm/bias`, [4 * H]],
  ];
  const c = spec.chars;
  // the char CNN: Keras Embedding [chars, dim] and Conv1D kernel [width, dim, filters] + bias
  const chars: [string, number[]][] = !c
    ? []
    : c.type === 'lstm'
      ? charLstmShapes(c.vocabSize, c.dim, c.units)
      : [
          ['char_embedding/embeddings', [c.vocabSize, c.dim]],
          ['char_conv/kernel', [c.width, c.dim, c.filters]],
          ['char_conv/bias', [c.filters]],
        ];
  return [...chars, ...dir('forward'), ...dir('backward'), ['dense/kernel', [2 * H, K]], ['dense/bias', [K]]];
}

/** The CRF head's weights (head crf): transitions [from, to], start and end scores; zeros at first. */
export function crfShapes(spec: TaggerSpec): [string, number[]][] {
  const K = spec.numTags;
  return spec.head === 'crf'
    ? [
        ['crf/transitions', [K, K]],
        ['crf/start', [K]],
        ['crf/end', [K]],
      ]
    : [];
}

type Region = 'param' | 'grad' | 'm' | 'v';

/** One set of the detached embedding step's buffers (byte offsets; FusedBiLstm.embeddingBuffers). */
interface DetachedBuffers {
  dx: number;
  order: number;
  ids: number;
  g: number;
  floats: number;
  masks: number;
  maskFloats: number;
}

/** A batch's dropout mask: drawn in JavaScript, or by the kernel into its memory (an offset there), or none (p = 0). */
type MaskSource = Float32Array | number | null;

/** A mask drawn in JavaScript (the char paths lay masks out in JavaScript; the kernel draws only words-only ones). */
function jsMask(m: MaskSource): Float32Array {
  if (!(m instanceof Float32Array))
    throw new Error('unreachable: a kernel-drawn dropout mask where JavaScript reads it');
  return m;
}

/** Softmax of time-major logits [T·B, K] into row-major [B·T·K], real positions only. */
function softmaxRows(logits: Float32Array, b: Batch, K: number): Float32Array {
  const out = new Float32Array(b.size * b.steps * K);
  for (let r = 0; r < b.size; r++) {
    for (let t = 0; t < b.lengths[r]; t++) softmaxAt(logits, (t * b.size + r) * K, out, (r * b.steps + t) * K, K);
  }
  return out;
}

/**
 * nerflow's fused BiLSTM tagger: Embedding → BiLSTM → per-token softmax or a linear-chain CRF, trained by explicit
 * backpropagation through time in nerflow's WebAssembly SIMD kernel (packages/nn/assembly/lstm.ts).
 *
 * Why not TF.js ops: on TF.js an LSTM step is ~30 small ops per direction and the cost is per op, not per
 * FLOP (see tools/bench/README.md). Here a batch is a handful of kernel calls: per direction one GEMM for
 * every step's input projection, one small GEMM and a fused gate/cell update per step, then BPTT with the
 * weight gradients of all steps as one GEMM each. The math is Keras' LSTM (gate order i, f, c, o, unit
 * forget bias, sigmoid/tanh); weights are stored in Keras' layout, so the stock tf.layers model (layers.ts)
 * loads them and must compute the same loss (a test checks it).
 * - Layout: time-major [T·B, ·]; the backward direction runs over each row reversed (its step s reads
 *   token len−1−s), built in JS, so padding sits at the end of both directions: states computed on padding
 *   only feed later padding, whose loss is masked, so their gradients are exactly 0 with no masking op.
 * - Dropout (input, per direction), recurrent dropout and output dropout (on the BiLSTM's output, before the
 *   dense layer) are Keras-style masks, constant over time.
 * - The embedding table lives in JS memory: rows gathered in JS, and its gradient and Adam update touch
 *   only the rows of the words in the batch (lazy Adam), not the whole vocabulary.
 * - Head crf: the dense layer's outputs are the CRF's emission scores; the kernel's crfNll replaces
 *   softmaxXent (the loss is the sentences' summed NLL divided by the real tokens, so its gradients have the
 *   softmax head's scale) and crfViterbi the argmax. Its weights sit in the same regions (one Adam call).
 */
export class FusedBiLstm {
  readonly spec: TaggerSpec;
  /** [vocab, E] in the kernel's memory (views that stay valid: the memory is shared, never detached), with Adam's moments. */
  get emb(): Float32Array {
    this.thread?.settle();
    return this.embView.p;
  }
  get embM(): Float32Array {
    this.thread?.settle();
    return this.embView.m;
  }
  get embV(): Float32Array {
    this.thread?.settle();
    return this.embView.v;
  }
  /**
   * The tables' views. On 2 threads a training batch's job ends with the embedding's Adam on the worker alone, detached
   * (threads.ts): the main thread returns to the caller meanwhile, so every read of the tables from outside waits for
   * it (the getters above, and view()).
   */
  private readonly embView: { p: Float32Array; m: Float32Array; v: Float32Array };
  /**
   * On 2 threads, what that detached step reads and writes, outside the batch's scratch (which the next batch's layout
   * reuses while the step may still run): two sets used in turn, each the word embeddings' gradient [B·T, We], the
   * positions sorted by word and their ids [B·T] and a row of scratch [We] (`floats` = the B·T they hold), and where
   * the step draws the next batch's dropout masks (maskDraws: the input, recurrent and output masks in drawing order,
   * then the generator's state, a u32; `maskFloats` = their room).
   */
  private embeddingBuffers: DetachedBuffers[] = [];
  private embeddingTurn = 0;
  /** Byte offsets of emb, embM, embV. */
  private readonly embAt: { p: number; m: number; v: number };
  step = 0;
  /** The dropout masks' generator: its state is part of the training state (saved with the optimizer's). */
  readonly dropoutRng: Mulberry32;
  rand: () => number;
  private readonly kern: Kernel;
  /** The second thread, when the model runs on 2 (threads.ts): the backward direction's calls run there. */
  private readonly thread: KernelThread | null;
  /** Dense weights, their gradients and Adam's moments: four regions with one layout (name → offset). */
  private readonly layout = new Map<string, { at: number; n: number; shape: number[] }>();
  private readonly base: Record<Region, number>;
  private readonly total: number;
  /** Head crf with the constraint: the kernel's allowed-moves table (i32 [K·K + 2K]); else 0. */
  private readonly allowed: number = 0;

  /**
   * `threads`: 1, or 2 = the two directions on two threads at once (bit-identical results); `kernel`: which
   * build of the kernel computes (kernel.ts: exact, or fma = fused multiply-add).
   */
  constructor(
    spec: TaggerSpec,
    opts: {
      threads?: 1 | 2;
      kernel?: KernelVariant;
      /** With 2 threads: their spin at a barrier before sleeping (µs; threads.ts SPIN_US by default). */
      spinUs?: number;
      /** With 2 threads: wake the worker as a batch's layout starts (default false; threads.ts prepare). */
      prepare?: boolean;
      /**
       * false: leave every weight zero instead of drawing the seeded initial weights (the caller sets them all,
       * as loading a saved model does: drawing them cost ~85 ms of CPU per load for nothing). Default true.
       */
      init?: boolean;
    } = {},
  ) {
    this.spec = spec;
    this.kern = new Kernel(opts.kernel ?? 'exact');
    this.thread = opts.threads === 2 ? new KernelThread(this.kern) : null;
    if (this.thread && opts.spinUs !== undefined) this.thread.spinUs = opts.spinUs;
    if (this.thread && opts.prepare !== undefined) this.thread.prepares = opts.prepare;
    const { vocabSize: V, embeddingDim: E, lstmUnits: H, numTags: K } = spec;
    if (spec.head === 'crf' && spec.crf?.constrain && spec.crf.tags.length !== K) {
      throw new Error(`CRF constraint: ${spec.crf.tags.length} tag names for ${K} tags`);
    }
    const I = inputDim(spec);
    let total = 0;
    for (const [name, shape] of [...weightShapes(spec), ...crfShapes(spec)]) {
      const n = shape.reduce((a, b) => a * b, 1);
      this.layout.set(name, { at: total, n, shape });
      total += (n + 3) & ~3; // keep every weight 16-byte aligned
    }
    this.total = total;
    const region = () => this.kern.alloc(total, true);
    this.base = { param: region(), grad: region(), m: region(), v: region() };
    if (spec.head === 'crf' && spec.crf?.constrain) {
      const table = allowedTransitions(spec.crf.tags);
      this.allowed = this.kern.alloc(table.length);
      this.kern.i32(this.allowed, table.length).set(table);
    }

    // Keras' initialisers, seeded, drawn in a fixed order: embedding, then per direction kernel and
    // recurrent kernel, then the dense kernel; unit forget-gate bias; zero dense bias. The char CNN draws
    // from its own stream (so adding it leaves the word model's initial weights as they were): embeddings
    // uniform ±√(3/dim) as Ma & Hovy, padding row 0 zero; glorot-uniform conv kernel; zero bias.
    const rand = mulberry32(spec.seed);
    this.embAt = { p: this.kern.alloc(V * E), m: this.kern.alloc(V * E, true), v: this.kern.alloc(V * E, true) };
    this.embView = {
      p: this.kern.f32(this.embAt.p, V * E),
      m: this.kern.f32(this.embAt.m, V * E),
      v: this.kern.f32(this.embAt.v, V * E),
    };
    this.dropoutRng = new Mulberry32((spec.seed ^ 0x9e3779b9) >>> 0);
    this.rand = this.dropoutRng.next;
    if (opts.init === false) return;
    this.embView.p.set(uniform(V * E, 0.05, rand));
    const c = spec.chars;
    if (c) {
      const crand = mulberry32((spec.seed ^ 0x5bd1e995) >>> 0);
      this.view('param', 'char_embedding/embeddings').set(
        uniform(c.vocabSize * c.dim, Math.sqrt(3 / c.dim), crand).fill(0, 0, c.dim),
      );
      if (c.type === 'cnn')
        this.view('param', 'char_conv/kernel').set(
          glorotUniform(c.width * c.dim, c.width * c.filters, c.width * c.dim * c.filters, crand),
        );
      else
        for (const d of ['forward', 'backward']) {
          // the char BiLSTM as the word one: glorot-uniform kernel, orthogonal recurrent kernel, unit forget bias
          const U = c.units;
          this.view('param', `char_${d}_lstm/kernel`).set(glorotUniform(c.dim, 4 * U, c.dim * 4 * U, crand));
          this.view('param', `char_${d}_lstm/recurrent_kernel`).set(orthogonal(U, 4 * U, crand));
          this.view('param', `char_${d}_lstm/bias`).fill(1, U, 2 * U);
        }
    }
    for (const d of ['forward', 'backward']) {
      this.view('param', `${d}_lstm/kernel`).set(glorotUniform(I, 4 * H, I * 4 * H, rand));
      this.view('param', `${d}_lstm/recurrent_kernel`).set(orthogonal(H, 4 * H, rand));
      this.view('param', `${d}_lstm/bias`).fill(1, H, 2 * H);
    }
    this.view('param', 'dense/kernel').set(glorotUniform(2 * H, K, 2 * H * K, rand));
  }

  /** The kernel build this model computes with. */
  get kernel(): KernelVariant {
    return this.kern.variant;
  }

  /** Threads this model computes on (1 or 2). */
  get threads(): 1 | 2 {
    return this.thread ? 2 : 1;
  }

  /**
   * Kernel steps (threads.ts): on two threads each step's main and worker calls at once; on one, each step's main
   * calls then its worker calls. Profiled per step label either way.
   */
  private run(steps: KernelStep[], idle?: () => void, idleFrom = 0, detach = false): void {
    if (this.thread) return this.thread.run(steps, idle, idleFrom, detach);
    const call = ([name, a]: KernelCall) => (this.kern.raw[name] as (...x: number[]) => unknown)(...a);
    for (const s of steps) {
      if (!this.kern.profiling) {
        s.main.forEach(call);
        s.worker.forEach(call);
        continue;
      }
      // profiled as on two threads: the step, and each side's share of it
      const t = performance.now();
      s.main.forEach(call);
      const t1 = performance.now();
      s.worker.forEach(call);
      const t2 = performance.now();
      this.kern.record(s.label, t2 - t);
      this.kern.record(`${s.label} ·main`, t1 - t);
      this.kern.record(`${s.label} ·worker`, t2 - t1);
    }
  }

  /** One kernel function for both directions (the char BiLSTM's): one step of a job, one direction per thread. */
  private both<N extends 'lstmForward' | 'lstmBackward'>(
    name: N,
    fw: Parameters<KernelExports[N]>,
    bw: Parameters<KernelExports[N]>,
  ): void {
    this.run([{ label: `char ${name}`, main: [[name, fw] as KernelCall], worker: [[name, bw] as KernelCall] }]);
  }

  /** A live view of one weight (or its gradient / Adam moment); valid until the next batch. */
  view(region: Region, name: string): Float32Array {
    this.thread?.settle();
    return this.kern.f32(this.ptr(region, name), this.weight(name).n);
  }

  /** Byte offset of one weight in a region of the kernel's memory. */
  private ptr(region: Region, name: string): number {
    return this.base[region] + 4 * this.weight(name).at;
  }

  private weight(name: string): { at: number; n: number } {
    const w = this.layout.get(name);
    if (!w) throw new Error(`no weight ${name}`);
    return w;
  }

  /** The Keras weights (embedding excluded): name → shape, in saving order. */
  shapes(): [string, number[]][] {
    return [...this.layout].filter(([name]) => !name.startsWith('crf/')).map(([name, w]) => [name, w.shape]);
  }

  /** The CRF head's weights (none for the softmax head): name → shape. */
  headShapes(): [string, number[]][] {
    return crfShapes(this.spec);
  }

  /** Keras-style dropout mask, constant over time, scaled by 1/(1-p). */
  private dropMask(n: number, p: number): Float32Array {
    const keep = 1 / (1 - p);
    const out = new Float32Array(n);
    if (this.rand !== this.dropoutRng.next) {
      for (let i = 0; i < n; i++) out[i] = this.rand() < p ? 0 : keep;
      return out;
    }
    // the generator's draws without a call and a branch each (Mulberry32.maskInto: the same draws and state):
    // ~13,000 draws per batch on the main thread while the other thread idles, 2-3x faster than next() per draw
    this.dropoutRng.maskInto(out, p, keep);
    return out;
  }

  /**
   * A batch's dropout masks (input, recurrent, output: `want` = [p, size] each, in drawing order; null where p = 0),
   * drawn from the generator in that order. Taken from `ahead` when it was drawn from the generator's current
   * state for the same sizes and rates (masks are a function of those alone): the same masks and the same state.
   */
  private masks(want: [number, number][]): MaskSource[] {
    const ahead = this.ahead;
    this.ahead = null;
    const key = JSON.stringify(want);
    const drawn = this.aheadKernel;
    this.aheadKernel = null;
    if (drawn && this.rand === this.dropoutRng.next && drawn.state === this.dropoutRng.state && drawn.key === key) {
      // drawn by the worker after the last batch's job (maskDraws), which may still run: the job reads them, and
      // run() waits for that step before it posts the job. The state after them is known without waiting (skip)
      const draws = want.reduce((n, [p, size]) => n + (p > 0 ? size : 0), 0);
      this.dropoutRng.skip(draws);
      return drawn.masks;
    }
    if (ahead && this.rand === this.dropoutRng.next && ahead.state === this.dropoutRng.state && ahead.key === key) {
      this.dropoutRng.state = ahead.end;
      return ahead.masks;
    }
    const out: (Float32Array | null)[] = [];
    for (const [p, n] of want) out.push(p > 0 ? this.dropMask(n, p) : null);
    return out;
  }

  /**
   * With 2 threads: the next batch's masks (assumed the same sizes and rates as this one's, checked when used),
   * drawn from a copy of the generator while the main thread waits for the worker to end this batch's job, not
   * before the next job on the batch's critical path. The generator's own state does not move until they are used.
   */
  private drawAhead(want: [number, number][]): void {
    const g = new Mulberry32(this.dropoutRng.state);
    const state = g.state;
    // built as masks() builds its arrays (push), so that the pass sees one kind of array either way
    const masks: (Float32Array | null)[] = [];
    for (const [p, n] of want) {
      const out = p > 0 ? new Float32Array(n) : null;
      if (out) g.maskInto(out, p, 1 / (1 - p));
      masks.push(out);
    }
    this.ahead = { state, end: g.state, key: JSON.stringify(want), masks };
  }

  /** The next batch's dropout masks, drawn ahead (drawAhead), or null. */
  private ahead: { state: number; end: number; key: string; masks: (Float32Array | null)[] } | null = null;

  /**
   * The next batch's dropout masks as the worker draws them in the kernel after this batch's job (2 threads, words
   * only), or null: from generator state `state` for sizes and rates `key`, into kernel memory (an offset each, null
   * where p = 0). The generator's own state moves only when they are used.
   */
  private aheadKernel: { state: number; key: string; masks: (number | null)[] } | null = null;

  /** One training step (forward, backward, Adam); returns the mean loss over real tokens. */
  train(b: Batch): number {
    // on 2 threads, the detached embedding step's buffers (allocated before the mark: they outlive the batch)
    // and room for the next batch's dropout masks, which that step draws (then the generator's state, one word)
    const maskFloats = this.maskSizes(b.size).reduce((n, size) => n + size, 0) + 1;
    const detached = this.detachesEmbedding() ? this.nextEmbeddingBuffers(b.size * b.steps, maskFloats) : undefined;
    const mark = this.kern.mark();
    const lr = this.lrT(this.step + 1);
    // Adam on the LSTM, dense and CRF weights runs inside the pass, split over the threads (element by element)
    const r = this.pass(b, true, true, false, false, lr, detached);
    this.step++;
    // the char encoder's weights (first in the regions), whose gradients are final only after the pass
    const chars = this.weight('forward_lstm/kernel').at;
    if (chars > 0) {
      const { beta1, beta2, epsilon } = this.spec.adam;
      this.kern.k.adam(this.base.param, this.base.grad, this.base.m, this.base.v, chars, lr, beta1, beta2, epsilon);
    }
    if (!this.spec.freezeEmbeddings && !r.embeddingDone) {
      for (const [name, a] of this.embeddingAdamCalls(b, r.dxAt, lr, 1))
        (this.kern.k[name] as (...x: number[]) => unknown)(...a);
    }
    this.kern.reset(mark);
    return r.loss;
  }

  /** Loss and predictions ([B·T] row-major, like the batch: argmax, or Viterbi with head crf), no dropout. */
  evaluate(b: Batch): { loss: number; predictions: Int32Array } {
    const mark = this.kern.mark();
    const r = this.pass(b, false, false);
    this.kern.reset(mark);
    return { loss: r.loss, predictions: r.predictions! };
  }

  /**
   * Tag probabilities per position ([B·T·K] row-major, like the batch; padding positions hold 0), no dropout:
   * the softmax of the emissions, or with a CRF head its marginals.
   */
  probabilities(b: Batch): Float32Array {
    if (this.spec.head === 'crf') return this.marginals(b);
    const mark = this.kern.mark();
    const r = this.pass(b, false, false, false, true);
    this.kern.reset(mark);
    return r.probs!;
  }

  /**
   * Head crf: each token's tag marginals p(y_t = j | sentence) under the CRF (constrained when the constraint
   * is on), [B·T·K] row-major like the batch, zeros on padding; what the CRF gives as tag probabilities.
   */
  marginals(b: Batch): Float32Array {
    return this.decode(b).probabilities;
  }

  /**
   * Tags and tag probabilities in one forward pass, no dropout (what prediction needs): the argmax of the
   * softmax, or with a CRF head the Viterbi path and the marginals. Row-major [B·T] and [B·T·K].
   */
  decode(b: Batch): { predictions: Int32Array; probabilities: Float32Array } {
    const mark = this.kern.mark();
    if (this.spec.head !== 'crf') {
      const probabilities = this.pass(b, false, false, false, true).probs!;
      this.kern.reset(mark);
      const K = this.spec.numTags;
      const predictions = new Int32Array(b.size * b.steps);
      for (let i = 0; i < predictions.length; i++) {
        let best = 0;
        for (let k = 1; k < K; k++) if (probabilities[i * K + k] > probabilities[i * K + best]) best = k;
        predictions[i] = best;
      }
      return { predictions, probabilities };
    }
    const r = this.pass(b, false, false, true);
    this.kern.reset(mark);
    return { predictions: r.predictions!, probabilities: r.marginals! };
  }

  /**
   * The loss and, when `train`, copies of the dense weights' gradients and the gradient of the embedded
   * inputs (dx: [B·T·E] row-major, summed over both directions; the embedding gradient row by row).
   */
  compute(
    b: Batch,
    train: boolean,
    opts: { dropout?: boolean } = {},
  ): { loss: number; predictions?: Int32Array; grads?: Record<string, Float32Array>; dx?: Float32Array } {
    const mark = this.kern.mark();
    const { dxAt, ...r } = this.pass(b, train, opts.dropout ?? train);
    const grads = train
      ? Object.fromEntries([...this.layout.keys()].map((k) => [k, this.view('grad', k).slice()]))
      : undefined;
    const dx = train ? this.kern.f32(dxAt, b.size * b.steps * this.spec.embeddingDim).slice() : undefined;
    this.kern.reset(mark);
    return { ...r, grads, dx };
  }

  /**
   * Forward (and backward when `train`: gradients left in the grad region, and the word embeddings' gradient
   * at dxAt, [B·T, We] row-major) for one batch; with `probs`, forward only, returning the emissions' softmax.
   * With `adamLr` (training), Adam steps the LSTM, dense and CRF weights too, as soon as their gradients are final.
   */
  private pass(
    b: Batch,
    train: boolean,
    useDropout: boolean,
    marginals = false,
    probs = false,
    adamLr?: number,
    detached?: DetachedBuffers,
  ): {
    loss: number;
    predictions?: Int32Array;
    dxAt: number;
    marginals?: Float32Array;
    probs?: Float32Array;
    /** The embedding's Adam step ran in the pass (training with adamLr, words only). */
    embeddingDone?: boolean;
  } {
    const { embeddingDim: We, lstmUnits: H, numTags: K } = this.spec;
    const E = inputDim(this.spec); // the LSTM input: word embedding (We), then char features
    const G = 4 * H;
    const B = b.size;
    const T = b.steps;
    const TB = T * B;
    // the worker wakes while this thread lays out the batch (JavaScript), not once the job is posted
    this.thread?.prepare();
    const dropout = useDropout ? this.spec.dropout : 0;
    const recurrentDropout = useDropout ? this.spec.recurrentDropout : 0;
    const cs = this.spec.chars;
    if (cs && !b.chars)
      throw new Error(
        'this model reads character features, but the batch has none (featurize output without a chars column: run featurize again)',
      );
    // output dropout's mask drawn after the others, so a model without it draws the same masks as before it existed
    const outputDropout = useDropout ? (this.spec.outputDropout ?? 0) : 0;
    const sizes = this.maskSizes(B);
    const want: [number, number][] = [
      [dropout, sizes[0]],
      [recurrentDropout, sizes[1]],
      [outputDropout, sizes[2]],
    ];
    // indexed, not destructured: an array's iterator deoptimized this function ("wrong map") and recompiled it
    const drawn = this.masks(want);
    const inMask = drawn[0];
    const recMask = drawn[1];
    const outMask = drawn[2];
    // on 2 threads, training: the next batch's masks are drawn while the worker ends this batch's job, by the worker
    // in the kernel after its detached step's Adam (words only), else by this thread in JavaScript (drawAhead)
    const drawsAhead = !!this.thread && train && want.some(([p]) => p > 0) && this.rand === this.dropoutRng.next;
    const kernelDraws = drawsAhead && !!detached && !cs && adamLr !== undefined && !this.spec.freezeEmbeddings;
    const idle = drawsAhead && !kernelDraws ? () => this.drawAhead(want) : undefined;

    const { kern } = this;
    const k = kern.k;
    const a = (n: number) => kern.alloc(n);
    const lengths = a(B);
    const labels = a(TB);
    const pred = a(TB);
    // a literal of two, not ['forward', 'backward'].map(): the array map() made in optimized code differed from the
    // one it made before, which deoptimized this function ("wrong map") and compiled it again (~0.1-0.4 s of CPU)
    const direction = (d: string) => ({
      d,
      ids: a(TB),
      xmask: inMask ? a(B * E) : 0,
      x: a(TB * E),
      // with chars: the word part's dropout mask [B, We] and the embedding lookup [T·B, We] before the char features join it
      wmask: inMask && cs ? a(B * We) : 0,
      wx: cs ? a(TB * We) : 0,
      rmask: recMask ? a(B * H) : 0,
      gates: a(TB * G),
      cell: a(TB * H),
      tc: a(TB * H),
      h: a(TB * H),
      hin: a(TB * H),
      dh: train ? a(TB * H) : 0,
      dz: train ? a(TB * G) : 0,
      dx: train ? a(TB * E) : 0,
      // backward's scratch, one set per direction (they may run at once)
      whT: train ? a(G * H) : 0,
      wxT: train ? a(G * ((E + 3) & ~3)) : 0,
      dhn: train ? a(B * H) : 0,
      dcn: train ? a(B * H) : 0,
    });
    const dirs = [direction('forward'), direction('backward')];
    const hcat = a(TB * 2 * H);
    const omask = outMask === null ? 0 : typeof outMask === 'number' ? outMask : a(B * 2 * H);
    const logits = a(TB * K);
    // dx: the word embeddings' gradient [B·T, We]; dxi (with chars): the whole input's [B·T, E], split into dx and the char CNN's
    const scratch = train
      ? { dhcat: a(TB * 2 * H), woT: a(K * 2 * H), dx: detached?.dx ?? a(TB * We), dxi: cs ? a(TB * E) : 0 }
      : null;
    // char CNN buffers: slots are the batch's B·T positions, row-major like b.tokens
    const nChars = cs ? b.chars!.ids.length : 0;
    const cnn = cs?.type === 'cnn' ? cs : null;
    const cw = cnn ? cnn.width * cnn.dim : 0;
    const cc = cnn
      ? {
          ids: a(nChars),
          offsets: a(B * T + 1),
          cols: a(nChars * cw),
          conv: a(nChars * cnn.filters),
          out: a(B * T * cnn.filters),
          arg: a(B * T * cnn.filters),
          dout: train ? a(B * T * cnn.filters) : 0,
          dwT: train ? a(cw * cnn.filters) : 0,
          dcols: train ? a(nChars * cw) : 0,
          wT: train ? a(cw * cnn.filters) : 0,
        }
      : null;

    // inputs (x: zero on padding), labels and masks into the kernel's memory (views made after the last alloc)
    let charOut: Float32Array | null = null;
    // the char BiLSTM (char-lstm.ts): its two directions as one step on the two threads, before the word job
    const lstmChars = cs?.type === 'lstm' ? cs : null;
    const cl = lstmChars ? charLstmForward(this.charCtx(), b.chars!, B * T, lstmChars.dim, lstmChars.units) : null;
    const clDout = cl && train ? a(B * T * charFeatures(lstmChars!)) : 0;
    if (cl) charOut = kern.f32(cl.out, B * T * charFeatures(lstmChars!));
    if (cnn && cc) {
      kern.i32(cc.ids, nChars).set(b.chars!.ids);
      kern.i32(cc.offsets, B * T + 1).set(b.chars!.offsets);
      k.charCnnForward(
        cc.ids,
        cc.offsets,
        B * T,
        this.ptr('param', 'char_embedding/embeddings'),
        this.ptr('param', 'char_conv/kernel'),
        this.ptr('param', 'char_conv/bias'),
        cnn.dim,
        cnn.width,
        cnn.filters,
        cc.cols,
        cc.conv,
        cc.out,
        cc.arg,
      );
      charOut = kern.f32(cc.out, B * T * cnn.filters);
    }
    kern.i32(lengths, B).set(b.lengths);
    const lab = kern.i32(labels, TB).fill(-1);
    let real = 0;
    for (let r = 0; r < B; r++) {
      const len = b.lengths[r];
      real += len;
      for (let t = 0; t < len; t++) lab[t * B + r] = b.tags[r * T + t];
    }
    for (let d = 0; d < 2; d++) {
      const dir = dirs[d];
      // word ids, time-major (the backward direction reads each row reversed; 0 = padding), then the embedding
      const ids = kern.i32(dir.ids, TB).fill(0);
      for (let r = 0; r < B; r++) {
        const len = b.lengths[r];
        for (let t = 0; t < len; t++) ids[t * B + r] = b.tokens[r * T + (d === 0 ? t : len - 1 - t)];
      }
      if (inMask && cs) {
        const inMaskJs = jsMask(inMask);
        const m = kern.f32(dir.xmask, B * E);
        for (let r = 0; r < B; r++) m.set(inMaskJs.subarray(r * 2 * E + d * E, r * 2 * E + d * E + E), r * E);
        const wm = kern.f32(dir.wmask, B * We);
        for (let r = 0; r < B; r++) wm.set(inMaskJs.subarray(r * 2 * E + d * E, r * 2 * E + d * E + We), r * We);
      }
      if (cs && charOut) {
        // the kernel's embedding lookup (word part, its dropout), then each token's char features (computed once
        // for both directions) beside it, through the same input dropout: x = [emb(word) | chars(word)] · mask
        k.embedInputs(this.embAt.p, dir.ids, dir.wmask, T, B, We, dir.wx);
        const F = charFeatures(cs);
        const x = kern.f32(dir.x, TB * E);
        const wx = kern.f32(dir.wx, TB * We);
        for (let r = 0; r < B; r++) {
          const len = b.lengths[r];
          for (let t = 0; t < T; t++) {
            const o = (t * B + r) * E;
            x.set(wx.subarray((t * B + r) * We, (t * B + r + 1) * We), o);
            if (t >= len) {
              x.fill(0, o + We, o + E);
              continue;
            }
            const slot = r * T + (d === 0 ? t : len - 1 - t);
            x.set(charOut.subarray(slot * F, (slot + 1) * F), o + We);
            if (inMask) for (let j = We; j < E; j++) x[o + j] *= jsMask(inMask)[r * 2 * E + d * E + j];
          }
        }
      }
      if (recMask && cs) {
        const m = kern.f32(dir.rmask, B * H);
        const recMaskJs = jsMask(recMask);
        for (let r = 0; r < B; r++) m.set(recMaskJs.subarray(r * 2 * H + d * H, r * 2 * H + d * H + H), r * H);
      }
    }
    const forwardArgs = (dir: (typeof dirs)[number]): Parameters<KernelExports['lstmForward']> => [
      dir.x,
      this.ptr('param', `${dir.d}_lstm/kernel`),
      this.ptr('param', `${dir.d}_lstm/recurrent_kernel`),
      this.ptr('param', `${dir.d}_lstm/bias`),
      dir.rmask,
      T,
      B,
      E,
      H,
      dir.gates,
      dir.cell,
      dir.tc,
      dir.h,
      dir.hin,
    ];
    const [fw, bw] = dirs;
    const wo = this.ptr('param', 'dense/kernel');
    const softmax = this.spec.head !== 'crf' && !probs;
    const rowLoss = softmax ? a(2 * TB) : 0; // f64 per row
    const s = scratch;
    // training: the gradients zeroed in the job's first step, half on each thread (colSum of no rows sets its
    // output to 0), not on the main thread before the job; nothing writes them before the backward steps
    const half = (this.total >> 1) & ~3;
    const zeroGrads = (main: boolean): KernelCall[] =>
      !train
        ? []
        : main
          ? [['colSum', [0, this.base.grad, 0, half, 0]]]
          : [['colSum', [0, this.base.grad + 4 * half, 0, this.total - half, 0]]];
    // The batch as steps for the two threads (threads.ts; one thread runs each step's calls in turn, the same
    // calls on the same buffers, so results are the same to the bit). The directions take a thread each; the
    // output layer's rows are cut at R1 (a multiple of 4: the GEMM's row blocks, so every sum runs as in one call).
    const R1 = Math.floor(TB / 2) & ~3;
    // output dropout: hcat's rows times their sentence's mask row, as they are joined (and d hcat's as computed)
    if (outMask instanceof Float32Array) kern.f32(omask, B * 2 * H).set(outMask);
    const maskRows = (x: number, i0: number, i1: number): KernelCall[] =>
      outMask ? [['maskRowRange', [x, omask, B, 2 * H, i0, i1]]] : [];
    const rows = (i0: number, i1: number): KernelCall[] => [
      ['joinRows', [fw.h, bw.h, lengths, B, H, hcat, i0, i1]],
      ...maskRows(hcat, i0, i1),
      [
        'gemmBias',
        [
          hcat + 4 * i0 * 2 * H,
          2 * H,
          1,
          wo,
          K,
          logits + 4 * i0 * K,
          K,
          i1 - i0,
          2 * H,
          K,
          this.ptr('param', 'dense/bias'),
        ],
      ],
      ...(softmax
        ? [
            [
              'softmaxXentRows',
              [logits + 4 * i0 * K, labels + 4 * i0, pred + 4 * i0, i1 - i0, K, real, train ? 1 : 0, rowLoss + 8 * i0],
            ] as KernelCall,
          ]
        : []),
    ];
    // words only: each direction's dropout masks ([B, E] and [B, H]) taken out of the batch's ([B, 2E], [B, 2H]: a
    // row's two directions side by side) in the job's first step, by each thread for its own direction (splitDirection
    // over one step of rows of length 1), not by ~4B typed-array copies on this thread before the job
    const both =
      !cs && (inMask || recMask)
        ? {
            x: inMask === null ? 0 : typeof inMask === 'number' ? inMask : a(B * 2 * E),
            h: recMask === null ? 0 : typeof recMask === 'number' ? recMask : a(B * 2 * H),
            ones: a(B),
          }
        : null;
    if (both) {
      kern.i32(both.ones, B).fill(1);
      if (inMask instanceof Float32Array) kern.f32(both.x, B * 2 * E).set(inMask);
      if (recMask instanceof Float32Array) kern.f32(both.h, B * 2 * H).set(recMask);
    }
    const splitMasks = (dir: (typeof dirs)[number], d: 0 | 1): KernelCall[] =>
      !both
        ? []
        : [
            ...(both.x ? [['splitDirection', [both.x, both.ones, 1, B, E, d, dir.xmask]] as KernelCall] : []),
            ...(both.h ? [['splitDirection', [both.h, both.ones, 1, B, H, d, dir.rmask]] as KernelCall] : []),
          ];
    const embed = (dir: (typeof dirs)[number]): KernelCall[] =>
      cs ? [] : [['embedInputs', [this.embAt.p, dir.ids, dir.xmask, T, B, E, dir.x]]];
    // rows of d hcat [T·B, 2H] = d logits · Woᵀ: each needs only its own row of d logits
    const dhcatRows = (i0: number, i1: number): KernelCall[] => [
      ['gemm', [logits + 4 * i0 * K, K, 1, s!.woT, 2 * H, s!.dhcat + 4 * i0 * 2 * H, 2 * H, i1 - i0, K, 2 * H, 0]],
      ...maskRows(s!.dhcat, i0, i1),
    ];
    // softmax training: each thread's rows of d hcat right after its rows of the loss, in the same step
    const early = train && softmax;
    // steps end where a thread reads what the other wrote (a barrier): few steps, as each barrier costs a wait
    const forward: KernelStep[] = [
      {
        // with each direction's embedding lookup (words only) and the output weights' transpose (training)
        label: 'lstmForward',
        main: [
          ...zeroGrads(true),
          ...splitMasks(fw, 0),
          ...embed(fw),
          ['lstmForward', forwardArgs(fw)],
          ...(train ? [['transpose', [wo, s!.woT, 2 * H, K]] as KernelCall] : []),
        ],
        worker: [...zeroGrads(false), ...splitMasks(bw, 1), ...embed(bw), ['lstmForward', forwardArgs(bw)]],
      },
      {
        label: 'outputForward',
        main: [...rows(0, R1), ...(early ? dhcatRows(0, R1) : [])],
        worker: [...rows(R1, TB), ...(early ? dhcatRows(R1, TB) : [])],
      },
    ];
    const backwardArgs = (dir: (typeof dirs)[number]): Parameters<KernelExports['lstmBackward']> => [
      dir.dh,
      dir.x,
      this.ptr('param', `${dir.d}_lstm/kernel`),
      this.ptr('param', `${dir.d}_lstm/recurrent_kernel`),
      dir.rmask,
      T,
      B,
      E,
      H,
      dir.gates,
      dir.cell,
      dir.tc,
      dir.hin,
      dir.dz,
      dir.dx,
      this.ptr('grad', `${dir.d}_lstm/kernel`),
      this.ptr('grad', `${dir.d}_lstm/recurrent_kernel`),
      this.ptr('grad', `${dir.d}_lstm/bias`),
      dir.whT,
      dir.wxT,
      dir.dhn,
      dir.dcn,
    ];
    // backward, once the logits hold d loss / d logits: the dense weights' gradient [2H, K] cut at row M1 and
    // d hcat [T·B, 2H] at row R1 (multiples of 4), each direction's d h and BPTT (the weight gradients' blocks shared)
    const M1 = H & ~3;
    const dW = this.ptr('grad', 'dense/kernel');
    const adamOn = (from: number, to: number): KernelCall => {
      const { beta1, beta2, epsilon } = this.spec.adam;
      const o = 4 * from;
      const [p, g, m, v] = [this.base.param + o, this.base.grad + o, this.base.m + o, this.base.v + o];
      return ['adam', [p, g, m, v, to - from, adamLr!, beta1, beta2, epsilon]];
    };
    const at = (name: string) => this.weight(name).at;
    const B1 = B >> 1;
    const joinInputGradsStep: KernelStep = {
      label: 'joinInputGrads',
      main: [['joinInputGradsRows', [fw.dx, bw.dx, fw.xmask, bw.xmask, lengths, T, B, E, s?.dx ?? 0, 0, B1]]],
      worker: [['joinInputGradsRows', [fw.dx, bw.dx, fw.xmask, bw.xmask, lengths, T, B, E, s?.dx ?? 0, B1, B]]],
    };
    const embeddingInPass = train && !cs && adamLr !== undefined && !this.spec.freezeEmbeddings;
    // the next batch's masks (assumed the same sizes and rates as this one's, checked when used), drawn by the worker
    // after the embedding's Adam from the generator's state now (past this batch's masks), into the detached set
    const drawCalls: KernelCall[] = [];
    if (kernelDraws && detached) {
      const masks: (number | null)[] = [];
      let at = detached.masks;
      const stateAt = detached.masks + 4 * want.reduce((n, [, size]) => n + size, 0);
      for (const [p, n] of want) {
        masks.push(p > 0 ? at : null);
        if (p > 0) drawCalls.push(['maskDraws', [at, n, stateAt, p * 4294967296, 1 / (1 - p)]]);
        at += 4 * n;
      }
      new Uint32Array(kern.memory.buffer, stateAt, 1)[0] = this.dropoutRng.state;
      this.aheadKernel = { state: this.dropoutRng.state, key: JSON.stringify(want), masks };
    }
    // on 2 threads (detached: its buffers given): the worker's alone, after the job's last barrier, while this thread
    // returns; else cut between the threads at a word
    const embeddingStep = (): KernelStep => {
      if (detached)
        return {
          label: 'embeddingAdam',
          main: [],
          worker: [...this.embeddingAdamCalls(b, s!.dx, adamLr!, 1, detached), ...drawCalls],
        };
      const [main, worker] = this.embeddingAdamCalls(b, s!.dx, adamLr!, 2);
      return { label: 'embeddingAdam', main: [main], worker: [worker] };
    };
    const detach = !!detached && embeddingInPass;
    const adamDense = adamLr !== undefined ? [adamOn(at('dense/kernel'), this.total)] : [];
    // Adam on both directions' LSTM weights, after the backward step (a direction's gradients are final only when both
    // threads have left lstmBackwardShared, which may have computed blocks of either), cut in two halves
    const [lstm0, lstm1] = [at('forward_lstm/kernel'), at('dense/kernel')];
    const lstmHalf = lstm0 + (((lstm1 - lstm0) >> 1) & ~3);
    const adamLstm = (main: boolean): KernelCall[] =>
      adamLr === undefined ? [] : [main ? adamOn(lstm0, lstmHalf) : adamOn(lstmHalf, lstm1)];
    // lstmBackwardShared's work area: a 64-byte record per direction, zeroed (nothing ready, no block taken)
    const gradWork = train ? a(32) : 0;
    if (gradWork) kern.i32(gradWork, 32).fill(0);
    const backward: KernelStep[] = train
      ? [
          ...(early ? [] : [{ label: 'outputBackward', main: dhcatRows(0, R1), worker: dhcatRows(R1, TB) }]),
          {
            // with the dense weights' gradient (rows cut at M1), each direction's d h, and Adam on its weights
            label: 'lstmBackward',
            main: [
              ['gemm', [hcat, 1, 2 * H, logits, K, dW, K, M1, TB, K, 0]],
              ['colSum', [logits, this.ptr('grad', 'dense/bias'), TB, K, 0]],
              ['splitDirection', [s!.dhcat, lengths, T, B, H, 0, fw.dh]],
              ['lstmBackwardShared', [...backwardArgs(fw), gradWork, 0]],
            ],
            worker: [
              ['gemm', [hcat + 4 * M1, 1, 2 * H, logits, K, dW + 4 * M1 * K, K, 2 * H - M1, TB, K, 0]],
              ['splitDirection', [s!.dhcat, lengths, T, B, H, 1, bw.dh]],
              ['lstmBackwardShared', [...backwardArgs(bw), gradWork, 1]],
            ],
          },
          // words only (a char CNN takes its part of the input gradient first, after the job): each token's input
          // gradient, the sentences cut in two (with Adam on the dense and CRF weights, whose gradients are final
          // now), then the embedding's lazy Adam, the words cut in two
          cs
            ? { label: 'adam', main: [...adamLstm(true), ...adamDense], worker: adamLstm(false) }
            : {
                ...joinInputGradsStep,
                main: [...joinInputGradsStep.main, ...adamLstm(true), ...adamDense],
                worker: [...joinInputGradsStep.worker, ...adamLstm(false)],
              },
          ...(embeddingInPass ? [embeddingStep()] : []),
        ]
      : [];

    let loss: number;
    if (softmax) {
      // softmax head: the whole batch is one job; the loss adds the rows' losses in row order, as one call would
      const job = [...forward, ...backward];
      this.run(job, idle, idleAfter(job), detach);
      const rl = new Float64Array(kern.memory.buffer, rowLoss, TB);
      let total = 0;
      for (let i = 0; i < TB; i++) total += rl[i];
      loss = total / Math.max(1, real);
    } else {
      this.run(forward);
      if (probs) return { loss: NaN, probs: softmaxRows(kern.f32(logits, TB * K), b, K), dxAt: 0 };
      const crf = (w: string) => this.ptr('param', `crf/${w}`);
      const work = a(k.crfScratch(T, K));
      if (marginals) {
        // the Viterbi path first (it reads the emissions, which the marginals overwrite)
        k.crfViterbi(logits, lengths, T, B, K, crf('transitions'), crf('start'), crf('end'), this.allowed, pred, work);
        // no gold tags: the kernel leaves the marginals in the logits' place (the grad region is scratch here)
        k.crfNll(
          logits,
          0,
          lengths,
          T,
          B,
          K,
          crf('transitions'),
          crf('start'),
          crf('end'),
          this.allowed,
          1,
          1,
          this.ptr('grad', 'crf/transitions'),
          this.ptr('grad', 'crf/start'),
          this.ptr('grad', 'crf/end'),
          work,
        );
        const p = kern.f32(logits, TB * K);
        const out = new Float32Array(B * T * K);
        for (let t = 0; t < T; t++)
          for (let r = 0; r < B; r++) out.set(p.subarray((t * B + r) * K, (t * B + r + 1) * K), (r * T + t) * K);
        const path = kern.i32(pred, TB);
        const predictions = new Int32Array(B * T);
        for (let t = 0; t < T; t++) for (let r = 0; r < B; r++) predictions[r * T + t] = path[t * B + r];
        return { loss: 0, marginals: out, predictions, dxAt: 0 };
      }
      if (!train)
        k.crfViterbi(logits, lengths, T, B, K, crf('transitions'), crf('start'), crf('end'), this.allowed, pred, work);
      loss =
        k.crfNll(
          logits,
          labels,
          lengths,
          T,
          B,
          K,
          crf('transitions'),
          crf('start'),
          crf('end'),
          this.allowed,
          real > 0 ? 1 / real : 0,
          train ? 1 : 0,
          this.ptr('grad', 'crf/transitions'),
          this.ptr('grad', 'crf/start'),
          this.ptr('grad', 'crf/end'),
          work,
        ) / Math.max(1, real);
      if (train) this.run(backward, idle, idleAfter(backward), detach);
    }
    if (!train) {
      const p = kern.i32(pred, TB);
      const predictions = new Int32Array(B * T);
      for (let t = 0; t < T; t++) for (let r = 0; r < B; r++) predictions[r * T + t] = p[t * B + r];
      return { loss, predictions, dxAt: 0 };
    }
    const sc = s!;
    // input gradient per token (forward step t + backward step len−1−t, through the dropout masks): in the job
    if (!cs) return { loss, dxAt: sc.dx, embeddingDone: embeddingInPass };
    // with chars: the whole input's gradient (the same fixed order, forward + backward, on any thread count),
    // then its word part [0, We) to dx for the embedding rows, its char part [We, E) to the char encoder (run once)
    k.joinInputGrads(fw.dx, bw.dx, fw.xmask, bw.xmask, lengths, T, B, E, sc.dxi);
    const F = charFeatures(cs);
    const dxi = kern.f32(sc.dxi, TB * E);
    const dxw = kern.f32(sc.dx, TB * We);
    const dout = kern.f32(cc ? cc.dout : clDout, TB * F);
    for (let i = 0; i < TB; i++) {
      dxw.set(dxi.subarray(i * E, i * E + We), i * We);
      dout.set(dxi.subarray(i * E + We, (i + 1) * E), i * F);
    }
    if (cl) {
      charLstmBackward(this.charCtx(), cl, clDout, lstmChars!);
      return { loss, dxAt: sc.dx };
    }
    if (!cnn || !cc) throw new Error('unreachable: chars without a char encoder');
    k.charCnnBackward(
      cc.dout,
      cc.ids,
      cc.offsets,
      B * T,
      this.ptr('param', 'char_conv/kernel'),
      cnn.dim,
      cnn.width,
      cnn.filters,
      cc.cols,
      cc.arg,
      this.ptr('grad', 'char_conv/kernel'),
      this.ptr('grad', 'char_conv/bias'),
      this.ptr('grad', 'char_embedding/embeddings'),
      cc.dwT,
      cc.dcols,
      cc.wT,
    );
    return { loss, dxAt: sc.dx };
  }

  /** Each token slot's char features, [B·T, F] row-major like the batch (zeros on slots without characters). */
  charFeatures(b: Batch): Float32Array {
    const c = this.spec.chars;
    if (!c || !b.chars) throw new Error('charFeatures: the model has no char features, or the batch no chars');
    const mark = this.kern.mark();
    const slots = b.size * b.steps;
    const F = charFeatures(c);
    let out: number;
    if (c.type === 'lstm') out = charLstmForward(this.charCtx(), b.chars, slots, c.dim, c.units).out;
    else {
      const { kern } = this;
      const n = b.chars.ids.length;
      const ids = kern.alloc(n);
      const offsets = kern.alloc(slots + 1);
      const [cols, conv, arg] = [kern.alloc(n * c.width * c.dim), kern.alloc(n * F), kern.alloc(slots * F)];
      out = kern.alloc(slots * F);
      kern.i32(ids, n).set(b.chars.ids);
      kern.i32(offsets, slots + 1).set(b.chars.offsets);
      kern.k.charCnnForward(
        ids,
        offsets,
        slots,
        this.ptr('param', 'char_embedding/embeddings'),
        this.ptr('param', 'char_conv/kernel'),
        this.ptr('param', 'char_conv/bias'),
        c.dim,
        c.width,
        c.filters,
        cols,
        conv,
        out,
        arg,
      );
    }
    const r = this.kern.f32(out, slots * F).slice();
    this.kern.reset(mark);
    return r;
  }

  /** What the char BiLSTM (char-lstm.ts) computes with: this model's kernel, weights and threads. */
  private charCtx(): CharLstmContext {
    return {
      kern: this.kern,
      ptr: (region, name) => this.ptr(region, name),
      both: (name, fw, bw) => this.both(name, fw, bw),
    };
  }

  /** Adam's step size at step t (bias-corrected). */
  private lrT(t = this.step): number {
    const { beta1, beta2 } = this.spec.adam;
    return (this.spec.learningRate * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
  }

  /**
   * Lazy Adam on the embedding: only rows of words in the batch (padding row 0 never moves); dx at dxAt, [B·T, E].
   * As kernel calls: one, or two cut at a word (each word's row is updated by one call), for two threads.
   */
  private embeddingAdamCalls(
    b: Batch,
    dxAt: number,
    lr: number,
    parts: 1 | 2,
    into?: { order: number; ids: number; g: number },
  ): KernelCall[] {
    // the batch's token positions sorted by word id, then position: the kernel sums each word's rows in that order
    const P = b.size * b.steps;
    const { kern } = this;
    const E = this.spec.embeddingDim;
    const order = into?.order ?? kern.alloc(P);
    const ids = into?.ids ?? kern.alloc(P);
    const iv = kern.i32(ids, P);
    const n = positionsByWord(b, iv, kern.i32(order, P), this.spec.vocabSize * P <= 0xffffffff);
    // the cut: half the time, at a word boundary. A word's Adam update (E square roots and divisions) costs about
    // as much as EMBEDDING_ROW_COST of its positions' sums; cutting the positions in half gave the first call the
    // frequent words (few rows, many positions) and the second the rare ones (3-5x the first's time). The first call
    // takes EMBEDDING_FIRST_SHARE of that work: the rare words' rows (and moments) come from memory, the frequent
    // ones' are in cache from the batches before
    let cut = n;
    if (parts === 2) {
      let total = 0;
      for (let i = 0; i < n; i++) total += i > 0 && iv[i] === iv[i - 1] ? 1 : 1 + EMBEDDING_ROW_COST;
      let acc = 0;
      cut = 0;
      while (cut < n && acc < EMBEDDING_FIRST_SHARE * total) {
        acc += cut > 0 && iv[cut] === iv[cut - 1] ? 1 : 1 + EMBEDDING_ROW_COST;
        cut++;
      }
      while (cut > 0 && cut < n && iv[cut] === iv[cut - 1]) cut++;
    }
    const { beta1, beta2, epsilon } = this.spec.adam;
    const { p, m, v } = this.embAt;
    const call = (from: number, to: number): KernelCall => [
      'embeddingAdam',
      [
        p,
        m,
        v,
        dxAt,
        order + 4 * from,
        ids + 4 * from,
        to - from,
        E,
        lr,
        beta1,
        beta2,
        epsilon,
        into?.g ?? kern.alloc(E),
      ],
    ];
    return parts === 2 ? [call(0, cut), call(cut, n)] : [call(0, n)];
  }

  /**
   * A batch's dropout masks' sizes in drawing order (floats): input [B, 2E], recurrent [B, 2H], output [B, 2H], each
   * row a sentence's two directions side by side.
   */
  private maskSizes(B: number): [number, number, number] {
    const E = inputDim(this.spec);
    const H = this.spec.lstmUnits;
    return [B * 2 * E, B * 2 * H, B * 2 * H];
  }

  /** Whether a training batch's embedding step runs detached on the worker (2 threads, words only, not frozen). */
  private detachesEmbedding(): boolean {
    return this.thread !== null && !this.spec.chars && !this.spec.freezeEmbeddings;
  }

  /**
   * The next of the two sets of the detached embedding step's buffers, for `floats` positions (B·T): grown when too
   * small (a new set; the old one's memory is not reused). Called outside any mark, so the batch's reset keeps them.
   */
  private nextEmbeddingBuffers(floats: number, maskFloats: number): DetachedBuffers {
    const turn = (this.embeddingTurn ^= 1);
    const k = this.kern;
    const We = this.spec.embeddingDim;
    const set = this.embeddingBuffers[turn] ?? { dx: 0, order: 0, ids: 0, g: 0, floats: 0, masks: 0, maskFloats: 0 };
    if (set.floats < floats) {
      const n = Math.max(floats, 2 * set.floats);
      Object.assign(set, { dx: k.alloc(n * We), order: k.alloc(n), ids: k.alloc(n), g: k.alloc(We), floats: n });
    }
    if (set.maskFloats < maskFloats) Object.assign(set, { masks: k.alloc(maskFloats), maskFloats });
    this.embeddingBuffers[turn] = set;
    return set;
  }

  dispose(): void {
    // the kernel's memory is garbage-collected with the instance; the second thread is stopped
    this.thread?.close();
  }
}

import { Worker } from 'node:worker_threads';
import type { Batch } from './data.js';
import { FusedBiLstm } from './fused.js';
import { Kernel, type KernelExports } from './kernel.js';
import { allowedTransitions } from './crf.js';
import type { Tagger } from './tagger.js';
import { arenaFloats, computeBatch, type InferLayout } from './infer-worker.mjs';

/** The kernel's inference entries (assembly/infer.ts). */
interface InferExports extends KernelExports {
  inferTable(emb: number, wx: number, bias: number, V: number, We: number, H: number, table: number): void;
}

export interface Decoded {
  /** Tags per position, [B·T] row-major (argmax, or the CRF's Viterbi path). */
  predictions: Int32Array;
  /** Tag probabilities per position, [B·T·K] row-major (softmax, or the CRF's marginals); 0 on padding. */
  probabilities: Float32Array;
}

export interface InferenceOptions {
  /** Worker threads, each computing whole batches (0: every batch on the calling thread). */
  workers: number;
  /** The largest batch a thread must hold: rows × steps (larger batches go through the model's own decode). */
  maxRows: number;
  maxSteps: number;
}

/**
 * nerflow's inference engine: the forward pass alone of a fused word-level BiLSTM tagger (softmax or CRF head),
 * with the same results as FusedBiLstm.decode to the bit (a test checks it), computed with less work:
 * - per direction the input projection bias + emb·Wx of every word is a table [V, 4H] computed once (the same
 *   GEMM, so the same sums), a step copies rows of it; padding is never computed; nothing is kept for a
 *   backward pass (assembly/infer.ts);
 * - data parallel: `workers` threads, each its own kernel instance on the model's one shared memory (weights
 *   and tables once) and its own scratch, each running WHOLE batches (both directions, the output layer, the
 *   softmax or the CRF) with no synchronisation between them, while the calling thread reads, tokenizes and
 *   writes. Batches are queued and handed to the first free worker; each `decode` resolves with its batch.
 * Char models (and any other tagger) are not handled: `create` returns null and the caller uses the tagger.
 */
export class InferenceEngine {
  private readonly workers: Worker[] = [];
  /** Jobs posted to each worker and not answered yet (up to `ahead`). */
  private readonly posted = new Map<Worker, number>();
  private readonly queue: {
    id: number;
    batch: Batch;
    compact: boolean;
    resolve: (d: Decoded) => void;
    reject: (e: Error) => void;
  }[] = [];
  private readonly pending = new Map<number, (r: { error?: string } & Partial<Decoded>) => void>();
  /**
   * Jobs posted to a worker that it may not have started, oldest first, and their claim flags (shared memory,
   * slot = id % CLAIM_SLOTS: 0 = free, 1 = the worker computes it, 2 = the calling thread does): helpOne takes
   * one the worker has not claimed yet, so a caller never waits on a job that sits behind a busy (or
   * descheduled) worker; the worker skips a job claimed before it got to it.
   */
  private readonly postedJobs: { id: number; batch: Batch; compact: boolean }[] = [];
  private readonly claims = new Int32Array(new SharedArrayBuffer(4 * CLAIM_SLOTS));
  private nextId = 0;
  /**
   * Jobs a worker holds at once (posted, not answered): 2 = the one it computes and the next, so it never idles
   * between two jobs while the calling thread is busy. A caller that computes too (predict) raises it: it takes
   * back the jobs a worker has not started (helpOne).
   */
  ahead = 2;
  private closed = false;

  private constructor(
    private readonly tagger: Tagger,
    private readonly kern: Kernel,
    private readonly layout: InferLayout,
    /** The calling thread's scratch. */
    private readonly arena: { base: number; end: number },
    private readonly limits: { rows: number; steps: number },
  ) {}

  /** An engine for a fused word-level tagger (null for any other: use the tagger's decodeBatch). */
  static async create(tagger: Tagger, opts: InferenceOptions): Promise<InferenceEngine | null> {
    const m = (tagger as { m?: unknown }).m;
    if (!(m instanceof FusedBiLstm) || m.spec.chars) return null;
    const spec = m.spec;
    const { vocabSize: V, embeddingDim: E, lstmUnits: H, numTags: K } = spec;
    const kern = new Kernel(m.kernel);
    const k = kern.k as InferExports;
    const copy = (data: Float32Array) => {
      const at = kern.alloc(data.length);
      kern.f32(at, data.length).set(data);
      return at;
    };
    const emb = copy(m.emb);
    const tables: [number, number] = [0, 0];
    const wh: [number, number] = [0, 0];
    // the two directions' tables (~2.8 GFLOP for the baseline): the backward one built by the first worker as it
    // starts, at the same time as this thread builds the forward one (the same function: the same bits)
    const tableJobs = ['forward', 'backward'].map((d, i) => {
      const wx = copy(m.view('param', `${d}_lstm/kernel`));
      const bias = copy(m.view('param', `${d}_lstm/bias`));
      wh[i] = copy(m.view('param', `${d}_lstm/recurrent_kernel`));
      tables[i] = kern.alloc(V * 4 * H);
      return { emb, wx, bias, V, We: E, H, table: tables[i] };
    });
    let crf: InferLayout['crf'] = null;
    if (spec.head === 'crf') {
      let allowed = 0;
      if (spec.crf?.constrain) {
        const table = allowedTransitions(spec.crf.tags);
        allowed = kern.alloc(table.length);
        kern.i32(allowed, table.length).set(table);
      }
      crf = {
        transitions: copy(m.view('param', 'crf/transitions')),
        start: copy(m.view('param', 'crf/start')),
        end: copy(m.view('param', 'crf/end')),
        allowed,
      };
    }
    const layout: InferLayout = {
      H,
      K,
      tables,
      wh,
      denseKernel: copy(m.view('param', 'dense/kernel')),
      denseBias: copy(m.view('param', 'dense/bias')),
      crf,
    };
    const rows = Math.max(1, opts.maxRows);
    const steps = Math.max(1, opts.maxSteps);
    const floats = arenaFloats(layout, crf ? k.crfScratch(steps, K) : 0, rows, steps);
    const arena = () => {
      const base = kern.alloc(floats);
      return { base, end: base + floats * 4 };
    };
    const engine = new InferenceEngine(tagger, kern, layout, arena(), { rows, steps });
    const started: Promise<void>[] = [];
    for (let i = 0; i < opts.workers; i++) {
      const table = i === 0 ? tableJobs[1] : null;
      const w = new Worker(new URL('./infer-worker.mjs', import.meta.url), {
        workerData: {
          nerflowInfer: true,
          module: kern.module,
          memory: kern.memory,
          L: layout,
          arena: arena(),
          table,
          claims: engine.claims,
        },
        stdin: false,
        // the worker is plain JavaScript: no loader (a parent run through tsx would otherwise load it in every worker)
        execArgv: [],
      });
      engine.workers.push(w);
      started.push(
        new Promise<void>((resolve, reject) => {
          w.once('error', reject);
          w.once('message', () => resolve());
        }),
      );
      w.on('message', (msg: { id?: number; error?: string; skipped?: boolean } & Partial<Decoded>) => {
        if (msg.id === undefined) return;
        const at = engine.postedJobs.findIndex((j) => j.id === msg.id);
        if (at >= 0) engine.postedJobs.splice(at, 1);
        const done = msg.skipped ? undefined : engine.pending.get(msg.id);
        if (!msg.skipped) engine.pending.delete(msg.id);
        const left = engine.posted.get(w)! - 1;
        engine.posted.set(w, left);
        if (!left) w.unref(); // idle: it never keeps the process alive
        done?.(msg);
        engine.pump();
      });
      w.on('error', (e) => engine.fail(e));
    }
    for (const [i, t] of tableJobs.entries())
      if (i === 0 || !opts.workers) k.inferTable(t.emb, t.wx, t.bias, t.V, t.We, t.H, t.table);
    await Promise.all(started);
    // an idle worker never keeps the process alive, a busy one does (unref after the listeners: attaching one
    // refs the worker again)
    for (const w of engine.workers) {
      w.unref();
      engine.posted.set(w, 0);
    }
    return engine;
  }

  /** Worker threads computing batches (0: the calling thread). */
  get threads(): number {
    return this.workers.length;
  }

  /**
   * One batch on the calling thread (the same results as `decode`). `compact`: probabilities holds each
   * position's probability of its own tag, [B·T], instead of every tag's.
   */
  decodeSync(b: Batch, compact = false): Decoded {
    if (!this.fits(b)) return compact ? ownTag(this.tagger.decodeBatch(b), this.layout.K) : this.tagger.decodeBatch(b);
    return computeBatch(this.kern.k, this.kern.memory, this.layout, this.arena, {
      B: b.size,
      T: b.steps,
      tokens: b.tokens,
      lengths: b.lengths,
      compact,
    });
  }

  /** One batch on the first free worker (on the calling thread when the engine has none); `compact` as decodeSync. */
  async decode(b: Batch, compact = false): Promise<Decoded> {
    if (!this.workers.length || !this.fits(b)) return this.decodeSync(b, compact);
    if (this.closed) throw new Error('inference engine closed');
    return new Promise<Decoded>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, batch: b, compact, resolve, reject });
      this.pump();
    });
  }

  /**
   * Whether the engine computes this batch: rows sorted by length (as predict builds them; a batch in another
   * order goes to the tagger: computed in sorted order, its output layer's GEMM would see the rows in other
   * 4-row blocks, which with the fma build can move a last bit), within the scratch, no chars.
   */
  private fits(b: Batch): boolean {
    return b.size <= this.limits.rows && b.steps <= this.limits.steps && !b.chars && sortedByLength(b);
  }

  /**
   * Compute on the calling thread the oldest batch no worker has started: one still queued, else one posted to a
   * worker that has not claimed it yet (a caller that would otherwise wait for its batches lends its thread:
   * predict's main thread). Returns whether it computed one.
   */
  helpOne(): boolean {
    const job = this.queue.shift();
    if (job) {
      try {
        job.resolve(this.decodeSync(job.batch, job.compact));
      } catch (e) {
        job.reject(e as Error);
      }
      return true;
    }
    for (let i = 0; i < this.postedJobs.length; i++) {
      const { id, batch, compact } = this.postedJobs[i];
      if (Atomics.compareExchange(this.claims, id % CLAIM_SLOTS, 0, 2) !== 0) continue;
      this.postedJobs.splice(i, 1);
      const done = this.pending.get(id)!;
      this.pending.delete(id);
      try {
        done(this.decodeSync(batch, compact));
      } catch (e) {
        done({ error: (e as Error).message });
      }
      return true;
    }
    return false;
  }

  private pump(): void {
    while (this.queue.length) {
      // the worker with the fewest jobs posted, if it has room
      let w: Worker | null = null;
      let n = this.ahead;
      for (const [x, c] of this.posted)
        if (c < n) {
          w = x;
          n = c;
        }
      if (!w) break;
      this.posted.set(w, n + 1);
      const { id, batch: b, compact, resolve, reject } = this.queue.shift()!;
      this.pending.set(id, (r) => {
        if (r.error) reject(new Error(`inference worker: ${r.error}`));
        else resolve({ predictions: r.predictions!, probabilities: r.probabilities! });
      });
      if (!n) w.ref();
      Atomics.store(this.claims, id % CLAIM_SLOTS, 0);
      this.postedJobs.push({ id, batch: b, compact });
      w.postMessage({ id, B: b.size, T: b.steps, tokens: b.tokens, lengths: b.lengths, compact });
    }
  }

  private fail(e: Error): void {
    for (const done of this.pending.values()) done({ error: e.message });
    this.pending.clear();
    this.postedJobs.length = 0;
    for (const q of this.queue.splice(0)) q.reject(e);
  }

  /** Stop the workers (idempotent); the tagger is the caller's. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('inference engine closed'));
    for (const w of this.workers) void w.terminate();
  }
}

/** Claim flags of posted jobs (more than the jobs ever posted at once: workers × ahead). */
const CLAIM_SLOTS = 4096;

/** Decoded with each position's probability of its own tag only. */
function ownTag(d: Decoded, K: number): Decoded {
  const own = new Float32Array(d.predictions.length);
  for (let i = 0; i < own.length; i++) own[i] = d.probabilities[i * K + d.predictions[i]];
  return { predictions: d.predictions, probabilities: own };
}

/** Whether the batch's rows are sorted by length ascending (what the kernel's inferDirection needs). */
function sortedByLength(b: Batch): boolean {
  for (let r = 1; r < b.size; r++) if (b.lengths[r] < b.lengths[r - 1]) return false;
  return true;
}

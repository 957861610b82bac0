// webassembly.d.ts is a global declaration (not a module): every program that compiles this file needs it
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./webassembly.d.ts" />
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

/**
 * nerflow's WebAssembly SIMD kernel (source: packages/nn/assembly/lstm.ts; `npm run build:wasm -w
 * @nerflow/nn` rebuilds wasm/lstm.wasm from it, and a test checks the committed binary is that build).
 * Pointers are byte offsets into the instance's own memory; see the source for each function's contract.
 */
/** A tuple without its last element. */
type WithoutLast<T extends unknown[]> = T extends [...infer Head, unknown] ? Head : never;

export interface KernelExports {
  heapBase(): number;
  gemm(
    a: number,
    sai: number,
    sak: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    M: number,
    K: number,
    N: number,
    acc: number,
  ): void;
  /** gemm's arguments but the last, acc: the sums start from bias[j] (a row vector) instead of C or 0. */
  gemmBias(...a: [...WithoutLast<Parameters<KernelExports['gemm']>>, bias: number]): void;
  transpose(x: number, out: number, R: number, C: number): void;
  colSum(x: number, out: number, R: number, N: number, acc: number): void;
  fillRows(out: number, v: number, R: number, N: number): void;
  tanhInto(x: number, out: number, n: number): void;
  sigmoidInto(x: number, out: number, n: number): void;
  lstmForward(
    x: number,
    wx: number,
    wh: number,
    bias: number,
    rmask: number,
    T: number,
    B: number,
    E: number,
    H: number,
    gates: number,
    cell: number,
    tc: number,
    h: number,
    hin: number,
  ): void;
  lstmBackward(
    dh: number,
    x: number,
    wx: number,
    wh: number,
    rmask: number,
    T: number,
    B: number,
    E: number,
    H: number,
    gates: number,
    cell: number,
    tc: number,
    hin: number,
    dz: number,
    dx: number,
    dwx: number,
    dwh: number,
    dbias: number,
    whT: number,
    wxT: number,
    dhn: number,
    dcn: number,
  ): void;
  /** lstmBackward's arguments, then the two directions' shared work area (32 zeroed i32) and this call's direction. */
  lstmBackwardShared(...a: [...Parameters<KernelExports['lstmBackward']>, work: number, self: number]): void;
  maskDraws(out: number, n: number, state: number, P: number, keep: number): void;
  joinDirections(hf: number, hb: number, lengths: number, T: number, B: number, H: number, out: number): void;
  splitDirections(d: number, lengths: number, T: number, B: number, H: number, dhf: number, dhb: number): void;
  joinRows(hf: number, hb: number, lengths: number, B: number, H: number, out: number, i0: number, i1: number): void;
  splitDirection(d: number, lengths: number, T: number, B: number, H: number, dir: number, out: number): void;
  softmaxXent(logits: number, labels: number, pred: number, R: number, K: number, count: number, grad: number): number;
  softmaxXentRows(
    logits: number,
    labels: number,
    pred: number,
    R: number,
    K: number,
    count: number,
    grad: number,
    rowLoss: number,
  ): number;
  adam(p: number, g: number, m: number, v: number, n: number, lrT: number, b1: number, b2: number, eps: number): void;
  // the CRF head (assembly/crf.ts)
  crfScratch(T: number, K: number): number;
  crfNll(
    emis: number,
    labels: number,
    lengths: number,
    T: number,
    B: number,
    K: number,
    tr: number,
    start: number,
    end: number,
    allowed: number,
    scale: number,
    grad: number,
    dtr: number,
    dstart: number,
    dend: number,
    work: number,
  ): number;
  crfViterbi(
    emis: number,
    lengths: number,
    T: number,
    B: number,
    K: number,
    tr: number,
    start: number,
    end: number,
    allowed: number,
    pred: number,
    work: number,
  ): void;
  embedInputs(emb: number, ids: number, mask: number, T: number, B: number, E: number, out: number): void;
  joinInputGrads(
    dxf: number,
    dxb: number,
    maskF: number,
    maskB: number,
    lengths: number,
    T: number,
    B: number,
    E: number,
    out: number,
  ): void;
  joinInputGradsRows(
    dxf: number,
    dxb: number,
    maskF: number,
    maskB: number,
    lengths: number,
    T: number,
    B: number,
    E: number,
    out: number,
    r0: number,
    r1: number,
  ): void;
  embeddingAdam(
    emb: number,
    m: number,
    v: number,
    dx: number,
    order: number,
    ids: number,
    n: number,
    E: number,
    lr: number,
    b1: number,
    b2: number,
    eps: number,
    g: number,
  ): void;
  // character CNN (assembly/chars.ts)
  charCnnForward(
    ids: number,
    offsets: number,
    N: number,
    emb: number,
    wconv: number,
    bias: number,
    D: number,
    w: number,
    F: number,
    cols: number,
    conv: number,
    out: number,
    arg: number,
  ): void;
  charCnnBackward(
    dout: number,
    ids: number,
    offsets: number,
    N: number,
    wconv: number,
    D: number,
    w: number,
    F: number,
    cols: number,
    arg: number,
    dwconv: number,
    dbias: number,
    demb: number,
    dwT: number,
    dcols: number,
    wT: number,
  ): void;
  // dropout on the BiLSTM's output (assembly/dropout.ts)
  maskRows(x: number, mask: number, T: number, B: number, D: number): void;
  /** maskRows on rows [i0, i1) only (row i times mask row i mod B), for a batch's rows cut between threads. */
  maskRowRange(x: number, mask: number, B: number, D: number, i0: number, i1: number): void;
}

export const WASM_FILE = new URL('../wasm/lstm.wasm', import.meta.url);
/** The same source built with relaxed SIMD: fused multiply-add in the GEMM (see assembly/lstm.ts, madd). */
export const WASM_FMA_FILE = new URL('../wasm/lstm-fma.wasm', import.meta.url);

/**
 * Which build of the kernel computes: `exact` = multiply then add, the same bits on every CPU and runtime;
 * `fma` = fused multiply-add (relaxed SIMD), faster where mul and add share execution ports (Intel), with one
 * rounding instead of two, so its results differ from exact's in the last bits (and between a CPU with FMA
 * and one without, where the runtime falls back to mul + add).
 */
export type KernelVariant = 'exact' | 'fma';

const compiled = new Map<KernelVariant, WebAssembly.Module>();

/** The compiled module, once per process (Node compiles synchronously at any size). */
function wasmModule(variant: KernelVariant): WebAssembly.Module {
  let m = compiled.get(variant);
  if (!m) {
    if (variant === 'fma' && !relaxedSimd())
      throw new Error('the fma kernel needs WebAssembly relaxed SIMD, which this runtime lacks (use the exact kernel)');
    m = new WebAssembly.Module(readFileSync(variant === 'fma' ? WASM_FMA_FILE : WASM_FILE));
    compiled.set(variant, m);
  }
  return m;
}

/** What `train.kernel` may say: a build, or auto = fma where the runtime runs relaxed SIMD, else exact. */
export type KernelSetting = 'auto' | KernelVariant;

export function resolveKernel(setting: KernelSetting): KernelVariant {
  if (setting === 'auto') return relaxedSimd() ? 'fma' : 'exact';
  if (setting === 'fma' && !relaxedSimd())
    throw new Error(
      'train.kernel: fma needs WebAssembly relaxed SIMD, which this runtime lacks: set train.kernel: auto or exact',
    );
  return setting;
}

let relaxed: boolean | null = null;

/**
 * Whether this runtime runs WebAssembly relaxed SIMD. V8 ships it from 11.4 (Node 22); Node 20's V8 11.3 has
 * it behind --experimental-wasm-relaxed-simd, which is switched on here (it only adds instructions to the
 * validator) before the fma build is validated.
 */
export function relaxedSimd(): boolean {
  if (relaxed === null) {
    const bytes = readFileSync(WASM_FMA_FILE);
    relaxed = WebAssembly.validate(bytes);
    if (!relaxed) {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
      relaxed = WebAssembly.validate(bytes);
    }
  }
  return relaxed;
}

const PAGE = 65536;

/** Milliseconds and calls per kernel function, collected while profiling is on (the benchmark's --profile). */
export const kernelProfile = new Map<string, { ms: number; calls: number }>();
let profiling = false;

/** Time every call into kernels created from now on (off by default: a timer per call costs ~0.1 µs). */
export function setKernelProfiling(on: boolean): void {
  profiling = on;
}

function profiled(exports: KernelExports, record: (name: string, ms: number) => void): KernelExports {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(exports as unknown as Record<string, (...a: number[]) => number>)) {
    out[name] = (...a: number[]) => {
      const t = performance.now();
      const r = f(...a);
      record(name, performance.now() - t);
      return r;
    };
  }
  return out as unknown as KernelExports;
}

/** Add one call of `name` taking `ms` to the profile. */
function record(name: string, ms: number): void {
  const p = kernelProfile.get(name) ?? { ms: 0, calls: 0 };
  p.ms += ms;
  p.calls++;
  kernelProfile.set(name, p);
}

/** Wasm pages the kernel's memory may grow to (4 GiB, all wasm32 addresses; a shared memory needs a maximum). */
const MAX_PAGES = 65536;

/**
 * One kernel instance with its own memory, and a bump allocator over it: `alloc` hands out 16-byte
 * aligned regions; `mark`/`reset` free everything allocated after a mark (per-batch scratch).
 * Views are made fresh after every allocation that may have grown the memory.
 */
export class Kernel {
  /** The kernel's functions (timed when profiling was on at construction). */
  readonly k: KernelExports;
  /** The same functions, never timed (threads.ts times a pair of calls as one). */
  readonly raw: KernelExports;
  readonly profiling: boolean;
  readonly record = record;
  /** Shared, so that a second thread (threads.ts) can run the same module on it. */
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  private top: number;

  readonly variant: KernelVariant;

  constructor(variant: KernelVariant = 'exact') {
    this.variant = variant;
    this.memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    this.module = wasmModule(variant);
    this.raw = new WebAssembly.Instance(this.module, { env: { memory: this.memory } })
      .exports as unknown as KernelExports;
    this.profiling = profiling;
    this.k = profiling ? profiled(this.raw, record) : this.raw;
    this.top = (this.k.heapBase() + 15) & ~15; // never over the module's static data
  }

  /** `floats` 4-byte elements (zero-filled when `zero`); returns the byte offset. */
  alloc(floats: number, zero = false): number {
    const at = this.top;
    this.top = at + ((floats * 4 + 15) & ~15);
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / PAGE));
    if (zero) new Uint8Array(this.memory.buffer, at, this.top - at).fill(0);
    return at;
  }

  mark(): number {
    return this.top;
  }

  reset(mark: number): void {
    this.top = mark;
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }
}

/**
 * The kernel's own GEMM speed on one thread, in GFLOP/s: the best of `repeats` timed runs of an
 * [M, K] × [K, N] product (the benchmark's reference peak, printed next to the LSTM's achieved rate).
 */
export function gemmGflops(M: number, K: number, N: number, repeats = 7, variant: KernelVariant = 'exact'): number {
  const kern = new Kernel(variant);
  const a = kern.alloc(M * K);
  const b = kern.alloc(K * N);
  const c = kern.alloc(M * N);
  kern.f32(a, M * K).fill(0.5);
  kern.f32(b, K * N).fill(0.25);
  const reps = Math.max(1, Math.round(2e8 / (2 * M * K * N)));
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) kern.raw.gemm(a, K, 1, b, N, c, N, M, K, N, 0);
    best = Math.min(best, (performance.now() - t) / reps);
  }
  return (2 * M * K * N) / (best * 1e6);
}

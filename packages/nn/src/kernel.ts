// webassembly.d.ts is a global declaration (not a module): every program that compiles this file needs it
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./webassembly.d.ts" />
import { readFileSync } from 'node:fs';

/**
 * nerflow's WebAssembly SIMD kernel (source: packages/nn/assembly/lstm.ts; `npm run build:wasm -w
 * @nerflow/nn` rebuilds wasm/lstm.wasm from it, and a test checks the committed binary is that build).
 * Pointers are byte offsets into the instance's own memory; see the source for each function's contract.
 */
export interface KernelExports {
  heapBase(): number;
  gemm(a: number, sai: number, sak: number, b: number, ldb: number, c: number, ldc: number, M: number, K: number, N: number, acc: number): void;
  transpose(x: number, out: number, R: number, C: number): void;
  colSum(x: number, out: number, R: number, N: number, acc: number): void;
  fillRows(out: number, v: number, R: number, N: number): void;
  tanhInto(x: number, out: number, n: number): void;
  sigmoidInto(x: number, out: number, n: number): void;
  lstmForward(x: number, wx: number, wh: number, bias: number, rmask: number, T: number, B: number, E: number, H: number,
    gates: number, cell: number, tc: number, h: number, hin: number): void;
  lstmBackward(dh: number, x: number, wx: number, wh: number, rmask: number, T: number, B: number, E: number, H: number,
    gates: number, cell: number, tc: number, hin: number, dz: number, dx: number, dwx: number, dwh: number, dbias: number,
    whT: number, wxT: number, dhn: number, dcn: number): void;
  joinDirections(hf: number, hb: number, lengths: number, T: number, B: number, H: number, out: number): void;
  splitDirections(d: number, lengths: number, T: number, B: number, H: number, dhf: number, dhb: number): void;
  softmaxXent(logits: number, labels: number, pred: number, R: number, K: number, count: number, grad: number): number;
  adam(p: number, g: number, m: number, v: number, n: number, lrT: number, b1: number, b2: number, eps: number): void;
  // the CRF head (assembly/crf.ts)
  crfScratch(T: number, K: number): number;
  crfNll(emis: number, labels: number, lengths: number, T: number, B: number, K: number, tr: number, start: number, end: number,
    allowed: number, scale: number, grad: number, dtr: number, dstart: number, dend: number, work: number): number;
  crfViterbi(emis: number, lengths: number, T: number, B: number, K: number, tr: number, start: number, end: number,
    allowed: number, pred: number, work: number): void;
}

export const WASM_FILE = new URL('../wasm/lstm.wasm', import.meta.url);

let compiled: WebAssembly.Module | null = null;

/** The compiled module, once per process (Node compiles synchronously at any size). */
function wasmModule(): WebAssembly.Module {
  if (!compiled) compiled = new WebAssembly.Module(readFileSync(WASM_FILE));
  return compiled;
}

const PAGE = 65536;

/** Milliseconds and calls per kernel function, collected while profiling is on (the benchmark's --profile). */
export const kernelProfile = new Map<string, { ms: number; calls: number }>();
let profiling = false;

/** Time every call into kernels created from now on (off by default: a timer per call costs ~0.1 µs). */
export function setKernelProfiling(on: boolean): void {
  profiling = on;
}

function profiled(exports: KernelExports): KernelExports {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(exports as unknown as Record<string, (...a: number[]) => number>)) {
    out[name] = (...a: number[]) => {
      const t = performance.now();
      const r = f(...a);
      const p = kernelProfile.get(name) ?? { ms: 0, calls: 0 };
      p.ms += performance.now() - t;
      p.calls++;
      kernelProfile.set(name, p);
      return r;
    };
  }
  return out as unknown as KernelExports;
}

/**
 * One kernel instance with its own memory, and a bump allocator over it: `alloc` hands out 16-byte
 * aligned regions; `mark`/`reset` free everything allocated after a mark (per-batch scratch).
 * Views are made fresh after every allocation that may have grown the memory.
 */
export class Kernel {
  readonly k: KernelExports;
  private readonly memory: WebAssembly.Memory;
  private top: number;

  constructor() {
    this.memory = new WebAssembly.Memory({ initial: 16 });
    const k = new WebAssembly.Instance(wasmModule(), { env: { memory: this.memory } }).exports as unknown as KernelExports;
    this.k = profiling ? profiled(k) : k;
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

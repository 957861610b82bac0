import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Kernel, KernelExports } from './kernel.js';

/**
 * A second thread for the kernel: a worker that instantiates the same WebAssembly module on the same
 * shared memory, so a kernel call can run there on pointers the main thread laid out. The main thread
 * posts one call at a time through a control block in that memory (Atomics.wait/notify, no messages,
 * no copies) and runs its own call meanwhile; `pair` returns when both are done.
 *
 * Used for the two directions of the BiLSTM, which are independent until the output layer: each
 * direction's call is the same code on its own buffers whether it runs here or on the main thread, so
 * results are bit-identical to one thread (a test checks the weights after training).
 */

/** Control block layout (i32 words): job counter, done counter, function index, argument count, ready, error. */
const JOB = 0;
const DONE = 1;
const FN = 2;
const NARGS = 3;
const READY = 4;
const ERROR = 5;
const CTL_BYTES = 32;
const MAX_ARGS = 32;
/** Bytes of kernel memory a KernelThread needs for its control block and arguments. */
export const CONTROL_FLOATS = (CTL_BYTES + 8 * MAX_ARGS) / 4;

// The worker's code, evaluated as a CommonJS script (no file to resolve, with or without tsx).
const WORKER = `
const { workerData } = require('node:worker_threads');
const { module, memory, at, names, port } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(memory.buffer, at, ${CTL_BYTES / 4});
const args = new Float64Array(memory.buffer, at + ${CTL_BYTES}, ${MAX_ARGS});
Atomics.store(ctl, ${READY}, 1);
Atomics.notify(ctl, ${READY});
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${JOB}, seen);
  const job = Atomics.load(ctl, ${JOB});
  if (job === seen) continue;
  if (job < 0) break;
  seen = job;
  try {
    k[names[ctl[${FN}]]](...args.subarray(0, ctl[${NARGS}]));
  } catch (e) {
    port.postMessage(String(e && e.stack || e));
    Atomics.store(ctl, ${ERROR}, 1);
  }
  Atomics.store(ctl, ${DONE}, job);
  Atomics.notify(ctl, ${DONE});
}
`;

/** How long `pair` and start-up wait for the worker before calling it lost (a kernel call takes milliseconds). */
const LOST_MS = 120_000;

export class KernelThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly names: string[];
  private job = 0;
  private closed = false;

  constructor(private readonly kern: Kernel) {
    const at = kern.alloc(CONTROL_FLOATS, true);
    this.names = Object.keys(kern.raw);
    this.ctl = new Int32Array(kern.memory.buffer, at, CTL_BYTES / 4);
    this.args = new Float64Array(kern.memory.buffer, at + CTL_BYTES, MAX_ARGS);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER, {
      eval: true,
      workerData: { module: kern.module, memory: kern.memory, at, names: this.names, port: port2 },
      transferList: [port2],
      // the worker runs only the kernel: no stdin, and it never keeps the process alive
      stdin: false,
    });
    this.worker.unref();
    this.port.unref();
    // wait until it runs: a call posted before would wait as long anyway, and its instantiation writes the
    // module's static data into the shared memory, which must not happen while the main thread reads it
    this.waitFor(READY, 0, 'start');
  }

  /**
   * Run kernel function `name` with `a` on the main thread and with `b` on the worker, at the same time;
   * returns when both are done. Profiled (when kernel profiling is on) as one call of `name`.
   */
  pair<N extends keyof KernelExports>(name: N, a: Parameters<KernelExports[N]>, b: Parameters<KernelExports[N]>): void {
    if (this.closed) throw new Error('kernel thread already closed');
    const t = this.kern.profiling ? performance.now() : 0;
    const fn = this.names.indexOf(name);
    this.args.set(b as number[]);
    this.ctl[FN] = fn;
    this.ctl[NARGS] = b.length;
    const job = ++this.job;
    Atomics.store(this.ctl, JOB, job);
    Atomics.notify(this.ctl, JOB);
    let mine: unknown = null;
    try {
      (this.kern.raw[name] as (...x: number[]) => unknown)(...(a as number[]));
    } catch (e) {
      mine = e;
    }
    this.waitFor(DONE, job - 1, name);
    if (Atomics.load(this.ctl, ERROR)) {
      Atomics.store(this.ctl, ERROR, 0);
      const msg = receiveMessageOnPort(this.port)?.message ?? 'unknown error';
      throw new Error(`the kernel's second thread failed in ${name}: ${msg}`);
    }
    if (mine) throw mine;
    if (this.kern.profiling) this.kern.record(name, performance.now() - t);
  }

  /** Wait until ctl[word] moves past `from` (READY: 0 → 1; DONE: job − 1 → job). */
  private waitFor(word: number, from: number, what: string): void {
    const t0 = Date.now();
    while (Atomics.load(this.ctl, word) === from) {
      if (Atomics.wait(this.ctl, word, from, 1000) === 'timed-out' && Date.now() - t0 > LOST_MS) {
        throw new Error(`the kernel's second thread did not answer (${what}) within ${LOST_MS / 1000} s`);
      }
    }
  }

  /** Stop the worker (idempotent). The kernel's memory stays usable by the main thread. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, JOB, -1);
    Atomics.notify(this.ctl, JOB);
    this.port.close();
  }
}

/** What `train.threads` may say: a number of threads, or auto. */
export type ThreadsSetting = 'auto' | 1 | 2;

/**
 * Threads for one trial's kernel: an explicit 1 or 2, or auto = the cores left free by the trials
 * running at once (`parallel`), at most 2 (the kernel splits work between the two LSTM directions).
 * Never more than the cores left free, so a sweep never oversubscribes the machine; `capped` says an
 * explicit setting was lowered.
 */
export function resolveThreads(
  setting: ThreadsSetting,
  parallel = 1,
  cores = availableParallelism(),
): { threads: 1 | 2; capped: boolean } {
  const free = Math.max(1, Math.floor(cores / Math.max(1, parallel)));
  const want = setting === 'auto' ? 2 : setting;
  const threads = Math.min(want, free, 2) as 1 | 2;
  return { threads, capped: setting !== 'auto' && threads < setting };
}

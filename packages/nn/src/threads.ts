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

/** Control block layout (i32 words): job counter, done counter, calls in the job, (unused), ready, error, barrier. */
const JOB = 0;
const DONE = 1;
const NCALLS = 2;
const READY = 4;
const ERROR = 5;
const SYNC = 6;
const CTL_BYTES = 32;
/** Calls in one job (barriers included), and f64 arguments over all of them. */
const MAX_CALLS = 32;
const MAX_ARGS = 256;
const TABLE_BYTES = 8 * MAX_CALLS;
/** Bytes of kernel memory a KernelThread needs for its control block, call table and arguments. */
export const CONTROL_FLOATS = (CTL_BYTES + TABLE_BYTES + 8 * MAX_ARGS) / 4;
/** A call-table entry's function index that means "barrier": wait until the other thread reaches its own. */
const BARRIER = -1;
/**
 * Milliseconds a thread spins at a barrier (or waiting for the worker's end) before it sleeps in Atomics.wait:
 * the two threads reach a barrier within microseconds of each other on an idle machine, and waking a sleeping
 * thread costs tens of microseconds; on a loaded machine the other thread may be descheduled for milliseconds,
 * and spinning longer would only burn a core others need.
 */
const SPIN_MS = 0.03;

// The worker's code, evaluated as a CommonJS script (no file to resolve, with or without tsx). A job is a list of
// calls with barriers between segments; after an error the worker skips the job's remaining calls but still
// meets every barrier, so the main thread never waits for it forever.
const WORKER = `
const { workerData } = require('node:worker_threads');
const { module, memory, at, names, port } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(memory.buffer, at, ${CTL_BYTES / 4});
const table = new Int32Array(memory.buffer, at + ${CTL_BYTES}, ${TABLE_BYTES / 4});
const args = new Float64Array(memory.buffer, at + ${CTL_BYTES + TABLE_BYTES}, ${MAX_ARGS});
Atomics.store(ctl, ${READY}, 1);
Atomics.notify(ctl, ${READY});
let seen = 0;
let syncs = 0;
for (;;) {
  Atomics.wait(ctl, ${JOB}, seen);
  const job = Atomics.load(ctl, ${JOB});
  if (job === seen) continue;
  if (job < 0) break;
  seen = job;
  let failed = false;
  for (let c = 0, a = 0, n = ctl[${NCALLS}]; c < n; c++) {
    const fn = table[2 * c], nargs = table[2 * c + 1];
    if (fn === ${BARRIER}) {
      const target = 2 * ++syncs;
      Atomics.add(ctl, ${SYNC}, 1);
      Atomics.notify(ctl, ${SYNC});
      const t0 = performance.now();
      let v;
      while ((v = Atomics.load(ctl, ${SYNC})) < target) if (performance.now() - t0 > ${SPIN_MS}) Atomics.wait(ctl, ${SYNC}, v, 1);
      continue;
    }
    if (!failed) {
      try {
        k[names[fn]](...args.subarray(a, a + nargs));
      } catch (e) {
        failed = true;
        port.postMessage(String(e && e.stack || e));
        Atomics.store(ctl, ${ERROR}, 1);
      }
    }
    a += nargs;
  }
  Atomics.store(ctl, ${DONE}, job);
  Atomics.notify(ctl, ${DONE});
}
`;

/** How long `run` and start-up wait for the worker before calling it lost (a kernel call takes milliseconds). */
const LOST_MS = 120_000;

/** One kernel call: a function's name and its arguments. */
export type KernelCall = { [N in keyof KernelExports]: [N, Parameters<KernelExports[N]>] }[keyof KernelExports];

/**
 * One step of a job: `main`'s calls run on the main thread while `worker`'s run on the second thread, and the
 * step ends when both are done (a barrier); `label` names the step in the kernel profile.
 */
export interface KernelStep {
  label: string;
  main: KernelCall[];
  worker: KernelCall[];
}

export class KernelThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly ctl: Int32Array;
  private readonly table: Int32Array;
  private readonly args: Float64Array;
  private readonly names: string[];
  private job = 0;
  private syncs = 0;
  private closed = false;

  constructor(private readonly kern: Kernel) {
    const at = kern.alloc(CONTROL_FLOATS, true);
    this.names = Object.keys(kern.raw);
    this.ctl = new Int32Array(kern.memory.buffer, at, CTL_BYTES / 4);
    this.table = new Int32Array(kern.memory.buffer, at + CTL_BYTES, TABLE_BYTES / 4);
    this.args = new Float64Array(kern.memory.buffer, at + CTL_BYTES + TABLE_BYTES, MAX_ARGS);
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
    this.run([{ label: name, main: [[name, a] as KernelCall], worker: [[name, b] as KernelCall] }]);
  }

  /**
   * Run a job: its steps in order, each step's `main` calls here while its `worker` calls run on the second
   * thread, with a barrier between steps (a step reads what both threads wrote in the steps before). One
   * hand-off per job; the barriers spin briefly, as both threads reach them at about the same time.
   * Profiled (when kernel profiling is on) as one call of each step's label, timed until both threads are done.
   */
  run(steps: KernelStep[]): void {
    if (this.closed) throw new Error('kernel thread already closed');
    let calls = 0;
    let nargs = 0;
    for (const [i, s] of steps.entries()) {
      for (const [name, a] of s.worker) {
        if (calls >= MAX_CALLS || nargs + a.length > MAX_ARGS) throw new Error('kernel thread: job too large');
        this.table[2 * calls] = this.names.indexOf(name);
        this.table[2 * calls + 1] = a.length;
        this.args.set(a as number[], nargs);
        calls++;
        nargs += a.length;
      }
      if (i < steps.length - 1) {
        if (calls >= MAX_CALLS) throw new Error('kernel thread: job too large');
        this.table[2 * calls] = BARRIER;
        this.table[2 * calls + 1] = 0;
        calls++;
      }
    }
    this.ctl[NCALLS] = calls;
    const job = ++this.job;
    Atomics.store(this.ctl, JOB, job);
    Atomics.notify(this.ctl, JOB);
    let mine: unknown = null;
    const last = steps.at(-1)?.label ?? 'job';
    for (const [i, s] of steps.entries()) {
      const t = this.kern.profiling ? performance.now() : 0;
      if (!mine) {
        try {
          for (const [name, a] of s.main) (this.kern.raw[name] as (...x: number[]) => unknown)(...(a as number[]));
        } catch (e) {
          mine = e;
        }
      }
      if (i < steps.length - 1) this.barrier(s.label);
      else this.waitFor(DONE, job - 1, last);
      if (this.kern.profiling) this.kern.record(s.label, performance.now() - t);
    }
    if (Atomics.load(this.ctl, ERROR)) {
      Atomics.store(this.ctl, ERROR, 0);
      const msg = receiveMessageOnPort(this.port)?.message ?? 'unknown error';
      const names = [...new Set(steps.flatMap((s) => s.worker.map(([n]) => n)))].join(', ');
      throw new Error(`the kernel's second thread failed in ${names}: ${msg}`);
    }
    if (mine) throw mine;
  }

  /** Meet the worker at the next barrier of the job (spin, then sleep). */
  private barrier(what: string): void {
    const target = 2 * ++this.syncs;
    Atomics.add(this.ctl, SYNC, 1);
    Atomics.notify(this.ctl, SYNC);
    const t0 = performance.now();
    let v: number;
    while ((v = Atomics.load(this.ctl, SYNC)) < target) {
      const t = performance.now() - t0;
      if (t > SPIN_MS && Atomics.wait(this.ctl, SYNC, v, 1000) === 'timed-out' && t > LOST_MS)
        throw new Error(`the kernel's second thread did not answer (${what}) within ${LOST_MS / 1000} s`);
    }
  }

  /** Wait until ctl[word] moves past `from` (READY: 0 → 1; DONE: job − 1 → job): spin, then sleep. */
  private waitFor(word: number, from: number, what: string): void {
    const t0 = performance.now();
    while (Atomics.load(this.ctl, word) === from) {
      const t = performance.now() - t0;
      if (t <= SPIN_MS) continue;
      if (Atomics.wait(this.ctl, word, from, 1000) === 'timed-out' && t > LOST_MS) {
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

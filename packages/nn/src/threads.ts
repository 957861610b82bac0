import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { usableCores } from '@nerflow/core';
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

/**
 * Control block layout (i32 words): job counter, done counter, calls in the job, profiling on, ready, error,
 * barrier, spin limit (µs), linger after a detached job (µs).
 */
const JOB = 0;
const DONE = 1;
const NCALLS = 2;
const PROFILE = 3;
const READY = 4;
const ERROR = 5;
const SYNC = 6;
const SPIN = 7;
const LINGER = 8;
const CTL_BYTES = 48;
/** Calls in one job (barriers included), and f64 arguments over all of them. */
const MAX_CALLS = 32;
const MAX_ARGS = 256;
const TABLE_BYTES = 8 * MAX_CALLS;
/** With profiling on, the worker's compute time in each step of the last job, barrier waits excluded (ms, f64). */
const TIMES_BYTES = 8 * MAX_CALLS;
/** Bytes of kernel memory a KernelThread needs for its control block, call table, arguments and step times. */
export const CONTROL_FLOATS = (CTL_BYTES + TABLE_BYTES + 8 * MAX_ARGS + TIMES_BYTES) / 4;
/** A call-table entry's function index that means "barrier": wait until the other thread reaches its own. */
const BARRIER = -1;
/**
 * Microseconds a thread spins at a barrier (or waiting for the worker's end) before it sleeps in Atomics.wait, on a
 * machine with cores to spare (the default of `KernelThread.spinUs`). There the two threads reach a barrier within
 * ~0.1 ms of each other (each thread's ~2-3 ms step varies by a few percent from batch to batch), and a thread that
 * went to sleep wakes tens of microseconds after the notify (a virtual CPU halted in between), on the batch's
 * critical path: 200 µs instead of 30 made 2-thread training 1.7% faster on an idle machine (ms per batch, two models
 * of the same code alternating in one process, 4 × 300 batches each: 5.593/5.632 → 5.495/5.494).
 */
export const SPIN_US = 200;
/**
 * The spin on a loaded machine (`spinFor`): there the other thread may be descheduled for milliseconds and a long
 * spin only burns CPU others need. Two 2-thread trainings at once on 2 cores: 12.5–12.9 ms/batch each with 30 µs,
 * 13.1–13.5 with 200.
 */
export const SPIN_LOADED_US = 30;

/**
 * The barrier spin for a machine's load: SPIN_US while the 1-minute load average is within the cores (a 2-thread
 * training counts 2), else SPIN_LOADED_US.
 */
export function spinFor(load: number, cores: number): number {
  return load > cores + 0.5 ? SPIN_LOADED_US : SPIN_US;
}

/** How often (ms) a KernelThread re-reads the load average to choose its spin. */
const SPIN_CHECK_MS = 1000;
/**
 * Microseconds the worker spins for the next job after a detached one (`run`'s detach: a training batch) before it
 * sleeps. The caller lays out the next batch meanwhile (~0.15 ms of JavaScript here, ~0.12 of it beside the detached
 * step), so the next job comes within the spin and starts without a wake-up's delay. On an idle machine that core
 * has nothing else to do; the spin is bounded, and only 2-thread training (which runs when a core is free) detaches.
 */
export const LINGER_US = 200;
/**
 * Milliseconds the worker spins for a job after `prepare` woke it: the main thread lays out a batch's inputs
 * (JavaScript, ~0.3 ms) and then posts the job, which the worker then starts without a wake-up's delay. Off by
 * default (`prepares`): a wake-up took ~8 µs here when a core was free (median of 1,000), and at load 10–15 the
 * early wake cost ~0.8 ms CPU per batch for no measurable wall time. Whether it helps on a lightly loaded machine,
 * where a sleeping worker's core may be taken by another process, is what bench:train's extra row measures.
 */
const PREPARE_MS = 1;

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
const times = new Float64Array(memory.buffer, at + ${CTL_BYTES + TABLE_BYTES + 8 * MAX_ARGS}, ${MAX_CALLS});
Atomics.store(ctl, ${READY}, 1);
Atomics.notify(ctl, ${READY});
let seen = 0;
let syncs = 0;
for (;;) {
  // after a detached job the next one is near: spin for it (bounded) before sleeping
  const linger = ctl[${LINGER}] / 1000;
  if (linger > 0) {
    const t0 = performance.now();
    while (Atomics.load(ctl, ${JOB}) === seen && performance.now() - t0 < linger);
  }
  Atomics.wait(ctl, ${JOB}, seen);
  let job = Atomics.load(ctl, ${JOB});
  if (job === seen) {
    // woken by prepare(): a job is being laid out; spin for it (bounded), then sleep again
    const t0 = performance.now();
    while ((job = Atomics.load(ctl, ${JOB})) === seen && performance.now() - t0 < ${PREPARE_MS});
    if (job === seen) continue;
  }
  if (job < 0) break;
  seen = job;
  let failed = false;
  const prof = ctl[${PROFILE}] === 1;
  let step = 0;
  let t = prof ? performance.now() : 0;
  for (let c = 0, a = 0, n = ctl[${NCALLS}]; c < n; c++) {
    const fn = table[2 * c], nargs = table[2 * c + 1];
    if (fn === ${BARRIER}) {
      if (prof) times[step++] = performance.now() - t;
      const target = 2 * ++syncs;
      Atomics.add(ctl, ${SYNC}, 1);
      Atomics.notify(ctl, ${SYNC});
      const t0 = performance.now();
      let v;
      const spin = ctl[${SPIN}] / 1000;
      while ((v = Atomics.load(ctl, ${SYNC})) < target) if (performance.now() - t0 > spin) Atomics.wait(ctl, ${SYNC}, v, 1);
      if (prof) t = performance.now();
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
  if (prof) times[step] = performance.now() - t;
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

/** The calling thread's CPU time in ms (Linux: /proc/thread-self/schedstat), NaN where it cannot be read. */
export function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

export class KernelThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly ctl: Int32Array;
  private readonly table: Int32Array;
  private readonly args: Float64Array;
  private readonly times: Float64Array;
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
    this.times = new Float64Array(kern.memory.buffer, at + CTL_BYTES + TABLE_BYTES + 8 * MAX_ARGS, MAX_CALLS);
    this.ctl[PROFILE] = kern.profiling ? 1 : 0;
    this.adaptSpin();
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
   * Profiled (when kernel profiling is on) as one call of each step's label, timed until both threads are done,
   * and per thread: `<label> ·main` and `<label> ·worker`, each thread's own compute time in the step (the rest
   * of the step's time, that thread waited for the other).
   * `idle`: work for the main thread (JavaScript that touches no buffer of the job) that runs once, the first time
   * the main thread would wait for the worker (at a barrier or the job's end), instead of a spin-and-sleep there.
   * `idleFrom`: the first step after which it may run (0: any). Where the main thread arrives first but the worker
   * only a moment later, the idle work delays the step after it; after a step where the worker takes longer (the
   * backward pass: its direction's reversal), the same work fits in the wait.
   * `detach`: the job's last step is the worker's alone (its `main` must be empty), and `run` returns without waiting
   * for it: the main thread goes on (the caller's JavaScript for the next batch) while the worker ends the job. The
   * next `run` or `settle` waits for it (and reports its error); until then the main thread must not touch what that
   * step reads or writes.
   */
  run(steps: KernelStep[], idle?: () => void, idleFrom = 0, detach = false): void {
    if (this.closed) throw new Error('kernel thread already closed');
    if (detach && steps.at(-1)?.main.length)
      throw new Error('kernel thread: a detached last step has main-thread calls');
    // the call table and arguments are rewritten below: the worker must be done with the last job's
    this.settle();
    this.adaptSpin();
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
    this.ctl[LINGER] = detach ? this.lingerUs : 0;
    const job = ++this.job;
    Atomics.store(this.ctl, JOB, job);
    Atomics.notify(this.ctl, JOB);
    let mine: unknown = null;
    const last = steps.at(-1)?.label ?? 'job';
    const { profiling } = this.kern;
    for (const [i, s] of steps.entries()) {
      const t = profiling ? performance.now() : 0;
      if (!mine) {
        try {
          for (const [name, a] of s.main) (this.kern.raw[name] as (...x: number[]) => unknown)(...(a as number[]));
        } catch (e) {
          mine = e;
        }
      }
      if (profiling) this.kern.record(`${s.label} ·main`, performance.now() - t);
      // the first time this thread would wait for the worker (at a barrier, or for the job's end), it does the
      // caller's serial work meanwhile
      const idleNow = () => {
        if (!idle || i < idleFrom) return;
        const ti = profiling ? performance.now() : 0;
        try {
          idle();
        } catch (e) {
          mine ??= e;
        }
        idle = undefined;
        if (profiling) this.kern.record('idle work ·main', performance.now() - ti);
      };
      if (i < steps.length - 1) this.barrier(s.label, idleNow);
      else if (detach) {
        // the worker ends the job alone; the idle work, if it has not run, runs now, beside it
        idleNow();
        this.pending = { job, steps };
      } else {
        if (Atomics.load(this.ctl, DONE) === job - 1) idleNow();
        this.waitFor(DONE, job - 1, last);
      }
      if (profiling) this.kern.record(s.label, performance.now() - t);
    }
    if (detach) {
      if (mine) throw mine;
      return;
    }
    this.finish(steps);
    if (mine) throw mine;
  }

  /** The last job, when it was detached and the worker may still run its last step. */
  private pending: { job: number; steps: KernelStep[] } | null = null;

  /** Wait until the worker has ended a detached job (see `run`); throws the error of its calls, if any. */
  settle(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.waitFor(DONE, p.job - 1, `${p.steps.at(-1)?.label ?? 'job'}, detached`);
    this.finish(p.steps);
  }

  /** After the worker ended a job: its step times into the profile, and its error, if any, thrown here. */
  private finish(steps: KernelStep[]): void {
    if (this.kern.profiling)
      for (const [i, s] of steps.entries()) this.kern.record(`${s.label} ·worker`, this.times[i]);
    if (Atomics.load(this.ctl, ERROR)) {
      Atomics.store(this.ctl, ERROR, 0);
      const msg = receiveMessageOnPort(this.port)?.message ?? 'unknown error';
      const names = [...new Set(steps.flatMap((s) => s.worker.map(([n]) => n)))].join(', ');
      throw new Error(`the kernel's second thread failed in ${names}: ${msg}`);
    }
  }

  /**
   * How long (µs) each thread spins at a barrier, or for the job's end, before it sleeps: by default `spinFor` the
   * machine's load, re-read once a second; once set, that value.
   */
  get spinUs(): number {
    return this.ctl[SPIN];
  }

  set spinUs(us: number) {
    this.ctl[SPIN] = Math.max(0, Math.round(us));
    this.spinChecked = Infinity;
  }

  /** When the load was last read for the spin (performance.now(), ms; −Infinity: never); Infinity once spinUs was set. */
  private spinChecked = -Infinity;

  private adaptSpin(): void {
    const now = performance.now();
    if (now - this.spinChecked < SPIN_CHECK_MS) return;
    this.spinChecked = now;
    this.ctl[SPIN] = spinFor(loadavg()[0], usableCores());
  }

  /** How long (µs) the worker spins for the next job after a detached one (LINGER_US; 0 = sleep at once). */
  lingerUs = LINGER_US;

  /** Whether `prepare` wakes the worker (off by default: the worker sleeps until a job is posted; PREPARE_MS). */
  prepares = false;

  /**
   * A job follows soon (the caller is laying out its inputs): wake the worker now, so that it spins for the job
   * (at most a few milliseconds) instead of waking after the job is posted, on the batch's critical path.
   */
  prepare(): void {
    if (this.prepares && !this.closed) Atomics.notify(this.ctl, JOB);
  }

  /** Meet the worker at the next barrier of the job (spin, then sleep). */
  private barrier(what: string, idle?: () => void): void {
    const target = 2 * ++this.syncs;
    const was = Atomics.add(this.ctl, SYNC, 1);
    Atomics.notify(this.ctl, SYNC);
    // the worker is not there yet
    if (idle && was + 1 < target) idle();
    const t0 = performance.now();
    const spin = this.ctl[SPIN] / 1000;
    let v: number;
    while ((v = Atomics.load(this.ctl, SYNC)) < target) {
      const t = performance.now() - t0;
      if (t > spin && Atomics.wait(this.ctl, SYNC, v, 1000) === 'timed-out' && t > LOST_MS)
        throw new Error(`the kernel's second thread did not answer (${what}) within ${LOST_MS / 1000} s`);
    }
  }

  /** Wait until ctl[word] moves past `from` (READY: 0 → 1; DONE: job − 1 → job): spin, then sleep. */
  private waitFor(word: number, from: number, what: string): void {
    const t0 = performance.now();
    const spin = this.ctl[SPIN] / 1000;
    while (Atomics.load(this.ctl, word) === from) {
      const t = performance.now() - t0;
      if (t <= spin) continue;
      if (Atomics.wait(this.ctl, word, from, 1000) === 'timed-out' && t > LOST_MS) {
        throw new Error(`the kernel's second thread did not answer (${what}) within ${LOST_MS / 1000} s`);
      }
    }
  }

  /** Stop the worker (idempotent). The kernel's memory stays usable by the main thread. */
  close(): void {
    if (this.closed) return;
    // a detached job's end first (its error, if any, was the last batch's and is dropped with the model)
    try {
      this.settle();
    } catch {
      // disposed anyway
    }
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

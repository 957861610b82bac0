import { readFileSync } from 'node:fs';

/** /proc reports process times in USER_HZ, which Linux fixes at 100 for user space. */
const USER_HZ = 100;

/** When process `pid` started (ms since the epoch, ±1 s): undefined if there is no such process, null without /proc. */
export function processStartedMs(pid: number): number | null | undefined {
  let btime: number;
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (!m) return null;
    btime = Number(m[1]) * 1000;
  } catch {
    return null;
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]); // field 22: start time in ticks since boot
  return Number.isFinite(ticks) ? btime + (ticks * 1000) / USER_HZ : null;
}

/**
 * Whether the process `pid` that made something at time `madeMs` is provably gone: no such process,
 * or the pid now belongs to a process started after that time (pid reuse; 2 s of slack for the
 * second-granular boot time).
 */
export function processIsGone(pid: number, madeMs: number): boolean {
  const started = processStartedMs(pid);
  if (started === undefined) return true;
  if (started !== null) return started > madeMs + 2000;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Which wrapper started this process, from the variables npm and Nx set for the commands they run. */
export function launchingWrapper(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.NX_TASK_TARGET_PROJECT) return 'nx';
  if (env.npm_command) return `npm ${env.npm_command}`;
  return null;
}

/** A process's parent pid and command line, from /proc; null when it is gone (or there is no /proc). */
function procInfo(pid: number): { ppid: number; cmd: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]); // field 4
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return { ppid, cmd };
  } catch {
    return null;
  }
}

/** A wrapper's process by its command line: npm (run, exec/npx) or Nx. */
const WRAPPER_CMD = /(^|[\s/])(npm|npx|nx)(\s|$)|npm-cli\.js|npx-cli\.js|[\s/]nx\.js|\/\.bin\/nx(\s|$)/;

/**
 * The processes between this one and the outermost wrapper that started it (npm exec/run, Nx), each
 * with its parent then: [pid, ppid] pairs, innermost first. Just the parent where /proc is absent.
 */
export function wrapperChain(): [number, number][] {
  const chain: [number, number][] = [];
  let pid = process.ppid;
  let outermost = -1;
  for (let depth = 0; pid > 1 && depth < 12; depth++) {
    const info = procInfo(pid);
    if (!info) break;
    chain.push([pid, info.ppid]);
    if (WRAPPER_CMD.test(info.cmd)) outermost = chain.length;
    pid = info.ppid;
  }
  if (!chain.length) return [[process.ppid, -1]];
  return chain.slice(0, Math.max(1, outermost));
}

/**
 * npm (`npm run`, `npx`) runs a command through `sh -c` and forwards SIGINT/SIGTERM only to that
 * shell, which dies of it; Nx run through npx is orphaned the same way and keeps running its task.
 * So when nerflow was started by such a wrapper and any process between it and the outermost wrapper
 * goes away (or is re-parented), take that as the signal: SIGTERM to itself, so the usual handling
 * runs (MLflow runs ended KILLED, staging folders removed). Not done for a process started from a
 * plain shell (where `nohup nerflow … &` must outlive its shell). Returns a stopper.
 */
export function stopWithWrapper(
  o: { env?: NodeJS.ProcessEnv; intervalMs?: number; onStop?: (wrapper: string) => void } = {},
): () => void {
  const wrapper = launchingWrapper(o.env);
  if (!wrapper) return () => undefined;
  const chain = wrapperChain();
  const parent = process.ppid;
  const timer = setInterval(() => {
    // each process up to the wrapper keeps its parent; the wrapper itself only has to exist (its own
    // parent, e.g. the shell of `nohup npx nerflow … &`, may come and go)
    const last = chain.length - 1;
    const intact =
      process.ppid === parent &&
      chain.every(([pid, ppid], i) =>
        ppid === -1 ? true : i === last ? procInfo(pid) !== null : procInfo(pid)?.ppid === ppid,
      );
    if (intact) return;
    clearInterval(timer);
    o.onStop?.(wrapper);
    process.kill(process.pid, 'SIGTERM');
  }, o.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}

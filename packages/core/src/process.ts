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

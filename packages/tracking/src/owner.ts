import { readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * Who owns a live (RUNNING) run: the host, the process id and the process's start. The start tells a
 * reused pid from the original process: Linux counts a process's start in clock ticks since boot
 * (/proc/<pid>/stat field 22), and each boot has its own id (/proc/sys/kernel/random/boot_id), so
 * `<boot id>/<ticks>` is the same for the life of one process and differs for any later process with
 * that pid, including after a reboot. Where /proc is absent (macOS) the start is unknown and only
 * "no such pid" proves a process gone.
 */
export interface RunOwner {
  host: string;
  pid: number;
  /** `<boot id>/<start ticks>`, or null where the OS does not say. */
  start: string | null;
}

/** The tags that record a run's owner (set when a run starts or is resumed). */
export const OWNER_TAGS = {
  host: 'nerflow.owner.host',
  pid: 'nerflow.owner.pid',
  start: 'nerflow.owner.start',
} as const;
/** Set on a run that was ended because its owner was gone: why, and by whom. */
export const ENDED_BY_TAG = 'nerflow.ended_by';

let bootId: string | null | undefined;
function currentBootId(): string | null {
  if (bootId !== undefined) return bootId;
  try {
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    bootId = null;
  }
  return bootId;
}

/**
 * Process `pid`'s start as `<boot id>/<clock ticks since boot>` (from /proc); undefined when there is
 * no such process, null when this OS has no /proc to ask.
 */
export function processStart(pid: number): string | null | undefined {
  const boot = currentBootId();
  if (boot === null) return null;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name (field 2) may hold spaces and parentheses: the fields after the last ')' are fixed
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = fields[19]; // field 22 overall (fields[0] is field 3)
  return /^\d+$/.test(ticks ?? '') ? `${boot}/${ticks}` : null;
}

/** This process (or `pid` on this host) as an owner record. */
export function currentOwner(pid = process.pid): RunOwner {
  return { host: os.hostname(), pid, start: processStart(pid) ?? null };
}

export function ownerTags(o: RunOwner = currentOwner()): Record<string, string> {
  return { [OWNER_TAGS.host]: o.host, [OWNER_TAGS.pid]: String(o.pid), [OWNER_TAGS.start]: o.start ?? '' };
}

/** The owner recorded in a run's tags; null for runs without one (started by an older nerflow or another client). */
export function ownerFromTags(tags: Record<string, string>): RunOwner | null {
  const host = tags[OWNER_TAGS.host];
  const pid = Number(tags[OWNER_TAGS.pid]);
  if (!host || !Number.isInteger(pid) || pid <= 0) return null;
  return { host, pid, start: tags[OWNER_TAGS.start] || null };
}

export type OwnerVerdict = { gone: true; why: string } | { gone: false; why: string };

/**
 * Whether an owner is provably gone. On this host: no process with that pid, or one that started at
 * another time (the pid was reused). On another host nothing can be proved from here: such owners
 * count as gone only with `otherHosts` (the caller's explicit word that those processes are dead).
 */
export function ownerIsGone(o: RunOwner, opts: { otherHosts?: boolean; host?: string } = {}): OwnerVerdict {
  const here = opts.host ?? os.hostname();
  if (o.host !== here) {
    return opts.otherHosts
      ? { gone: true, why: `owner pid ${o.pid} on host ${o.host}, declared gone by --other-hosts` }
      : { gone: false, why: `owner is on host ${o.host}, not this one (${here}): cannot check it from here` };
  }
  const start = processStart(o.pid);
  if (start === undefined) return { gone: true, why: `owner process ${o.pid} on ${o.host} no longer exists` };
  if (start !== null && o.start !== null && start !== o.start) {
    const why =
      o.start.split('/')[0] !== start.split('/')[0]
        ? 'the host rebooted since'
        : `pid ${o.pid} now belongs to another process`;
    return { gone: true, why: `owner process ${o.pid} on ${o.host} is gone (${why})` };
  }
  if (start === null) {
    // no /proc: the pid exists or not, nothing about reuse
    try {
      process.kill(o.pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH')
        return { gone: true, why: `owner process ${o.pid} on ${o.host} no longer exists` };
    }
  }
  return { gone: false, why: `owner process ${o.pid} on ${o.host} is alive` };
}

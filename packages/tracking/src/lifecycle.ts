import { constants } from 'node:os';
import type { RunStatus } from './types.js';

interface Endable {
  end(status: RunStatus): Promise<void>;
}

/** Runs inside guard(): ended KILLED if the process gets SIGINT or SIGTERM. */
const guarded: Endable[] = [];
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
let stopping = false;
/** Synchronous clean-ups run once the runs are ended, right before the process dies of the signal. */
const exitHooks: ((signal: NodeJS.Signals) => void)[] = [];

function onSignal(signal: NodeJS.Signals): void {
  const code = 128 + (constants.signals[signal] ?? 15); // 130 for SIGINT, 143 for SIGTERM
  if (stopping) process.exit(code); // a second signal: stop waiting for the store
  stopping = true;
  // children (guarded later) first, then their parents
  const ends = [...guarded].reverse().map((r) => r.end('KILLED').catch(() => undefined));
  void Promise.all(ends).finally(() => {
    for (const hook of exitHooks) {
      try {
        hook(signal);
      } catch {
        /* a clean-up that fails must not keep the process alive */
      }
    }
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    if (process.listenerCount(signal) === 0) {
      // re-raise with the default action, so the parent sees death by this signal
      setTimeout(() => process.exit(code), 1000).unref();
      process.kill(process.pid, signal);
    } else {
      process.exit(code);
    }
  });
}

function listen(): void {
  if (!guarded.length && !exitHooks.length) for (const s of SIGNALS) process.on(s, onSignal);
}

function unlisten(): void {
  if (!guarded.length && !exitHooks.length && !stopping) for (const s of SIGNALS) process.removeListener(s, onSignal);
}

/** Adds `item` to `list` with the signal handling installed; returns a remover that uninstalls it when none is left. */
function register<T>(list: T[], item: T): () => void {
  listen();
  list.push(item);
  return () => {
    const i = list.indexOf(item);
    if (i >= 0) list.splice(i, 1);
    unlisten();
  };
}

export function guardRun(run: Endable): () => void {
  return register(guarded, run);
}

/**
 * Run `hook` (synchronous: remove temp folders, pass the signal to child processes) when SIGINT or
 * SIGTERM stops this process, after the guarded runs are ended KILLED and before the process dies of
 * the signal. Installs the signal handling even when no run is guarded. Returns a remover.
 */
export function onSignalExit(hook: (signal: NodeJS.Signals) => void): () => void {
  return register(exitHooks, hook);
}

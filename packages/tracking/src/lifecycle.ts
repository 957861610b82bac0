import { constants } from 'node:os';
import type { RunStatus } from './types.js';

interface Endable {
  end(status: RunStatus): Promise<void>;
}

/** Runs inside guard(): ended KILLED if the process gets SIGINT or SIGTERM. */
const guarded: Endable[] = [];
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
let stopping = false;

function onSignal(signal: NodeJS.Signals): void {
  const code = 128 + (constants.signals[signal] ?? 15); // 130 for SIGINT, 143 for SIGTERM
  if (stopping) process.exit(code); // a second signal: stop waiting for the store
  stopping = true;
  // children (guarded later) first, then their parents
  const ends = [...guarded].reverse().map((r) => r.end('KILLED').catch(() => undefined));
  void Promise.all(ends).finally(() => {
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

export function guardRun(run: Endable): () => void {
  if (!guarded.length) for (const s of SIGNALS) process.on(s, onSignal);
  guarded.push(run);
  return () => {
    const i = guarded.indexOf(run);
    if (i >= 0) guarded.splice(i, 1);
    if (!guarded.length && !stopping) for (const s of SIGNALS) process.removeListener(s, onSignal);
  };
}

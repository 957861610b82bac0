import { closeSync, openSync } from 'node:fs';
import type { Logger } from '@nerflow/core';

/**
 * The trial watchdog: a queued trial's process (`nerflow queue-trial`) tells its worker what it is doing
 * (a "started" handshake, then every stage of its start-up, every batch and epoch, every upload); a trial
 * that tells nothing for `--trial-timeout` seconds (or `sweep.trial_timeout`) is killed by its worker and the
 * attempt fails with `no progress for N s in <stage>`: BullMQ tries it again (resumed from its checkpoint)
 * up to `sweep.attempts`. A timer in the trial process would not do: a promise that never settles leaves the
 * event loop free, so only progress counts, never "still alive".
 */

/**
 * Default seconds without progress before a trial is killed: above the longest silent step a healthy trial
 * has (one tracking call with its retries: 5 attempts × MLFLOW_HTTP_REQUEST_TIMEOUT 120 s, plus backoff).
 */
export const DEFAULT_TRIAL_TIMEOUT_S = 900;

/** A trial process's heartbeat over IPC. */
export interface TrialBeat {
  type: 'beat';
  stage: string;
}

/** Sends beats: every change of stage at once, the same stage at most once a second (batches are many). */
export function beatSender(send: (m: TrialBeat) => void): (stage: string) => void {
  let last = '';
  let at = 0;
  return (stage) => {
    const now = Date.now();
    if (stage === last && now - at < 1000) return;
    last = stage;
    at = now;
    send({ type: 'beat', stage });
  };
}

/** `log` whose progress bars beat: every batch of an epoch is progress (`<label> (<unit>)`, e.g. `epoch 2/6`). */
export function beatingLogger(log: Logger, beat: (stage: string) => void): Logger {
  return {
    info: (m) => log.info(m),
    warn: (m) => log.warn(m),
    debug: (m) => log.debug(m),
    progress(label, total, unit) {
      const stage = unit ? `${label} (${unit})` : label;
      beat(stage);
      const bar = log.progress(label, total, unit);
      return {
        update(done, extra) {
          bar.update(done, extra);
          beat(stage);
        },
        finish(extra) {
          bar.finish(extra);
          beat(`${label}: done`);
        },
      };
    },
  };
}

/**
 * The worker's side: `beat(stage)` on every message from the trial process; `onStall(why)` once when none came
 * for `seconds`. Checked 4× per timeout period (at least once a second).
 */
export class Watchdog {
  private last = Date.now();
  private timer: NodeJS.Timeout;
  stage: string;
  stalled: string | null = null;

  constructor(
    readonly seconds: number,
    initialStage: string,
    onStall: (why: string) => void,
  ) {
    this.stage = initialStage;
    this.timer = setInterval(
      () => {
        if (this.stalled || Date.now() - this.last < seconds * 1000) return;
        this.stalled = `no progress for ${fmt(seconds)} s in ${this.stage}`;
        clearInterval(this.timer);
        onStall(this.stalled);
      },
      Math.min(1000, (seconds * 1000) / 4),
    );
  }

  beat(stage?: string): void {
    this.last = Date.now();
    if (stage) this.stage = stage;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

const fmt = (s: number) => String(+s.toFixed(3));

/**
 * Test-only fault injection (issue 17's hang, on purpose): with NERFLOW_TEST_HANG_AT=<point> the trial process
 * awaits a promise that never settles when it reaches that point, as the hung trial did. With
 * NERFLOW_TEST_HANG_ONCE=<file> only the first process that creates the file hangs (every later attempt, on
 * any worker sharing that file system, passes). `<point>@<config name>` hangs only trials of that config.
 * Points: the second argument of `stage(...)` in trial-job.ts (inputs, experiment, backend, earlier-run,
 * resume-run, download-checkpoint, start-run, log-inputs, data, train).
 */
export async function hangPoint(point: string, config: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const at = env.NERFLOW_TEST_HANG_AT;
  if (!at || (at !== point && at !== `${point}@${config}`)) return;
  if (env.NERFLOW_TEST_HANG_ONCE) {
    try {
      closeSync(openSync(env.NERFLOW_TEST_HANG_ONCE, 'wx'));
    } catch {
      return; // another attempt hung already
    }
  }
  process.stderr.write(`train: NERFLOW_TEST_HANG_AT=${point}: hanging here on purpose (a test's fault injection)\n`);
  await new Promise<never>(() => undefined);
}

import { createLogger, loadConfig, ValidationError, workspaceRoot, type StageContext } from '@nerflow/core';
import { QUEUE_HOOKS, STAGES } from './stages.js';

/**
 * The CLI side of the BullMQ trial queue (packages/train/src/queue): `nerflow worker`, `nerflow sweep status`
 * and the per-trial child process `nerflow queue-trial` a worker starts. The train stage owns the queue; the
 * CLI gives it what a stage may not import: ingest and featurize, run on the worker before each trial.
 */

export interface WorkerArgs {
  queue?: string;
  concurrency: number;
  'lock-seconds': number;
  'trial-timeout'?: number;
  verbose?: boolean;
  quiet?: boolean;
}

function queueUrlOrThrow(flag: string | undefined, configQueue?: string | null): string {
  const url = flag || process.env.NERFLOW_QUEUE || configQueue;
  if (!url)
    throw new ValidationError(
      'no queue: pass --queue redis://host:port/db, set NERFLOW_QUEUE, or set sweep.queue in the config.',
    );
  return url;
}

export async function workerCommand(a: WorkerArgs): Promise<void> {
  const { startWorker } = await import('@nerflow/train');
  const url = queueUrlOrThrow(a.queue);
  const log = createLogger({ verbose: a.verbose, quiet: a.quiet });
  const timeout = a['trial-timeout'];
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0))
    throw new ValidationError(
      `--trial-timeout ${timeout}: give a number of seconds above 0 (e.g. --trial-timeout 900).`,
    );
  const root = workspaceRoot();
  const context = (config: string, overrides: string[]): StageContext => ({
    config: loadConfig(config, { root, overrides }),
    root,
    log,
    force: false,
  });
  const worker = await startWorker({
    url,
    concurrency: a.concurrency,
    log,
    context,
    lockSeconds: a['lock-seconds'],
    trialTimeout: timeout,
    childArgs: [...(a.verbose ? ['--verbose'] : []), ...(a.quiet ? ['--quiet'] : [])],
    prepare: async (ctx) => {
      await STAGES.ingest.run(ctx);
      await STAGES.featurize.run(ctx);
    },
    hooks: QUEUE_HOOKS,
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    stopping = true;
    log.info(
      `worker ${worker.name}: ${signal}: stopping; its running trials end KILLED and go back to the queue (another worker resumes them)`,
    );
    void worker.close().finally(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await worker.closed;
}

export interface QueueTrialArgs {
  job: string;
  'job-id': string;
  verbose?: boolean;
  quiet?: boolean;
}

/** The child process a worker runs one trial in; progress and the result go back over IPC. */
export async function queueTrialCommand(a: QueueTrialArgs): Promise<void> {
  // the worker's watchdog: a "started" handshake first, then every stage, batch and upload (fire and forget:
  // a beat must go out even while the kernel keeps the event loop busy, and never throw)
  const post = (m: unknown) => {
    try {
      process.send?.(m);
    } catch {
      /* the worker is gone: stdin's end stops us */
    }
  };
  post({ type: 'beat', stage: 'started' });
  // the worker's watchdog, before it kills a silent trial: what this process still waits on (the evidence a hang
  // leaves: sockets, timers, file requests; none at all means a promise nobody will settle)
  process.on('SIGUSR2', () =>
    process.stderr.write(
      `train: diagnostics for the watchdog: active resources ${JSON.stringify(process.getActiveResourcesInfo())}, ` +
        `memory ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB, uptime ${process.uptime().toFixed(0)} s\n`,
    ),
  );
  const { beatSender } = await import('@nerflow/train');
  const beat = beatSender(post);
  // the worker that started us died (killed, machine gone): stop too, ending the run KILLED
  process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.resume();
  try {
    await runTrialJob(a, beat);
  } finally {
    // on success and on ANY error: let go of stdin and the IPC channel, or they keep this process alive after
    // main() printed the error, idle and never exiting, while its worker renews the job's lock for ever (issue 17's
    // hang: a trial that failed at runs/log-inputs, after initBackend and before runStage)
    process.stdin.removeAllListeners('end');
    process.stdin.pause();
    process.stdin.destroy();
    process.disconnect?.();
  }
}

async function runTrialJob(a: QueueTrialArgs, beat: (stage: string) => void): Promise<void> {
  const { runQueuedTrial, beatingLogger } = await import('@nerflow/train');
  const data = JSON.parse(a.job);
  const root = workspaceRoot();
  const log = beatingLogger(createLogger({ verbose: a.verbose, quiet: a.quiet }), beat);
  beat('loading the config');
  const ctx: StageContext = {
    config: loadConfig(data.config, { root, overrides: data.overrides }),
    root,
    log,
    force: false,
  };
  const worker = process.env.NERFLOW_WORKER_NAME ?? `pid ${process.ppid}`;
  const send = (m: unknown) =>
    new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));
  const result = await runQueuedTrial(
    ctx,
    a['job-id'],
    data,
    (progress) => void send({ type: 'progress', progress }),
    worker,
    beat,
  );
  await send({ type: 'result', result });
}

export async function sweepStatusCommand(ctx: StageContext, queueFlag?: string): Promise<void> {
  const { sweepStatus } = await import('@nerflow/train');
  process.stdout.write((await sweepStatus(ctx, queueUrlOrThrow(queueFlag, ctx.config.sweep?.queue))) + '\n');
}

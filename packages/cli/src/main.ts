import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { fmtSeconds, removeLiveStagingSync, stopWithWrapper } from '@nerflow/core';
import { onSignalExit } from '@nerflow/tracking';
import { stageContext, type CommonArgs } from './context.js';
import { reportError } from './report-error.js';
import { STAGES, type StageFlags, type StageName } from './stages.js';

function common<T>(y: Argv<T>) {
  return y
    .option('config', {
      type: 'string',
      demandOption: true,
      describe: 'config name in configs/ (e.g. baseline.yaml) or a path to one',
    })
    .option('force', { type: 'boolean', default: false, describe: 'recompute even when the outputs are up to date' })
    .option('set', {
      type: 'string',
      array: true,
      describe: 'override a config value, validated like the file: --set train.epochs=3',
    })
    .option('verbose', { type: 'boolean', default: false, describe: 'more output; stack traces on errors' })
    .option('quiet', { type: 'boolean', default: false, describe: 'only warnings and errors' });
}

async function runStages(names: StageName[], args: CommonArgs & StageFlags): Promise<void> {
  const t0 = { wall: performance.now(), cpu: process.cpuUsage() };
  const ctx = stageContext(args);
  const took: string[] = [];
  for (const [i, name] of names.entries()) {
    const t = { wall: performance.now(), cpu: process.cpuUsage() };
    await STAGES[name].run(ctx, args);
    took.push(`${name} ${spent(t)}`);
    if (i < names.length - 1) collectGarbage();
  }
  // the pipeline's own profile: where its wall and CPU time went (CPU: every thread of the process)
  if (names.length > 1)
    ctx.log.info(
      `pipeline: ${took.join(', ')}; total ${spent(t0)} (since the CLI started: ${fmtSeconds(process.uptime())})`,
    );
}

/**
 * A full garbage collection between the pipeline's stages. What a stage leaves behind (ingest's rows, featurize's
 * columns, train's batches) is garbage that V8 would otherwise keep until the next stage's allocations force a
 * collection, on top of that stage's own peak: the baseline pipeline peaked at 671–743 MiB without it and
 * 602–619 MiB with it (featurize's own peak), at the same CPU time (tools/bench/README.md, "Memory").
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc'); // makes `gc` exist in contexts created from now on
  (runInNewContext('gc') as () => void)();
}

/** Wall and CPU time since `t`, e.g. "3.1s (CPU 3.6s)". */
function spent(t: { wall: number; cpu: NodeJS.CpuUsage }): string {
  const cpu = process.cpuUsage(t.cpu);
  return `${fmtSeconds((performance.now() - t.wall) / 1000)} (CPU ${fmtSeconds((cpu.user + cpu.system) / 1e6)})`;
}

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  // SIGINT/SIGTERM: guarded MLflow runs end KILLED, then no half-built output folder outlives the process
  onSignalExit(() => removeLiveStagingSync());
  // npx / npm run pass a signal only to their `sh -c`, which dies of it: follow it (see stopWithWrapper)
  stopWithWrapper({
    onStop: (w) =>
      process.stderr.write(`nerflow: the ${w} process that started nerflow is gone; stopping (as on SIGTERM)\n`),
  });
  let cli = yargs(argv)
    .scriptName('nerflow')
    .usage(
      '$0 <command> --config <name|path> [options]\n\nTurn a labelled NER corpus into tracked, reproducible experiments.',
    )
    .strict()
    .demandCommand(1, 'Name a command: nerflow --help lists them.')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilog(
      'Configs are looked up in configs/ by name. MLFLOW_TRACKING_URI overrides the tracking URI. Docs: README.md',
    )
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  for (const [name, stage] of Object.entries(STAGES) as [StageName, (typeof STAGES)[StageName]][]) {
    const flags = name === 'train' ? trainFlags : <T>(y: Argv<T>) => y;
    cli = cli.command(
      name,
      stage.describe,
      (y) => flags(common(y)),
      (a) => runStages([name], a as unknown as CommonArgs),
    );
  }
  cli = cli.command(
    'report',
    'print the trials of a config ranked by test entity F1',
    (y) => common(y),
    async (a) => {
      const ctx = stageContext(a as unknown as CommonArgs);
      process.stdout.write((await import('@nerflow/evaluate')).compareTrials(ctx) + '\n');
    },
  );
  cli = cli.command('mlflow', 'MLflow helpers', (y) =>
    y
      .command(
        'sync',
        'push every run of the local store (runs/mlruns) to a tracking server; safe to repeat',
        (s) =>
          s
            .option('to', { type: 'string', describe: 'tracking server URI (default: MLFLOW_TRACKING_URI)' })
            .option('from', { type: 'string', describe: 'local store (default: runs/mlruns)' })
            .option('verbose', { type: 'boolean', default: false }),
        async (a) => {
          const { syncCommand } = await import('./mlflow-sync.js');
          await syncCommand(a as { to?: string; from?: string; verbose?: boolean });
        },
      )
      .command(
        'gc',
        'end RUNNING runs whose process is gone (kill -9, power cut) as KILLED; local store or server',
        (g) =>
          g
            .option('uri', {
              type: 'string',
              describe: "tracking URI (default: MLFLOW_TRACKING_URI, else the config's, else runs/mlruns)",
            })
            .option('config', { type: 'string', describe: 'take the tracking URI from this config' })
            .option('other-hosts', {
              type: 'boolean',
              default: false,
              describe: 'also end runs owned by other hosts (only if you know those processes are gone)',
            })
            .option('dry-run', { type: 'boolean', default: false, describe: 'only list what would be ended' })
            .option('verbose', { type: 'boolean', default: false }),
        async (a) => {
          const { gcCommand } = await import('./mlflow-gc.js');
          await gcCommand(a as Parameters<typeof gcCommand>[0]);
        },
      )
      .demandCommand(1, 'Name an mlflow command: sync or gc.'),
  );
  cli = cli.command(
    'worker',
    'take trials from a BullMQ/Redis queue and train them (any machine with a checkout and the data)',
    (y) =>
      y
        .option('queue', {
          type: 'string',
          describe: 'Redis URL of the queue, redis://host:port/db (default: NERFLOW_QUEUE)',
        })
        .option('concurrency', {
          type: 'number',
          default: 1,
          describe: 'trials trained at once, each in its own process (one core each)',
        })
        .option('lock-seconds', {
          type: 'number',
          default: 30,
          describe: "a dead worker's trial goes to another worker after this long",
        })
        .option('trial-timeout', {
          type: 'number',
          describe:
            'seconds a trial may go without progress (a stage, a batch, an upload) before it is killed and tried ' +
            "again (default: the sweep's sweep.trial_timeout, else 900)",
        })
        .option('verbose', { type: 'boolean', default: false })
        .option('quiet', { type: 'boolean', default: false }),
    async (a) => {
      const { workerCommand } = await import('./queue.js');
      await workerCommand(a as unknown as import('./queue.js').WorkerArgs);
    },
  );
  cli = cli.command('sweep', 'sweeps on a queue', (y) =>
    y
      .command(
        'status',
        'the trials of a queued sweep: queued, running (worker, epoch), done, pruned, failed; the best so far',
        (s) =>
          common(s).option('queue', {
            type: 'string',
            describe: 'Redis URL (default: NERFLOW_QUEUE, else sweep.queue)',
          }),
        async (a) => {
          const { sweepStatusCommand } = await import('./queue.js');
          await sweepStatusCommand(stageContext(a as unknown as CommonArgs), (a as { queue?: string }).queue);
        },
      )
      .demandCommand(1, 'Name a sweep command: status.'),
  );
  cli = cli.command({
    command: 'queue-trial',
    describe: false, // internal: the process a worker trains one trial in
    builder: (y) =>
      y
        .option('job', { type: 'string', demandOption: true })
        .option('job-id', { type: 'string', demandOption: true })
        .option('verbose', { type: 'boolean', default: false })
        .option('quiet', { type: 'boolean', default: false }),
    handler: async (a) => {
      const { queueTrialCommand } = await import('./queue.js');
      await queueTrialCommand(a as unknown as import('./queue.js').QueueTrialArgs);
    },
  });
  cli = cli.command(
    'predict',
    'tag raw text, JSON lines or CoNLL with a trained model (folder, runs:/, models:/)',
    (y) =>
      engineOptions(y)
        .option('model', {
          type: 'string',
          demandOption: true,
          describe:
            'a trial folder (runs/<config>/train/<trial>), runs:/<run_id>/model, models:/<name>@<alias> or models:/<name>/<version>',
        })
        .option('input', { alias: 'i', type: 'string', describe: 'input file (default: stdin)' })
        .option('output', {
          alias: 'o',
          type: 'string',
          describe: 'output file (default: stdout; written whole or not at all)',
        })
        .option('input-format', {
          choices: ['text', 'jsonl', 'conll'] as const,
          describe:
            'text: one sentence or document per line; jsonl: {"text"} or {"tokens"} per line; conll: a token per line (default: by file extension, else text)',
        })
        .option('format', {
          alias: 'f',
          choices: ['jsonl', 'conll', 'table'] as const,
          default: 'jsonl' as const,
          describe: 'output: JSON lines (entities with offsets and confidence), CoNLL, or a table',
        })
        .option('batch-size', {
          type: 'number',
          default: 1024,
          describe: 'inputs read and tagged per group (memory stays bounded by it)',
        })
        .option('config', {
          type: 'string',
          describe:
            'a config whose tracking.uri resolves runs:/ and models:/ (default: MLFLOW_TRACKING_URI, else runs/mlruns)',
        })
        .option('verbose', { type: 'boolean', default: false })
        .option('quiet', { type: 'boolean', default: false }),
    async (a) => {
      const { predictCommand } = await import('./predict-cmd.js');
      await predictCommand(a as never);
    },
  );
  cli = cli.command(
    'serve',
    "serve a model over HTTP: MLflow's scoring protocol (/invocations), /v1/ner and a page at /",
    (y) =>
      engineOptions(y)
        .option('model', {
          type: 'string',
          demandOption: true,
          describe:
            'as for predict: a trial folder, runs:/<run_id>/model, models:/<name>@<alias> or models:/<name>/<version>',
        })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'interface to listen on (0.0.0.0 for all)' })
        .option('port', { type: 'number', default: 8080, describe: 'port (0 = any free port)' })
        .option('max-body-bytes', { type: 'number', default: 1 << 20, describe: 'largest request body; larger → 413' })
        .option('max-inputs', { type: 'number', default: 1000, describe: 'texts per request; more → 413' })
        .option('max-sentences', {
          type: 'number',
          default: 1000,
          describe: 'sentences per request (after splitting); more → 413',
        })
        .option('max-tokens', { type: 'number', default: 50_000, describe: 'tokens per request; more → 413' })
        .option('batch-window-ms', {
          type: 'number',
          default: 1,
          describe: 'how long a request waits for others to share its kernel batch',
        })
        .option('config', { type: 'string', describe: 'a config whose tracking.uri resolves runs:/ and models:/' })
        .option('verbose', { type: 'boolean', default: false })
        .option('quiet', { type: 'boolean', default: false, describe: 'no access log' }),
    async (a) => {
      const { serveCommand } = await import('./serve-cmd.js');
      await serveCommand(a as never);
    },
  );
  cli = cli.command(
    'pipeline',
    `run ${Object.keys(STAGES).join(' → ')} in order (each skips itself when up to date)`,
    (y) => common(y),
    (a) => runStages(Object.keys(STAGES) as StageName[], a as unknown as CommonArgs),
  );
  try {
    await cli.parseAsync();
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`nerflow: ${e.message}\nRun nerflow --help for usage.\n`);
      return 1;
    }
    const { text, code } = reportError(e, verbose);
    process.stderr.write(text);
    return code;
  }
}

class UsageError extends Error {}

function trainFlags<T>(y: Argv<T>) {
  return y
    .option('resume', {
      type: 'boolean',
      default: false,
      describe: 'continue interrupted trials from their last finished epoch',
    })
    .option('trial', { type: 'string', describe: 'train only this trial id (parallel workers, Nx per-trial targets)' })
    .option('parent-run', { type: 'string', describe: 'MLflow parent run id of the sweep (set by the sweep runner)' })
    .option('queue', {
      type: 'string',
      describe:
        'put the trials on this BullMQ/Redis queue for `nerflow worker`s: redis://host:port/db (default: NERFLOW_QUEUE, else sweep.queue)',
    })
    .option('wait', {
      type: 'boolean',
      default: true,
      describe: 'with a queue: wait for the trials and collect the sweep (--no-wait returns once queued)',
    })
    .option('retry-failed', {
      type: 'boolean',
      default: false,
      describe: 'with a queue: queue again the trials that failed every attempt',
    });
}

const code = await main(hideBin(process.argv));
process.exitCode = code;

/** predict's and serve's kernel and output options: --threads, --kernel, --tag-scheme (one definition). */
function engineOptions<T>(y: Argv<T>) {
  return y
    .option('threads', {
      type: 'string',
      choices: ['auto', '1', '2'] as const,
      default: 'auto' as const,
      describe: 'kernel threads: auto (2 when 2 cores are free, else 1), 1 or 2 (as train.threads; same tags)',
    })
    .option('kernel', {
      choices: ['auto', 'exact', 'fma'] as const,
      default: 'auto' as const,
      describe:
        'kernel build: auto (fma where WebAssembly relaxed SIMD runs, else exact), exact or fma (as train.kernel)',
    })
    .option('tag-scheme', {
      choices: ['iob2', 'iob1', 'bioes', 'bilou', 'io'] as const,
      describe: "scheme of the output tags (default: the model's own, nerflow.json tag_scheme); entities are the same",
    });
}

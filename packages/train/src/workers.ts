import { spawn } from 'node:child_process';
import path from 'node:path';
import { ExitError, repoRoot, type Logger, type StageContext } from '@nerflow/core';
import { onSignalExit } from '@nerflow/tracking';
import type { Trial } from './sweep.js';

/**
 * Run trials as N worker processes at once (`sweep.parallel`): each is `nerflow train --trial <id>
 * --parent-run <run>` writing its own trial folder and MLflow child run, so trials never share a file
 * but the store's lock and append-only metric files. Resolves when all finish; rejects naming the failed trials.
 */
export async function runWorkers(
  ctx: StageContext,
  trials: Trial[],
  parallel: number,
  parentRunId: string | undefined,
  log: Logger,
  o: { resume?: boolean } = {},
): Promise<void> {
  const bin = path.join(repoRoot(), 'packages/cli/bin/nerflow.js');
  const queue = [...trials];
  const failed: string[] = [];
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      const trial = t;
      const args = [
        bin,
        'train',
        '--config',
        ctx.config.file,
        '--trial',
        trial.id,
        ...(parentRunId ? ['--parent-run', parentRunId] : []),
        ...(ctx.force ? ['--force'] : []),
        ...(o.resume ? ['--resume'] : []),
        ...ctx.config.overrides.flatMap((o) => ['--set', o]),
      ];
      log.info(`train: worker starts ${trial.id}`);
      const code = await new Promise<number | null>((resolve) => {
        const p = spawn(process.execPath, args, {
          stdio: ['ignore', 'inherit', 'pipe'],
          env: { ...process.env, NERFLOW_ROOT: ctx.root },
        });
        // a SIGINT/SIGTERM that stops this process stops the worker too (it ends its own run KILLED)
        const release = onSignalExit((signal) => p.kill(signal));
        // prefix each worker's messages with its trial, one line at a time
        let buf = '';
        p.stderr.on('data', (d) => {
          buf += d;
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) if (l.trim()) process.stderr.write(`[${trial.id}] ${l.replace(/\r/g, '')}\n`);
        });
        p.on('close', (code) => {
          release();
          resolve(code);
        });
      });
      if (code !== 0) failed.push(`${trial.id} (exit ${code})`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, trials.length) }, worker));
  if (failed.length)
    throw new ExitError(`train: ${failed.length} trial(s) failed: ${failed.join(', ')}; their output is above.`);
}

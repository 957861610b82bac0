import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { writeJsonAtomic } from '@nerflow/core';

/**
 * Which MLflow run a piece of unfinished work logs to, kept beside its checkpoint so that whoever
 * continues the work (`nerflow train --resume`, or another machine's worker taking over a dead
 * worker's trial) reopens THE SAME run instead of starting a second one:
 * - a trial: `runs/<name>/train/.<trial>.work/mlflow.json` (next to state.json and last/);
 * - a sweep's parent run: `runs/<name>/train/.sweep.mlflow.json` while the sweep is unfinished.
 * Both are removed when the work finishes (the finished trial's run id is in its run.json, the sweep's
 * parent in sweep-run.json).
 */
export interface RunRef {
  run_id: string;
  experiment_id: string;
  /** The store it lives in (a file:// URL or the server's http(s) URI): another store means another run. */
  tracking_uri: string;
  /** The sweep's parent run, for a trial of a sweep. */
  parent_run_id: string | null;
}

export const TRIAL_RUN_REF = 'mlflow.json';
export const SWEEP_RUN_REF = '.sweep.mlflow.json';

export function trialRunRefFile(workDir: string): string {
  return path.join(workDir, TRIAL_RUN_REF);
}

export function sweepRunRefFile(trainDir: string): string {
  return path.join(trainDir, SWEEP_RUN_REF);
}

export async function writeRunRef(file: string, ref: RunRef): Promise<void> {
  await writeJsonAtomic(file, ref);
}

/** The recorded run, or null when there is none (or it is unreadable: then a new run is started). */
export function readRunRef(file: string): RunRef | null {
  if (!existsSync(file)) return null;
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as Partial<RunRef>;
    if (typeof j.run_id !== 'string' || typeof j.tracking_uri !== 'string') return null;
    return {
      run_id: j.run_id,
      experiment_id: String(j.experiment_id ?? ''),
      tracking_uri: j.tracking_uri,
      parent_run_id: j.parent_run_id ?? null,
    };
  } catch {
    return null;
  }
}

export async function removeRunRef(file: string): Promise<void> {
  await rm(file, { force: true });
}

/**
 * Whether `--resume` will continue this trial's checkpoint (the same test runTrial makes): state.json
 * with this fingerprint and the last/ weights. Only then is the trial's run reopened; a trial that
 * starts over gets a new run.
 */
export function resumableCheckpoint(workDir: string, fingerprint: string): { epochsDone: number } | null {
  const state = path.join(workDir, 'state.json');
  if (!existsSync(state) || !existsSync(path.join(workDir, 'last'))) return null;
  try {
    const j = JSON.parse(readFileSync(state, 'utf8')) as { fingerprint?: string; epochsDone?: number };
    return j.fingerprint === fingerprint ? { epochsDone: Number(j.epochsDone ?? 0) } : null;
  } catch {
    return null;
  }
}

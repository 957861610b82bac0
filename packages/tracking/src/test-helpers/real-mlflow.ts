import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

export { freePort };

/**
 * A real MLflow server (3.6 from source, `../shared/tools/mlflow/mlflow.sh`) for end-to-end tests.
 * The tool lives beside the repository (`<repo>/../shared`, or `NERFLOW_SHARED_DIR`); where it is absent
 * or not set up, `realMlflowSkip` says why, and tests pass it to `test(..., { skip })` so the runner
 * prints one visible "skipped" line instead of failing.
 */

const execFileP = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export const sharedDir = process.env.NERFLOW_SHARED_DIR ?? path.resolve(repoRoot, '../shared');
export const mlflowSh = path.join(sharedDir, 'tools/mlflow/mlflow.sh');

function probe(): string | false {
  if (!existsSync(mlflowSh)) return `real MLflow not found at ${mlflowSh} (set NERFLOW_SHARED_DIR)`;
  try {
    execFileSync(mlflowSh, ['python', '-c', 'import mlflow, mlflow.server'], { stdio: 'ignore', timeout: 60_000 });
    return false;
  } catch {
    return `real MLflow at ${mlflowSh} is not set up (run: ${mlflowSh} setup)`;
  }
}

/** false when a real server can be started; otherwise the reason, for `test(name, { skip }, ...)`. */
export const realMlflowSkip: string | false = probe();

export interface RealMlflow {
  /** http://127.0.0.1:PORT */
  uri: string;
  /** The server's folder: mlflow.db, artifacts/, server.log. */
  dir: string;
  /** Runs Python with MLflow's own client importable; returns stdout. `MLFLOW_TRACKING_URI` is set to `uri`. */
  python(code: string): Promise<string>;
  /** Runs a Python snippet that prints one JSON value, and parses it. */
  pythonJson<T = unknown>(code: string): Promise<T>;
  stop(): Promise<void>;
}

/** Starts `mlflow server` (SQLite backend, proxied artifacts) on a free loopback port. */
export async function startRealMlflow(): Promise<RealMlflow> {
  if (realMlflowSkip) throw new Error(realMlflowSkip);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nerflow-mlflow-'));
  const port = await freePort();
  const { stdout } = await execFileP(mlflowSh, ['start', dir, String(port)], { timeout: 120_000 });
  const uri = stdout.trim().split('\n').at(-1)!;
  const env = { ...process.env, MLFLOW_TRACKING_URI: uri };
  const python = async (code: string) =>
    (await execFileP(mlflowSh, ['python', '-c', code], { env, timeout: 120_000, maxBuffer: 64 << 20 })).stdout;
  return {
    uri,
    dir,
    python,
    pythonJson: async <T>(code: string) => JSON.parse((await python(code)).trim().split('\n').at(-1)!) as T,
    stop: async () => {
      await execFileP(mlflowSh, ['stop', dir], { timeout: 60_000 }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

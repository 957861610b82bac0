// Running the real nerflow CLI from a test, in a workspace of the test's own (a temp folder with configs/).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '@nerflow/core';

/** The CLI's entry point in this checkout. */
export const nerflowBin = path.join(repoRoot(), 'packages/cli/bin/nerflow.js');

/** The environment of a nerflow run in a test workspace: its own root, the local file store, no TTY; plus `env`. */
export function cliEnv(root: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NERFLOW_ROOT: root, MLFLOW_TRACKING_URI: '', CI: 'true', ...env };
}

/** Runs `nerflow ...args` in `root` to the end (`nodeArgs` before the script): its exit code, stdout and stderr. */
export function runNerflow(
  root: string,
  args: string[],
  o: { env?: Record<string, string>; input?: string; nodeArgs?: string[] } = {},
): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [...(o.nodeArgs ?? []), nerflowBin, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: cliEnv(root, o.env),
    input: o.input,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

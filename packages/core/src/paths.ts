import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workspace root: NERFLOW_ROOT, else the nearest folder above cwd with nx.json and configs/, else this checkout. */
export function workspaceRoot(cwd = process.cwd()): string {
  if (process.env.NERFLOW_ROOT) return path.resolve(process.env.NERFLOW_ROOT);
  for (let d = path.resolve(cwd); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'nx.json')) && existsSync(path.join(d, 'configs'))) return d;
    if (path.dirname(d) === d) break;
  }
  return repoRoot();
}

/** This checkout's root (where the nerflow packages live), whatever the cwd. */
export function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
}

/** Where a package's sources live, for code fingerprints. */
export function packageDir(name: string): string {
  return path.join(repoRoot(), 'packages', name);
}

/** runs/ (NERFLOW_RUNS_DIR overrides): every stage's outputs and the local MLflow store. */
export function runsRoot(root: string): string {
  return process.env.NERFLOW_RUNS_DIR ? path.resolve(process.env.NERFLOW_RUNS_DIR) : path.join(root, 'runs');
}

export function stageDir(root: string, configName: string, stage: string, ...rest: string[]): string {
  return path.join(runsRoot(root), configName, stage, ...rest);
}

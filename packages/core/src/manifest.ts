import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeJsonAtomic } from './atomic.js';
import { sha256File } from './hash.js';

/**
 * `manifest.json`: what a stage produced and from what. Deterministic (no clock times, no run ids),
 * so identical inputs give a byte-identical manifest and caches downstream survive a no-op rerun.
 * Clock times and MLflow run ids go to `run.json` beside it.
 */
export interface FileEntry {
  path: string; // relative to the stage folder, or absolute for inputs outside runs/
  sha256: string;
  /** Absent for content-digested files, whose size may vary between identical runs. */
  bytes?: number;
  /** 'content': sha256 is a digest of the file's logical content, not of its bytes. */
  digest?: 'content';
}

export interface Manifest {
  schema: 1;
  stage: string;
  fingerprint: string;
  code_version: string;
  inputs: FileEntry[];
  outputs: FileEntry[];
  counts: Record<string, unknown>;
  /** The config section(s) the stage read, resolved. */
  config: Record<string, unknown>;
  upstream: Record<string, string>;
}

/** Non-deterministic facts about the run that produced the outputs. */
export interface RunInfo {
  stage: string;
  fingerprint: string;
  started_at: string;
  finished_at: string;
  timings_s: Record<string, number>;
  mlflow_run_id?: string | null;
  [k: string]: unknown;
}

export const MANIFEST = 'manifest.json';
export const RUN_INFO = 'run.json';

export async function readManifest(dir: string): Promise<Manifest | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

export async function readRunInfo(dir: string): Promise<RunInfo | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, RUN_INFO), 'utf8')) as RunInfo;
  } catch {
    return null;
  }
}

export async function fileEntry(file: string, relativeTo?: string): Promise<FileEntry> {
  const s = await stat(file);
  return { path: relativeTo ? path.relative(relativeTo, file) : file, sha256: await sha256File(file), bytes: s.size };
}

/** The stage is up to date when its manifest has this fingerprint and every output is still there with its size. */
export async function isUpToDate(dir: string, fingerprint: string): Promise<Manifest | null> {
  const m = await readManifest(dir);
  if (!m || m.fingerprint !== fingerprint) return null;
  for (const o of m.outputs) {
    const s = await stat(path.join(dir, o.path)).catch(() => null);
    if (!s || (o.bytes !== undefined && s.size !== o.bytes)) return null;
  }
  return m;
}

export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  await writeJsonAtomic(path.join(dir, MANIFEST), m);
}

export async function writeRunInfo(dir: string, r: RunInfo): Promise<void> {
  await writeJsonAtomic(path.join(dir, RUN_INFO), r);
}

import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { processIsGone } from './process.js';

/** Staging and swap-out folders this process is building now: removed by removeLiveStagingSync on a signal. */
const live = new Set<string>();

/**
 * Remove this process's unfinished staging folders (synchronous: for a signal handler right before the
 * process dies). The outputs they would have replaced stay as they were.
 */
export function removeLiveStagingSync(): void {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
}

const TEMP_RE = /^\.(.+)\.(staging|old|tmp)-(\d+)-[0-9a-f]{8}$/;

/**
 * Remove the temp folders and files (`.<name>.staging-<pid>-<hex>`, `.old-`, `.tmp-`) in `dir` left by
 * processes that are gone (killed with -9, a power cut): their pid no longer exists, or now belongs to
 * a process started after the folder was made. Returns the names removed.
 */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m || Number(m[3]) === process.pid) continue;
    const p = path.join(dir, name);
    let made: number;
    try {
      const st = statSync(p);
      made = st.birthtimeMs > 0 ? st.birthtimeMs : st.mtimeMs;
    } catch {
      continue;
    }
    if (!processIsGone(Number(m[3]), made)) continue;
    rmSync(p, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function tmpName(target: string, tag: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/** Write a file so readers see the old content or the new one, never half of it. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = tmpName(file, 'tmp');
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Build a whole output folder in a staging folder beside it, then swap it into place.
 * If `build` throws, the staging folder is removed and the previous folder is untouched.
 */
export async function replaceDirAtomic<T>(finalDir: string, build: (stagingDir: string) => Promise<T>): Promise<T> {
  await mkdir(path.dirname(finalDir), { recursive: true });
  removeStaleTemps(path.dirname(finalDir));
  const staging = tmpName(finalDir, 'staging');
  live.add(staging);
  try {
    await mkdir(staging, { recursive: true });
    let result: T;
    try {
      result = await build(staging);
    } catch (e) {
      await rm(staging, { recursive: true, force: true });
      throw e;
    }
    const old = tmpName(finalDir, 'old');
    const hadOld = await exists(finalDir);
    if (hadOld) await rename(finalDir, old);
    try {
      await rename(staging, finalDir);
    } catch (e) {
      if (hadOld) await rename(old, finalDir);
      throw e;
    }
    if (hadOld) await rm(old, { recursive: true, force: true });
    return result;
  } finally {
    live.delete(staging);
  }
}

import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';

function tmpName(target: string, tag: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
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
  return stat(p).then(() => true, () => false);
}

/**
 * Build a whole output folder in a staging folder beside it, then swap it into place.
 * If `build` throws, the staging folder is removed and the previous folder is untouched.
 */
export async function replaceDirAtomic<T>(finalDir: string, build: (stagingDir: string) => Promise<T>): Promise<T> {
  await mkdir(path.dirname(finalDir), { recursive: true });
  const staging = tmpName(finalDir, 'staging');
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
}

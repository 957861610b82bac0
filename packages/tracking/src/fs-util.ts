import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TrackingEnvironmentError } from './errors.js';

/**
 * Write `file` atomically: the data goes to a temp file in `tmpDir` (same filesystem, a folder MLflow
 * never lists, e.g. the run folder itself) and is renamed into place, so a reader sees the old value
 * or the new one, never a partial one, and never a stray temp file among params/ or tags/.
 * (The same technique as @nerflow/core's writeFileAtomic; this package depends on nothing of nerflow's.)
 */
export async function writeAtomic(file: string, data: string | Uint8Array, tmpDir = path.dirname(file)): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(tmpDir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** O_APPEND writes of at most this many bytes, whole lines only: each lands in one write(2). */
export const APPEND_CHUNK_BYTES = 64 * 1024;

/**
 * Append whole lines with O_APPEND. fs/promises.appendFile opens with O_APPEND and issues one write(2)
 * per call for buffers under Node's 512 KiB write chunk (checked with strace); on a local filesystem
 * the kernel places each O_APPEND write at the end of the file atomically, so lines from several
 * processes never interleave. Lines are grouped into ≤ 64 KiB chunks.
 */
export async function appendLines(file: string, lines: string[]): Promise<void> {
  let chunk = '';
  for (const line of lines) {
    if (chunk && Buffer.byteLength(chunk) + Buffer.byteLength(line) > APPEND_CHUNK_BYTES) {
      await appendFile(file, chunk);
      chunk = '';
    }
    chunk += line;
  }
  if (chunk) await appendFile(file, chunk);
}

/**
 * A cross-process lock: a lock FILE created with O_CREAT|O_EXCL (atomic; a file, so MLflow, which lists
 * only sub-folders of the store root, never mistakes it for an experiment). A lock older than
 * `staleMs` whose owner process is gone is broken.
 */
export async function withFileLock<T>(
  lockFile: string,
  body: () => Promise<T>,
  o: { timeoutMs?: number; staleMs?: number } = {},
): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const staleMs = o.staleMs ?? 10_000;
  const start = Date.now();
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      const fh = await open(lockFile, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await isStale(lockFile, staleMs)) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() - start > timeoutMs) {
        throw new TrackingEnvironmentError(
          `${lockFile}: held by another process for ${Math.round(timeoutMs / 1000)} s; ` +
            'if no nerflow/MLflow process is using this store, delete the file',
        );
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    }
  }
  try {
    return await body();
  } finally {
    await rm(lockFile, { force: true });
  }
}

async function isStale(lockFile: string, staleMs: number): Promise<boolean> {
  try {
    const st = await stat(lockFile);
    if (Date.now() - st.mtimeMs < staleMs) return false;
    const pid = Number(await readFile(lockFile, 'utf8'));
    if (!pid) return true;
    try {
      process.kill(pid, 0);
      return false; // owner alive: a slow holder, not a stale lock
    } catch {
      return true;
    }
  } catch {
    return !existsSync(lockFile) ? false : true;
  }
}

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TrackingStore } from './types.js';

/**
 * Download a run's artifact folder (or one file) into `dest`, as MLflow's `download_artifacts`:
 * `artifactPath` "checkpoint/a" → dest/<files under checkpoint/a>. Returns the files written (relative).
 */
export async function downloadArtifacts(
  store: TrackingStore,
  runId: string,
  artifactPath: string,
  dest: string,
): Promise<string[]> {
  const root = artifactPath.replace(/^\/+|\/+$/g, '');
  const written: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const a of await store.listArtifacts(runId, dir)) {
      const rel = root ? path.posix.relative(root, a.path) : a.path;
      if (a.is_dir) await walk(a.path);
      else {
        const file = path.join(dest, ...rel.split('/'));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, await store.readArtifact(runId, a.path));
        written.push(rel);
      }
    }
  };
  await walk(root);
  return written;
}

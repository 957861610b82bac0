import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/** JSON with object keys sorted, so equal values always hash equally. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as object).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hashValue(value: unknown): string {
  return sha256(stableStringify(value));
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every file below dir (relative paths, sorted), skipping tests and node_modules. */
export async function listSourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!/\.test\.[cm]?[jt]s$/.test(e.name)) out.push(p);
    }
  }
  await walk(dir);
  return out.map((p) => path.relative(dir, p)).sort();
}

/**
 * The code version of a stage: a hash over the source of the given package folders
 * (tests excluded). Changing a stage's code changes its fingerprint and nothing upstream.
 */
export async function codeVersion(packageDirs: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const dir of packageDirs) {
    const src = path.join(dir, 'src');
    const exists = await stat(src).then(() => true, () => false);
    if (!exists) continue;
    for (const rel of await listSourceFiles(src)) {
      h.update(`${path.basename(dir)}/${rel}\0`);
      h.update(await readFile(path.join(src, rel)));
      h.update('\0');
    }
  }
  return h.digest('hex').slice(0, 16);
}

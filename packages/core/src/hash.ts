import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { packageDir, repoRoot } from './paths.js';

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

/** Test code: `*.test.ts` files and `test-helpers/` folders. It never runs in a stage: not in a fingerprint. */
const isTest = (name: string, isDir: boolean) => (isDir ? name === 'test-helpers' : /\.test\.[cm]?[jt]s$/.test(name));

/** Every file below dir (relative paths, sorted), skipping tests, test helpers, dot-files and node_modules. */
export async function listSourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.') || isTest(e.name, e.isDirectory())) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  }
  await walk(dir);
  return out.map((p) => path.relative(dir, p)).sort();
}

/**
 * What of a package runs: its package.json (its dependencies), its TypeScript `src/` and, for nn, the
 * kernel's AssemblyScript source and the compiled `lstm.wasm` the model executes.
 */
const RUNTIME_PARTS = ['package.json', 'src', 'assembly', 'wasm'];

/**
 * The code version of a set of package folders: a hash over what runs in them (RUNTIME_PARTS, tests and
 * test helpers excluded). Changing a stage's code changes its fingerprint and nothing upstream.
 */
export async function codeVersion(packageDirs: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const dir of packageDirs) {
    for (const part of RUNTIME_PARTS) {
      const at = path.join(dir, part);
      const s = await stat(at).catch(() => null);
      if (!s) continue;
      const files = s.isDirectory() ? (await listSourceFiles(at)).map((rel) => path.join(part, rel)) : [part];
      for (const rel of files) {
        h.update(`${path.basename(dir)}/${rel}\0`);
        h.update(await readFile(path.join(dir, rel)));
        h.update('\0');
      }
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** A workspace package and every @nerflow package it depends on, transitively, read from the package.json files. */
export function workspaceDependencies(name: string, root = repoRoot()): string[] {
  const seen = new Set<string>();
  const visit = (pkg: string) => {
    if (seen.has(pkg)) return;
    seen.add(pkg);
    const json = JSON.parse(readFileSync(path.join(root, 'packages', pkg, 'package.json'), 'utf8'));
    for (const dep of Object.keys(json.dependencies ?? {})) {
      if (dep.startsWith('@nerflow/')) visit(dep.slice('@nerflow/'.length));
    }
  };
  visit(name);
  return [...seen].sort();
}

/** The code version of a stage: what runs of its package and of every workspace package it depends on. */
export function stageCodeVersion(stage: string): Promise<string> {
  return codeVersion(workspaceDependencies(stage).map(packageDir));
}

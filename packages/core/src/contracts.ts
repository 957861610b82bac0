import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TrainConfig } from './config/schema.js';
import type { ParamValue } from './config/trials.js';
import type { EpochRecord, MetricName } from './history.js';
import { MANIFEST, RUN_INFO, type Manifest, type RunInfo } from './manifest.js';

/**
 * The files one stage writes and the next reads, as types, with one reader each: no stage `JSON.parse`s
 * another stage's file into `any`. The prose contracts are the packages' READMEs (featurize → train and
 * evaluate: packages/featurize/README.md; train → evaluate: packages/train/README.md).
 */

/** A JSON file as its type; null when it is missing or unreadable (a file being replaced, a crash). */
export function readJsonFile<T>(file: string): T | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

// featurize → train, evaluate

/** featurize/vocab.json: `words[i]` is the word with id i (`<PAD>` 0, `<UNK>` 1). */
export interface VocabFile {
  lowercase: boolean;
  min_count: number;
  size: number;
  /** With featurize.pretrained_vocab: ids below train_size are train words, the pretrained_extra after them val/test words. */
  train_size?: number;
  pretrained_extra?: number;
  words: string[];
}

/** featurize/tags.json: the tag of each index, `O` first. */
export interface TagsFile {
  tags: string[];
  /** The scheme the tags (and a model's predictions) are in: featurize.tag_scheme; absent in older files = iob2. */
  scheme?: 'iob2' | 'bioes';
  /** The corpus's own scheme (data.scheme), which predictions are converted back to. */
  corpus_scheme?: 'iob2' | 'iob1' | 'bioes' | 'bilou' | 'io';
}

export function readVocab(featurizeDir: string): VocabFile | null {
  return readJsonFile<VocabFile>(path.join(featurizeDir, 'vocab.json'));
}

export function readTags(featurizeDir: string): string[] | null {
  return readTagsFile(featurizeDir)?.tags ?? null;
}

export function readTagsFile(featurizeDir: string): TagsFile | null {
  return readJsonFile<TagsFile>(path.join(featurizeDir, 'tags.json'));
}

/**
 * The rows of one split of train.arrow / val.arrow / test.arrow, padded to maxLen: what featurize writes
 * (packages/featurize/src/arrow.ts) and nn reads back as zero-copy views (`SplitData`, packages/nn/src/data.ts).
 */
export interface SplitRows {
  n: number;
  maxLen: number;
  sentenceIds: Int32Array;
  chunks: Int32Array;
  lengths: Int32Array;
  /** n·maxLen vocabulary ids, 0 = padding. */
  tokens: Int32Array;
  /** n·maxLen tag ids, -1 = padding. */
  tags: Int8Array;
}

// train → evaluate, report, the sweep

export type TrialStatus = 'finished' | 'early_stopped' | 'pruned';

/** train/<trial>/manifest.json `counts`. */
export type TrainCounts = {
  epochs: number;
  best_epoch: number;
  best_value: number | null;
  status: TrialStatus;
  /** The trial's sweep values (dotted key → value); {} for the baseline. */
  overrides: Record<string, ParamValue>;
  /** train.embeddings: the vector file (path or npm:<package>@<version>/<file>, sha256), its coverage (train). */
  embeddings?: Record<string, string | number | boolean>;
};

/** train/<trial>/manifest.json: `config.train` is the trial's resolved train section (sweep values applied). */
export type TrainManifest = Manifest & { counts: TrainCounts; config: { train: TrainConfig } };

/** One line of train/<trial>/history.json: the epoch's metrics, without clock times (a rerun writes the same file). */
export type HistoryEntry = Pick<EpochRecord, 'epoch' | MetricName>;

/** train/<trial>/run.json: the run's times and ids (not deterministic, so not in the manifest). */
export type TrainRunInfo = RunInfo & {
  timings_s: { total: number; train?: number; epochs?: number };
  mlflow_run_id: string | null;
  mlflow_parent_run_id: string | null;
  /** The tracking store the run was logged to (absent in run.json files written before nerflow recorded it). */
  mlflow_tracking_uri?: string;
  backend: string;
  engine: string;
  /** A fused model's kernel threads (1 or 2) and kernel build (exact or fma). */
  threads?: number;
  kernel?: string;
};

export const HISTORY = 'history.json';

export function readTrainManifest(trialDir: string): TrainManifest | null {
  return readJsonFile<TrainManifest>(path.join(trialDir, MANIFEST));
}

export function readTrainRun(trialDir: string): TrainRunInfo | null {
  return readJsonFile<TrainRunInfo>(path.join(trialDir, RUN_INFO));
}

/** The per-epoch history of a trained trial ([] when there is none). */
export function readHistory(trialDir: string): HistoryEntry[] {
  return readJsonFile<HistoryEntry[]>(path.join(trialDir, HISTORY)) ?? [];
}

import type { StageContext, StageResult } from '@nerflow/core';

export interface StageFlags {
  resume?: boolean;
  trial?: string;
  parentRun?: string;
}

/**
 * The stages, loaded only when run (TensorFlow.js and DuckDB are slow to import).
 * The order is the pipeline's order.
 */
export const STAGES = {
  ingest: {
    describe: 'read the corpus (CSV or CoNLL, one file or its own train/val/test) into DuckDB (runs/<name>/ingest/corpus.duckdb)',
    run: async (ctx: StageContext): Promise<StageResult | StageResult[]> => (await import('@nerflow/ingest')).ingest(ctx),
  },
  featurize: {
    describe: 'vocabulary, tag index, split and padded tensors as Arrow IPC, EDA figures (runs/<name>/featurize/)',
    run: async (ctx: StageContext): Promise<StageResult | StageResult[]> => (await import('@nerflow/featurize')).featurize(ctx),
  },
  train: {
    describe: 'train the BiLSTM: the baseline, or every trial of the sweep (runs/<name>/train/<trial>/)',
    run: async (ctx: StageContext, f: StageFlags = {}): Promise<StageResult | StageResult[]> =>
      (await import('@nerflow/train')).train(ctx, { resume: f.resume, trial: f.trial, parentRunId: f.parentRun }),
  },
  evaluate: {
    describe: 'score every trained trial on evaluate.split (test by default): reports, confusion matrices (runs/<name>/evaluate/<trial>/)',
    run: async (ctx: StageContext): Promise<StageResult | StageResult[]> => (await import('@nerflow/evaluate')).evaluate(ctx),
  },
} as const;

export type StageName = keyof typeof STAGES;

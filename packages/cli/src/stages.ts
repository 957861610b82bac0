import type { StageContext, StageResult } from '@nerflow/core';

/**
 * The stages, loaded only when run (TensorFlow.js and DuckDB are slow to import).
 * The order is the pipeline's order.
 */
export const STAGES = {
  ingest: {
    describe: 'read the corpus CSV into DuckDB (runs/<name>/ingest/corpus.duckdb)',
    run: async (ctx: StageContext): Promise<StageResult | StageResult[]> => (await import('@nerflow/ingest')).ingest(ctx),
  },
  featurize: {
    describe: 'vocabulary, tag index, split and padded tensors as Arrow IPC, EDA figures (runs/<name>/featurize/)',
    run: async (ctx: StageContext): Promise<StageResult | StageResult[]> => (await import('@nerflow/featurize')).featurize(ctx),
  },
} as const;

export type StageName = keyof typeof STAGES;

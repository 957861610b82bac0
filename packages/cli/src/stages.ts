import type { StageContext, StageResult } from '@nerflow/core';
import type { CollectHooks } from '@nerflow/train';

export interface StageFlags {
  resume?: boolean;
  trial?: string;
  parentRun?: string;
  /** A BullMQ/Redis trial queue (--queue): the trials go to `nerflow worker`s. */
  queue?: string;
  /** With a queue: wait for the trials and collect the sweep (--no-wait: false). */
  wait?: boolean;
  retryFailed?: boolean;
}

/**
 * The stages, loaded only when run (TensorFlow.js and DuckDB are slow to import).
 * The order is the pipeline's order.
 */
export const STAGES = {
  ingest: {
    describe:
      'read the corpus (CSV or CoNLL, one file or its own train/val/test) into DuckDB (runs/<name>/ingest/corpus.duckdb)',
    run: async (ctx: StageContext): Promise<StageResult | StageResult[]> =>
      (await import('@nerflow/ingest')).ingest(ctx),
  },
  featurize: {
    describe: 'vocabulary, tag index, split and padded tensors as Arrow IPC, EDA figures (runs/<name>/featurize/)',
    run: async (ctx: StageContext): Promise<StageResult | StageResult[]> =>
      (await import('@nerflow/featurize')).featurize(ctx),
  },
  train: {
    describe: 'train the BiLSTM: the baseline, or every trial of the sweep (runs/<name>/train/<trial>/)',
    run: async (ctx: StageContext, f: StageFlags = {}): Promise<StageResult | StageResult[]> => {
      const t = await import('@nerflow/train');
      const url = f.trial ? null : t.resolveQueueUrl(f.queue, ctx.config.sweep?.queue);
      if (url) {
        // the trials go to the workers; this process enqueues and (unless --no-wait) collects
        await t.queueTrain(ctx, { url, wait: f.wait !== false, retryFailed: f.retryFailed, hooks: QUEUE_HOOKS });
        return [];
      }
      return t.train(ctx, { resume: f.resume, trial: f.trial, parentRunId: f.parentRun });
    },
  },
  evaluate: {
    describe:
      'score every trained trial on evaluate.split (test by default): reports, confusion matrices (runs/<name>/evaluate/<trial>/)',
    run: async (ctx: StageContext): Promise<StageResult | StageResult[]> =>
      (await import('@nerflow/evaluate')).evaluate(ctx),
  },
} as const;

export type StageName = keyof typeof STAGES;

/**
 * What collecting a queued sweep does beyond the train stage (a stage never imports another; the CLI joins
 * them): the best trial scored as evaluate scores every trial, logged to its run, and registered (alias
 * `champion` moved only on a better test entity F1), after ingest and featurize on this machine (no-ops when
 * up to date).
 */
export const QUEUE_HOOKS: CollectHooks = {
  registerBestModel: async (best, ctx) => {
    await STAGES.ingest.run(ctx);
    await STAGES.featurize.run(ctx);
    await (await import('@nerflow/evaluate')).evaluateSweepBest(ctx, best);
  },
};

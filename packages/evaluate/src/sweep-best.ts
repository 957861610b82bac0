import { existsSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import {
  readTagsFile,
  relativeData,
  replaceDirAtomic,
  stageDir,
  usableCores,
  ValidationError,
  type HistoryEntry,
  type StageContext,
} from '@nerflow/core';
import type { TagScheme } from '@nerflow/metrics';
import { readSplit, resolveKernel, resolveThreads } from '@nerflow/nn';
import { openRegistry, openStore } from '@nerflow/tracking';
import { logEvaluation } from './log-evaluation.js';
import { predictSplit } from './predict.js';
import { registeredModelName, registerModel } from './register.js';
import { writeEvaluation } from './write.js';
import { wordsForRows } from './words.js';

/** The best trial of a sweep collected from a trial queue: its model downloaded from its MLflow run. */
export interface SweepBest {
  trial: string;
  runId: string;
  /** The model folder (`runs/<name>/train/best/model`). */
  modelDir: string;
  /** The tracking server the sweep logged to. */
  trackingUri: string;
  history?: HistoryEntry[];
}

/**
 * A queued sweep's best trial, once collected, as evaluate treats every trial on one machine: scored on
 * `evaluate.split` into `runs/<name>/evaluate/best/` (the same report files), the scores and reports logged to
 * the trial's MLflow run, and (`tracking.register`, split test) its model registered as a new version, the
 * alias `champion` moved to it only when its test entity F1 beats the champion's. Needs this machine's ingest
 * and featurize output of the config (the caller makes them current). Returns the entity F1.
 */
export async function evaluateSweepBest(ctx: StageContext, best: SweepBest): Promise<number> {
  const { config, log } = ctx;
  const cfg = config.evaluate;
  const featDir = stageDir(ctx.root, config.name, 'featurize');
  const splitFile = path.join(featDir, `${cfg.split}.arrow`);
  const ingestDb = stageDir(ctx.root, config.name, 'ingest', 'corpus.duckdb');
  const tagsFile = readTagsFile(featDir);
  if (!existsSync(splitFile) || !tagsFile || !existsSync(ingestDb))
    throw new ValidationError(
      `${featDir}: no featurize output (${cfg.split}.arrow, tags.json) or ingest output to score the best trial on. ` +
        `Run \`npx nerflow featurize --config ${config.name}\` on this machine.`,
    );
  if (!existsSync(path.join(best.modelDir, 'nerflow.json')))
    throw new ValidationError(`${best.modelDir}: no model folder (nerflow.json) of the best trial ${best.trial}`);
  const split = readSplit(splitFile);
  const words = await wordsForRows(ingestDb, split.sentenceIds, split.chunks, split.lengths, split.maxLen);
  const { pred, gold } = await predictSplit(best.modelDir, split, cfg.batch_size, config.train.backend, {
    threads: resolveThreads(config.train.threads, 1, usableCores()).threads,
    kernel: resolveKernel(config.train.kernel),
  });
  const { file: _f, files: _fs, overrides: _o, ...resolved } = config;
  const store = openStore({ uri: best.trackingUri });
  const outDir = stageDir(ctx.root, config.name, 'evaluate', 'best');
  const f1 = await replaceDirAtomic(outDir, async (staging) => {
    const { report, metrics } = await writeEvaluation(staging, {
      words,
      gold,
      pred,
      tags: tagsFile.tags,
      tagScheme: (tagsFile.scheme ?? 'iob2') as TagScheme,
      outputScheme: config.data.scheme,
      sentenceIds: Array.from(split.sentenceIds),
      history: best.history,
      config: stringify({ ...resolved, data: relativeData(resolved.data, ctx.root) }),
      trial: best.trial,
      split: cfg.split,
      topConfusions: cfg.top_confusions,
    });
    const loggedTo = await logEvaluation(ctx, store, { trial: best.trial, runId: best.runId, metrics, staging });
    const f1 = report.entity.micro.f1;
    log.info(
      `evaluate: best trial ${best.trial}: entity F1 ${f1.toFixed(4)} on ${cfg.split} → ` +
        path.relative(process.cwd(), outDir) +
        (loggedTo ? ` (logged to MLflow run ${loggedTo})` : ''),
    );
    if (!config.tracking.register) log.info(`evaluate: ${best.trial}: not registered (tracking.register is false)`);
    else if (cfg.split !== 'test')
      log.info(
        `evaluate: ${best.trial}: not registered in the Model Registry (evaluate.split is ${cfg.split}; ` +
          'the champion is chosen by test entity F1)',
      );
    else {
      // collected again (trials added) with the same best run: its version is there already
      const name = registeredModelName(config);
      const had = (await openRegistry(store).listModelVersions(name)).find((v) => v.run_id === best.runId);
      if (had) log.info(`evaluate: ${best.trial}: already registered as ${name} version ${had.version}`);
      else
        await registerModel(store, { runId: best.runId, trial: best.trial, config, modelDir: best.modelDir, f1, log });
    }
    return f1;
  });
  return f1;
}

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import {
  fmtInt,
  readHistory,
  readManifest,
  readTagsFile,
  readTrainManifest,
  readTrainRun,
  relativeData,
  runStage,
  stageCodeVersion,
  stageDir,
  usableCores,
  ValidationError,
  type StageContext,
  type StageResult,
} from '@nerflow/core';
import type { TagScheme } from '@nerflow/metrics';
import { readSplit, resolveKernel, resolveThreads } from '@nerflow/nn';
import { locateRun, type TrackingStore } from '@nerflow/tracking';
import { logEvaluation, openEvaluateStore } from './log-evaluation.js';
import { predictSplit } from './predict.js';
import { registerModel } from './register.js';
import { writeEvaluation } from './write.js';
import { wordsForRows } from './words.js';

/** The trained trials of a config: runs/<name>/train/<trial>/ folders with a manifest (not best/). */
export function trainedTrials(trainDir: string): string[] {
  if (!existsSync(trainDir)) return [];
  return readdirSync(trainDir, { withFileTypes: true })
    .filter(
      (e) =>
        e.isDirectory() &&
        !e.name.startsWith('.') &&
        e.name !== 'best' &&
        existsSync(path.join(trainDir, e.name, 'manifest.json')),
    )
    .map((e) => e.name)
    .sort();
}

/** `nerflow evaluate`: score every trained trial on `evaluate.split` (test by default) and log to the trial's MLflow run. */
export async function evaluate(ctx: StageContext): Promise<StageResult[]> {
  const { config, log } = ctx;
  const cfg = config.evaluate;
  const featDir = stageDir(ctx.root, config.name, 'featurize');
  const trainDir = stageDir(ctx.root, config.name, 'train');
  const ingestDb = stageDir(ctx.root, config.name, 'ingest', 'corpus.duckdb');
  const feat = await readManifest(featDir);
  const splitFile = path.join(featDir, `${cfg.split}.arrow`);
  if (!feat || !existsSync(splitFile))
    throw new ValidationError(
      `${featDir}: no featurize output (${cfg.split}.arrow). Run \`npx nerflow pipeline --config ${config.name}\` first.`,
    );
  const trials = trainedTrials(trainDir);
  if (!trials.length)
    throw new ValidationError(
      `${trainDir}: no trained model. Run \`npx nerflow train --config ${config.name}\` first.`,
    );
  if (!existsSync(ingestDb))
    throw new ValidationError(
      `${ingestDb}: missing (evaluate reads the words from it). Run \`npx nerflow ingest --config ${config.name}\`.`,
    );
  const code = await stageCodeVersion('evaluate');
  const tagsFile = readTagsFile(featDir);
  if (!tagsFile)
    throw new ValidationError(
      `${featDir}/tags.json is missing or unreadable. Run \`npx nerflow featurize --config ${config.name} --force\`.`,
    );
  const { tags } = tagsFile;
  const tagScheme: TagScheme = tagsFile.scheme ?? 'iob2';
  const { file: _f, files: _fs, overrides: _o, ...resolved } = config;

  let store: TrackingStore | null = null;
  let split: ReturnType<typeof readSplit> | null = null;
  let words: string[][] | null = null;
  const results: StageResult[] = [];
  for (const trial of trials) {
    const trialDir = path.join(trainDir, trial);
    // trainedTrials lists only folders with a manifest
    const trainManifest = readTrainManifest(trialDir)!;
    const trainRun = readTrainRun(trialDir);
    const id = {
      stage: 'evaluate',
      config: { evaluate: cfg },
      upstream: { train: trainManifest.fingerprint, featurize: feat.fingerprint },
      code_version: code,
      inputs: [],
    };
    const result = await runStage({
      id,
      dir: stageDir(ctx.root, config.name, 'evaluate', trial),
      force: ctx.force,
      log,
      build: async (staging) => {
        split ??= readSplit(splitFile);
        words ??= await wordsForRows(ingestDb, split.sentenceIds, split.chunks, split.lengths, split.maxLen);
        const t0 = performance.now();
        const { pred, gold, backend } = await predictSplit(
          path.join(trialDir, 'model'),
          split,
          cfg.batch_size,
          config.train.backend,
          {
            threads: resolveThreads(config.train.threads, 1, usableCores()).threads,
            kernel: resolveKernel(config.train.kernel),
          },
        );
        const tPredict = (performance.now() - t0) / 1000;
        const history = readHistory(trialDir);
        const trialConfig = {
          ...resolved,
          data: relativeData(resolved.data, ctx.root),
          train: trainManifest.config.train,
        };
        const { report, metrics } = await writeEvaluation(staging, {
          words,
          gold,
          pred,
          tags,
          tagScheme,
          outputScheme: config.data.scheme,
          sentenceIds: Array.from(split.sentenceIds),
          history,
          config: stringify(trialConfig),
          trial,
          split: cfg.split,
          topConfusions: cfg.top_confusions,
        });
        const runId = trainRun?.mlflow_run_id;
        const loggedTo = runId
          ? await logEvaluation(ctx, (store ??= await openEvaluateStore(ctx)), { trial, runId, metrics, staging })
          : null;
        if (loggedTo && config.tracking.register) {
          // the model artifacts live in the trial's run (loggedTo may be a nested evaluate run)
          const trialRun = await locateRun(store!, runId!, config.tracking.experiment);
          if (trialRun && cfg.split === 'test')
            await registerModel(store!, {
              runId: trialRun,
              trial,
              config,
              modelDir: path.join(trialDir, 'model'),
              f1: report.entity.micro.f1,
              log,
            });
          else if (trialRun)
            log.info(
              `evaluate: ${trial}: not registered in the Model Registry (evaluate.split is ${cfg.split}; the champion is chosen by test entity F1)`,
            );
        }
        log.info(
          `evaluate: ${trial}: entity F1 ${report.entity.micro.f1.toFixed(4)}, token macro F1 ${report.token.macro_f1.toFixed(4)}, accuracy ${report.token.accuracy.toFixed(4)} on ${fmtInt(report.sentences)} ${cfg.split} sentences → ${path.relative(process.cwd(), path.join(stageDir(ctx.root, config.name, 'evaluate', trial), 'report.html'))}`,
        );
        return {
          counts: {
            rows: split.n,
            sentences: report.sentences,
            entity_f1: report.entity.micro.f1,
            token_macro_f1: report.token.macro_f1,
            accuracy: report.token.accuracy,
          },
          timings_s: { predict: tPredict },
          run: { mlflow_run_id: loggedTo ?? runId ?? null, backend },
        };
      },
    });
    results.push(result);
  }
  return results;
}

import { existsSync, readFileSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  TOKENIZER, ValidationError, bestOf, isImprovement, fmtSeconds, isUpToDate, replaceDirAtomic, runStage, stageCodeVersion, stageDir, stageFingerprint, usableCores, writeFileAtomic,
  readHistory, readJsonFile, readTrainManifest, readTrainRun,
  type EpochRecord, type HistoryEntry, type MetricName, type TrainCounts, type StageContext, type StageIdentity, type StageResult, type SweepConfig,
} from '@nerflow/core';
import { engineOf, initBackend, readSplit, resolveKernel, resolveThreads, writeModelMeta, type KernelVariant } from '@nerflow/nn';
import { featurizeOutputs, type FeaturizeOutputs } from './inputs.js';
import { shouldPrune } from './pruner.js';
import { expandTrials, trialLabel, type Trial } from './sweep.js';
import { openTracking, type SweepRun, type TrialTracking } from './tracking.js';
import {
  readRunRef, removeRunRef, resumableCheckpoint, sweepRunRefFile, trialRunRefFile, writeRunRef,
} from './run-ref.js';
import { warnUntracked } from './untracked.js';
import { runTrial, type TrialData } from './trial.js';
import { runWorkers } from './workers.js';
import { writeTrialsTable, type TrialSummary } from './trials-table.js';

export interface TrainOptions {
  /** Continue interrupted trials from their last finished epoch. */
  resume?: boolean;
  /** Run only this trial (used by parallel workers and the Nx per-trial targets). */
  trial?: string;
  /** MLflow parent run of the sweep (given to workers). */
  parentRunId?: string;
}

/** The metrics file that goes into the cached outputs: no clock times, so it is the same on a rerun. */
export function deterministicHistory(h: EpochRecord[]): HistoryEntry[] {
  return h.map(({ epoch, loss, val_loss, val_token_accuracy, val_entity_f1 }) => ({ epoch, loss, val_loss, val_token_accuracy, val_entity_f1 }));
}

export async function trialIdentity(trial: Trial, fo: FeaturizeOutputs, code: string): Promise<StageIdentity> {
  // threads change the speed, never the result (bit-identical): not part of what a trial is; the kernel build
  // changes the last bits: the one that computes is (so a machine with another build trains again)
  const { threads: _threads, kernel, ...rest } = trial.train;
  const train = trial.train.model === 'fused' ? { ...rest, kernel: kernelOf(kernel, trial) } : rest;
  return { stage: 'train', config: { train }, upstream: { featurize: fo.manifest.fingerprint }, code_version: code, inputs: [] };
}

/** The kernel build a trial's train.kernel setting gives on this runtime. */
function kernelOf(setting: Trial['train']['kernel'], trial: Trial): KernelVariant {
  try {
    return resolveKernel(setting);
  } catch (e) {
    throw new ValidationError(`${trial.id === 'main' ? '' : `trial ${trial.id}: `}${(e as Error).message}`);
  }
}

/**
 * The other trials' per-epoch values of the sweep metric, for pruning: finished trials and trials still
 * running, but only those with the current settings and code (their fingerprint in manifest.json or
 * state.json is the expected one), never leftovers of an earlier version of the sweep.
 */
export function otherHistories(trainDir: string, fingerprints: Map<string, string>, self: string, metric: MetricName): number[][] {
  const out: number[][] = [];
  for (const [id, fp] of fingerprints) {
    if (id === self) continue;
    for (const [f, h] of [[path.join(trainDir, id, 'manifest.json'), path.join(trainDir, id, 'history.json')], [path.join(trainDir, `.${id}.work`, 'state.json'), null]] as const) {
      // a file being written reads as null: skip it this time
      const j = readJsonFile<{ fingerprint: string; history?: HistoryEntry[] }>(f);
      if (j?.fingerprint !== fp) continue;
      const history = h ? readJsonFile<HistoryEntry[]>(h) : j.history;
      if (!history) continue;
      out.push(history.map((r) => r[metric]));
      break;
    }
  }
  return out;
}

/** The code version in every trial's fingerprint: train and the packages it runs. */
export function trainCodeVersion(): Promise<string> {
  return stageCodeVersion('train');
}

/** `nerflow train`: every trial of the config (the baseline, or each point of its sweep). */
export async function train(ctx: StageContext, opts: TrainOptions = {}): Promise<StageResult[]> {
  const { config, log } = ctx;
  const fo = await featurizeOutputs(ctx);
  const all = expandTrials(config);
  const trials = opts.trial ? all.filter((t) => t.id === opts.trial) : all;
  if (opts.trial && !trials.length) throw new ValidationError(`--trial ${opts.trial}: no such trial in ${config.file}. Its trials: ${all.map((t) => t.id).join(', ')} (\`npx nx show project train\` lists them as targets).`);
  const trainDir = stageDir(ctx.root, config.name, 'train');
  const code = await trainCodeVersion();

  // Which trials need work?
  const fingerprints = new Map<string, string>();
  for (const t of all) fingerprints.set(t.id, stageFingerprint(await trialIdentity(t, fo, code)));
  const pending: Trial[] = [];
  for (const t of trials) {
    if (ctx.force || !(await isUpToDate(path.join(trainDir, t.id), fingerprints.get(t.id)!))) pending.push(t);
  }
  if (!pending.length) log.info(`train: all ${trials.length} trial(s) up to date (${path.relative(process.cwd(), trainDir)}); use --force to retrain.`);
  // up to date here, but is each trial's run in the tracking store configured now?
  const upToDate = trials.filter((t) => !pending.includes(t));
  await warnUntracked(ctx, upToDate.map((t) => ({ trial: t.id, dir: path.join(trainDir, t.id) })));

  let data: TrialData | null = null;
  let backend = '';
  const isSweep = all.length > 1;
  // A sweep's parent run is opened by the process that runs the whole sweep (not by one --trial, which
  // attaches to --parent-run when a sweep runner gives one): when any trial trains, or when some trial's
  // run is not under the recorded parent yet (trials trained as separate Nx tasks); see finishSweep.
  const collect = isSweep && !opts.trial && !opts.parentRunId && (pending.length > 0 || !(await sweepIsCollected(trainDir, all)));
  const tracking = pending.length || collect ? await openTracking(ctx, fo) : null;
  let parentRunId = opts.parentRunId;
  let sweepRun: SweepRun | null = null;
  if (tracking && collect) {
    const refFile = sweepRunRefFile(trainDir);
    const started = await tracking.startSweep(all, opts.resume ? readRunRef(refFile) : null);
    await writeRunRef(refFile, started.ref);
    sweepRun = started;
    parentRunId = sweepRun.run.runId;
  }

  const results: StageResult[] = [];
  let failed: unknown = null;
  const parallel = config.sweep?.parallel ?? 1;
  // kernel threads per trial: the cores left free by the trials that run at once (a --trial worker is one of `parallel`)
  const concurrent = isSweep && parallel > 1 && (opts.trial || pending.length > 1) ? Math.min(parallel, opts.trial ? parallel : pending.length) : 1;
  const cores = usableCores();
  const threadsOf = (t: Trial) => {
    const r = resolveThreads(t.train.threads, concurrent, cores);
    if (r.capped) log.warn(`train: train.threads ${t.train.threads} lowered to ${r.threads}: ${concurrent} trial(s) at once on ${cores} core(s) leave ${r.threads} each (set train.threads: auto)`);
    return t.train.model === 'fused' ? r.threads : 1;
  };
  if (isSweep && parallel > 1 && !opts.trial && pending.length > 1) {
    try {
      await runWorkers(ctx, pending, parallel, parentRunId, log, { resume: !!opts.resume });
    } catch (e) {
      failed = e;
    }
    pending.length = 0; // the workers trained them; below only collects their results
  }
  try {
    for (const [i, trial] of trials.entries()) {
      const id = await trialIdentity(trial, fo, code);
      if (!pending.includes(trial)) {
        const m = await isUpToDate(path.join(trainDir, trial.id), stageFingerprint(id));
        if (m) results.push({ manifest: m, upToDate: true, dir: path.join(trainDir, trial.id) });
        continue;
      }
      if (!data) {
        backend = await initBackend(config.train.backend);
        log.info(`train: TF.js backend ${backend}; ${fo.tags.length} tags, vocabulary ${fo.vocabSize}`);
        data = { train: readSplit(fo.trainFile), val: readSplit(fo.valFile), tags: fo.tags, vocabSize: fo.vocabSize };
      }
      const engine = engineOf(trial.train.model, backend);
      const threads = threadsOf(trial);
      const kernel = kernelOf(trial.train.kernel, trial);
      const how = trial.train.model === 'fused' ? `, ${threads} kernel thread${threads > 1 ? 's' : ''} (${kernel})` : '';
      log.info(`train: trial ${i + 1}/${trials.length} ${trial.id} (${trialLabel(trial)}), ${trial.train.model} model on ${engine}${how}`);
      const workDir = path.join(trainDir, `.${trial.id}.work`);
      // --resume continues the checkpoint AND its MLflow run (also when it was killed before its first checkpoint)
      const continues = !!opts.resume
        && (!!resumableCheckpoint(workDir, fingerprints.get(trial.id)!) || !existsSync(path.join(workDir, 'state.json')));
      const resumeRef = continues ? readRunRef(trialRunRefFile(workDir)) : null;
      const run: TrialTracking = await tracking!.startTrial(trial, { backend, engine, threads, kernel }, parentRunId, resumeRef);
      const result = await run.guard(() =>
        runStage({
          id, dir: path.join(trainDir, trial.id), force: true, log,
          build: async (staging) => {
            const t0 = performance.now();
            const outcome = await runTrial({
              trial, data: data!, workDir, resume: !!opts.resume, log, fingerprint: fingerprints.get(trial.id)!, threads, kernel,
              onStart: () => writeRunRef(trialRunRefFile(workDir), run.ref),
              onResume: async (history) => {
                const n = await run.backfill(history);
                if (n) log.info(`train: logged ${n} checkpointed epoch(s) that MLflow run ${run.runId} lacked`);
              },
              onEpoch: (r) => run.logEpoch(r),
              prune: isSweep && config.sweep ? {
                sweep: config.sweep,
                check: async (epoch, value) => shouldPrune(config.sweep!.pruner, config.sweep!.goal, epoch, value, otherHistories(trainDir, fingerprints, trial.id, config.sweep!.metric)),
              } : undefined,
            });
            const modelDir = path.join(staging, 'model');
            await cp(outcome.modelDir, modelDir, { recursive: true });
            // the published model is weights only (last/ also holds the optimizer state for --resume)
            for (const f of ['optimizer.json', 'optimizer.bin']) await rm(path.join(modelDir, f), { force: true });
            // The model folder stands alone for prediction: vocabulary, tags and tokenizer in nerflow.json
            await writeModelMeta(modelDir, modelMetadata(fo, config, trial));
            await writeFileAtomic(path.join(staging, 'history.json'), JSON.stringify(deterministicHistory(outcome.history), null, 2) + '\n');
            await run.finish(outcome, staging);
            await rm(workDir, { recursive: true, force: true });
            const seconds = (performance.now() - t0) / 1000;
            log.info(`train: ${trial.id} ${outcome.status} after ${outcome.history.length} epoch(s) in ${fmtSeconds(seconds)}; best ${config.train.early_stopping.monitor} ${outcome.bestValue?.toFixed(4)} at epoch ${outcome.bestEpoch}`);
            const counts: TrainCounts = { epochs: outcome.history.length, best_epoch: outcome.bestEpoch, best_value: outcome.bestValue, status: outcome.status, overrides: trial.overrides };
            return {
              counts,
              timings_s: { train: seconds, epochs: outcome.history.reduce((s, r) => s + r.epoch_seconds, 0) },
              run: { mlflow_run_id: run.runId, mlflow_parent_run_id: parentRunId ?? null, mlflow_tracking_uri: run.ref.tracking_uri, backend, engine, threads, kernel, epoch_timings: outcome.history.map((r) => ({ epoch: r.epoch, seconds: r.epoch_seconds, tokens_per_s: r.tokens_per_s })) },
            };
          },
        }),
      );
      results.push(result);
    }
  } catch (e) {
    failed = e;
  }
  try {
    if (!opts.trial) {
      const summaries = await summarize(trainDir, all);
      // without a sweep, the one trial is ranked by what early stopping watched
      const objective = config.sweep ?? { metric: config.train.early_stopping.monitor, goal: config.train.early_stopping.goal };
      if (summaries.length) await writeTrialsTable(trainDir, summaries, objective);
      const best = pickBest(summaries, objective);
      if (best) {
        await replaceDirAtomic(path.join(trainDir, 'best'), async (staging) => {
          await cp(path.join(trainDir, best.trial, 'model'), path.join(staging, 'model'), { recursive: true });
          await writeFileAtomic(path.join(staging, 'best.json'), JSON.stringify({ trial: best.trial, overrides: best.overrides, value: best.value }, null, 2) + '\n');
        });
        if (isSweep) log.info(`train: best trial ${best.trial} (${objective.metric} ${best.value.toFixed(4)}) → ${path.relative(process.cwd(), path.join(trainDir, 'best'))}`);
      }
      if (tracking && sweepRun) {
        await tracking.finishSweep(sweepRun, summaries, best, trainDir, failed ? 'FAILED' : 'FINISHED');
        const file: SweepRunFile = { run_id: sweepRun.run.runId, trials: summaries.map((t) => t.trial).sort() };
        await writeFileAtomic(path.join(trainDir, SWEEP_RUN_FILE), JSON.stringify(file, null, 2) + '\n');
        if (!failed) await removeRunRef(sweepRunRefFile(trainDir));
      }
    }
  } finally {
    // whatever happened above, the parent run does not stay RUNNING (end is a no-op once finishSweep ended it)
    await sweepRun?.run.end('FAILED').catch(() => undefined);
    sweepRun?.release();
  }
  if (failed) throw failed;
  return results;
}

/**
 * What a model needs beyond its weights to tag raw text (nerflow.json, packages/nn/src/model-folder.ts):
 * featurize's vocabulary (DuckDB's lower() when lowercase) and tags, max_len, the tokenizer matching
 * the corpus, and the config it was trained with.
 */
export function modelMetadata(fo: FeaturizeOutputs, config: StageContext['config'], trial: Trial) {
  const vocab = JSON.parse(readFileSync(fo.vocabFile, 'utf8'));
  const words: string[] = Array.isArray(vocab) ? vocab : vocab.words;
  return {
    vocab: { lowercase: !!vocab.lowercase, words, padding_id: 0, unknown_id: 1 },
    tags: fo.tags,
    max_len: Number(fo.manifest.counts?.max_len ?? 0),
    tokenizer: { ...TOKENIZER },
    training: { config: config.name, trial: trial.id, overrides: trial.overrides, train: trial.train, featurize: config.featurize, featurize_fingerprint: fo.manifest.fingerprint },
  };
}

/** runs/<name>/train/sweep-run.json: the sweep's parent run and the trials it holds. */
const SWEEP_RUN_FILE = 'sweep-run.json';
interface SweepRunFile {
  run_id: string;
  trials: string[];
}

/** Whether the recorded parent run already holds every finished trial of the sweep. */
async function sweepIsCollected(trainDir: string, trials: Trial[]): Promise<boolean> {
  const recorded = readJsonFile<SweepRunFile>(path.join(trainDir, SWEEP_RUN_FILE));
  if (!recorded) return false;
  const held = new Set(recorded.trials);
  return trials.every((t) => held.has(t.id) || !existsSync(path.join(trainDir, t.id, 'manifest.json')));
}

async function summarize(trainDir: string, trials: Trial[]): Promise<TrialSummary[]> {
  const out: TrialSummary[] = [];
  for (const t of trials) {
    const dir = path.join(trainDir, t.id);
    const manifest = readTrainManifest(dir);
    if (!manifest) continue;
    const run = readTrainRun(dir);
    const history = readHistory(dir);
    out.push({ trial: t.id, label: trialLabel(t), overrides: t.overrides, history, status: manifest.counts.status, seconds: run?.timings_s.train ?? null, mlflowRunId: run?.mlflow_run_id ?? null });
  }
  return out;
}

export function pickBest(s: TrialSummary[], { metric, goal }: Pick<SweepConfig, 'metric' | 'goal'>) {
  let best: { trial: string; overrides: Record<string, unknown>; value: number } | null = null;
  for (const t of s) {
    const v = bestOf(t.history, metric, goal);
    if (v !== null && (!best || isImprovement(goal, v, best.value))) best = { trial: t.trial, overrides: t.overrides, value: v };
  }
  return best;
}

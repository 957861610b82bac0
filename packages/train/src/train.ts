import { existsSync, readFileSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  activeEmbeddings,
  TOKENIZER,
  ValidationError,
  bestOf,
  isImprovement,
  fmtSeconds,
  isUpToDate,
  replaceDirAtomic,
  runStage,
  stageCodeVersion,
  stageDir,
  stageFingerprint,
  usableCores,
  writeFileAtomic,
  HISTORY,
  readHistory,
  readJsonFile,
  readTrainManifest,
  readTrainRun,
  type EpochRecord,
  type HistoryEntry,
  type MetricName,
  type TrainCounts,
  type StageContext,
  type StageIdentity,
  type StageResult,
  type SweepConfig,
} from '@nerflow/core';
import {
  backendFor,
  engineOf,
  readSplit,
  resolveKernel,
  resolveThreads,
  writeModelMeta,
  type KernelVariant,
} from '@nerflow/nn';
import { EmbeddingsCache, embeddingsInput } from './embeddings.js';
import { featurizeOutputs, type FeaturizeOutputs } from './inputs.js';
import { shouldPrune } from './pruner.js';
import { expandTrials, trialLabel, type Trial } from './sweep.js';
import { openTracking, type SweepRun, type TrialTracking } from './tracking.js';
import {
  readRunRef,
  removeRunRef,
  resumableCheckpoint,
  sweepRunRefFile,
  trialRunRefFile,
  writeRunRef,
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
  return h.map(({ epoch, loss, val_loss, val_token_accuracy, val_entity_f1 }) => ({
    epoch,
    loss,
    val_loss,
    val_token_accuracy,
    val_entity_f1,
  }));
}

export async function trialIdentity(
  trial: Trial,
  fo: FeaturizeOutputs,
  code: string,
  root: string,
  configFile: string,
): Promise<StageIdentity> {
  // threads change the speed, never the result (bit-identical): not part of what a trial is; the kernel build
  // changes the last bits: the one that computes is (so a machine with another build trains again)
  const { threads: _threads, kernel, ...rest } = trial.train;
  // a vector file counts by its hash (an input), not its absolute path; switched off (enabled: false) = none
  const emb = activeEmbeddings(rest);
  // (enabled left out: a file switched on fingerprints as it did before the switch existed)
  const { enabled: _enabled, ...fixed } = emb ?? { enabled: true };
  // the char encoder's own keys only (units came with the char BiLSTM: char CNN trials fingerprint as before)
  const { units, filters, width, ...charsRest } = rest.chars;
  const chars = rest.chars.type === 'lstm' ? { ...charsRest, units } : { ...charsRest, filters, width };
  const base = { ...rest, chars, embeddings: emb ? { ...fixed, path: null } : null };
  const train = trial.train.model === 'fused' ? { ...base, kernel: kernelOf(kernel, trial) } : base;
  const inputs = await embeddingsInput(emb, root, configFile);
  return {
    stage: 'train',
    config: { train },
    upstream: { featurize: fo.manifest.fingerprint },
    code_version: code,
    inputs,
  };
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
export function otherHistories(
  trainDir: string,
  fingerprints: Map<string, string>,
  self: string,
  metric: MetricName,
): number[][] {
  const out: number[][] = [];
  for (const [id, fp] of fingerprints) {
    if (id === self) continue;
    for (const [f, h] of [
      [path.join(trainDir, id, 'manifest.json'), path.join(trainDir, id, 'history.json')],
      [path.join(trainDir, `.${id}.work`, 'state.json'), null],
    ] as const) {
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

/** What one `nerflow train` call works on. */
interface TrainPlan {
  ctx: StageContext;
  opts: TrainOptions;
  fo: FeaturizeOutputs;
  trainDir: string;
  code: string;
  /** Every trial of the config, and the ones this call runs (one with --trial). */
  all: Trial[];
  trials: Trial[];
  /** Each trial's expected stage fingerprint (settings, featurize's fingerprint, code). */
  fingerprints: Map<string, string>;
  /** The trials whose outputs are not up to date. */
  pending: Trial[];
  isSweep: boolean;
}

/** The MLflow side: the store, and the sweep's parent run when this process collects the sweep. */
interface TrainRuns {
  tracking: Awaited<ReturnType<typeof openTracking>> | null;
  sweepRun: SweepRun | null;
  parentRunId: string | undefined;
}

/** Step 1: select the trials, fingerprint each, and find those that need training. */
async function planTrials(ctx: StageContext, opts: TrainOptions): Promise<TrainPlan> {
  const { config, log } = ctx;
  const fo = await featurizeOutputs(ctx);
  const all = expandTrials(config);
  const trials = opts.trial ? all.filter((t) => t.id === opts.trial) : all;
  if (opts.trial && !trials.length)
    throw new ValidationError(
      `--trial ${opts.trial}: no such trial in ${config.file}. Its trials: ${all.map((t) => t.id).join(', ')} (\`npx nx show project train\` lists them as targets).`,
    );
  const trainDir = stageDir(ctx.root, config.name, 'train');
  const code = await trainCodeVersion();
  const fingerprints = new Map<string, string>();
  for (const t of all)
    fingerprints.set(t.id, stageFingerprint(await trialIdentity(t, fo, code, ctx.root, config.file)));
  const pending: Trial[] = [];
  for (const t of trials) {
    if (ctx.force || !(await isUpToDate(path.join(trainDir, t.id), fingerprints.get(t.id)!))) pending.push(t);
  }
  if (!pending.length)
    log.info(
      `train: all ${trials.length} trial(s) up to date (${path.relative(process.cwd(), trainDir)}); use --force to retrain.`,
    );
  // up to date here, but is each trial's run in the tracking store configured now?
  const upToDate = trials.filter((t) => !pending.includes(t));
  await warnUntracked(
    ctx,
    upToDate.map((t) => ({ trial: t.id, dir: path.join(trainDir, t.id) })),
  );
  return { ctx, opts, fo, trainDir, code, all, trials, fingerprints, pending, isSweep: all.length > 1 };
}

/**
 * Step 2: open the tracking store when anything is logged. A sweep's parent run is opened by the process
 * that runs the whole sweep (not by one --trial, which attaches to --parent-run when a sweep runner gives
 * one): when any trial trains, or when some trial's run is not under the recorded parent yet (trials
 * trained as separate Nx tasks); see finishSweep.
 */
async function openRuns(p: TrainPlan): Promise<TrainRuns> {
  const wholeSweep = p.isSweep && !p.opts.trial && !p.opts.parentRunId;
  const collect = wholeSweep && (p.pending.length > 0 || !(await sweepIsCollected(p.trainDir, p.all)));
  const tracking = p.pending.length || collect ? await openTracking(p.ctx, p.fo) : null;
  let sweepRun: SweepRun | null = null;
  if (tracking && collect) {
    const refFile = sweepRunRefFile(p.trainDir);
    const started = await tracking.startSweep(p.all, p.opts.resume ? readRunRef(refFile) : null);
    await writeRunRef(refFile, started.ref);
    sweepRun = started;
  }
  return { tracking, sweepRun, parentRunId: sweepRun?.run.runId ?? p.opts.parentRunId };
}

/**
 * The train/val splits, loaded once, when the first trial trains. TF.js is not among them: it loads (backendFor)
 * only for a trial of the tf.layers reference model; the fused model never needs it (~70 MiB of RSS).
 */
function lazyData(p: TrainPlan): () => Promise<{ data: TrialData; vectors: EmbeddingsCache }> {
  let loaded: Promise<{ data: TrialData; vectors: EmbeddingsCache }> | null = null;
  return () =>
    (loaded ??= (async () => {
      p.ctx.log.info(`train: ${p.fo.tags.length} tags, vocabulary ${p.fo.vocabSize}`);
      const { fo } = p;
      const data: TrialData = {
        train: readSplit(fo.trainFile),
        val: readSplit(fo.valFile),
        tags: fo.tags,
        vocabSize: fo.vocabSize,
        charVocabSize: fo.charVocabSize,
      };
      // pre-trained vector files, read once per file for every trial that names one
      const vectors = new EmbeddingsCache(fo.words, data.train, p.ctx.log, p.ctx.root, fo.trainSize);
      return { data, vectors };
    })());
}

/**
 * Kernel threads per trial: the cores left free by the trials that run at once (a --trial worker is one of
 * `parallel`); a trial that asks for more is lowered, with a warning. Non-fused models compute on one.
 */
function trialThreads(p: TrainPlan, parallel: number): (t: Trial) => 1 | 2 {
  const { isSweep, opts, pending } = p;
  const concurrent =
    isSweep && parallel > 1 && (opts.trial || pending.length > 1)
      ? Math.min(parallel, opts.trial ? parallel : pending.length)
      : 1;
  const cores = usableCores();
  return (t) => {
    const r = resolveThreads(t.train.threads, concurrent, cores);
    if (r.capped)
      p.ctx.log.warn(
        `train: train.threads ${t.train.threads} lowered to ${r.threads}: ${concurrent} trial(s) at once on ${cores} core(s) leave ${r.threads} each (set train.threads: auto)`,
      );
    return t.train.model === 'fused' ? r.threads : 1;
  };
}

/** Step 3, one trial: train it into train/<trial>/ under its own MLflow run (checkpoints, pruning, early stopping). */
async function trainTrial(
  p: TrainPlan,
  runs: TrainRuns,
  trial: Trial,
  index: number,
  load: ReturnType<typeof lazyData>,
  threadsOf: (t: Trial) => 1 | 2,
): Promise<StageResult> {
  const { config, log } = p.ctx;
  const { data, vectors } = await load();
  const backend = await backendFor(trial.train.model, config.train.backend);
  const emb = activeEmbeddings(trial.train);
  const pretrained = emb ? await vectors.rows(emb, trial.train.embedding_dim, config.file) : null;
  const trialData: TrialData = pretrained ? { ...data, initialEmbeddings: pretrained.rows } : data;
  if (trial.train.model === 'layers' && trial.train.chars.type === 'lstm') {
    throw new ValidationError(
      `${config.file}: train.chars.type lstm (a char BiLSTM) runs in the fused model only: the layers reference ` +
        'model has no char BiLSTM. Use train.model: fused, or train.chars.type: cnn with the layers model.',
    );
  }
  if (trial.train.model === 'layers' && trial.train.chars.type !== 'none' && backend === 'wasm') {
    throw new ValidationError(
      `${config.file}: train.model layers with train.chars needs train.backend cpu or tensorflow: TF.js's wasm backend ` +
        'has no Conv2DBackpropFilter kernel (the Conv1D gradient). The fused model (train.model: fused) runs char ' +
        'features on any backend.',
    );
  }
  const engine = engineOf(trial.train.model, backend);
  const threads = threadsOf(trial);
  const kernel = kernelOf(trial.train.kernel, trial);
  const how = trial.train.model === 'fused' ? `, ${threads} kernel thread${threads > 1 ? 's' : ''} (${kernel})` : '';
  const of = `${index + 1}/${p.trials.length}`;
  log.info(`train: trial ${of} ${trial.id} (${trialLabel(trial)}), ${trial.train.model} model on ${engine}${how}`);
  const workDir = path.join(p.trainDir, `.${trial.id}.work`);
  const fingerprint = p.fingerprints.get(trial.id)!;
  const sweep = p.isSweep ? config.sweep : null;
  const id = await trialIdentity(trial, p.fo, p.code, p.ctx.root, config.file);
  // --resume continues the checkpoint AND its MLflow run (also when it was killed before its first checkpoint)
  const continues =
    !!p.opts.resume && (!!resumableCheckpoint(workDir, fingerprint) || !existsSync(path.join(workDir, 'state.json')));
  const resumeRef = continues ? readRunRef(trialRunRefFile(workDir)) : null;
  const run: TrialTracking = await runs.tracking!.startTrial(
    trial,
    { backend, engine, threads, kernel },
    runs.parentRunId,
    resumeRef,
  );
  return run.guard(() =>
    runStage({
      id,
      dir: path.join(p.trainDir, trial.id),
      force: true,
      log,
      build: async (staging) => {
        const t0 = performance.now();
        const outcome = await runTrial({
          trial,
          data: trialData,
          workDir,
          resume: !!p.opts.resume,
          log,
          fingerprint,
          threads,
          kernel,
          onStart: () => writeRunRef(trialRunRefFile(workDir), run.ref),
          onResume: async (history) => {
            const n = await run.backfill(history);
            if (n) log.info(`train: logged ${n} checkpointed epoch(s) that MLflow run ${run.runId} lacked`);
          },
          onEpoch: (r) => run.logEpoch(r),
          prune: sweep
            ? {
                sweep,
                check: async (epoch, value) => {
                  const others = otherHistories(p.trainDir, p.fingerprints, trial.id, sweep.metric);
                  return shouldPrune(sweep.pruner, sweep.goal, epoch, value, others);
                },
              }
            : undefined,
        });
        const modelDir = path.join(staging, 'model');
        await cp(outcome.modelDir, modelDir, { recursive: true });
        // the published model is weights only (last/ also holds the optimizer state for --resume)
        for (const f of ['optimizer.json', 'optimizer.bin']) await rm(path.join(modelDir, f), { force: true });
        // The model folder stands alone for prediction: vocabulary, tags and tokenizer in nerflow.json,
        // the character vocabulary (chars.json, a part of nerflow.json) for a char model
        if (trial.train.chars.type !== 'none' && p.fo.charsFile)
          await cp(p.fo.charsFile, path.join(modelDir, 'chars.json'));
        await writeModelMeta(modelDir, modelMetadata(p.fo, p.ctx.config, trial));
        if (pretrained) {
          const r = pretrained.report;
          await run.logMetrics({
            embeddings_coverage_types: r.coverage_types,
            embeddings_coverage_tokens: r.coverage_tokens,
            embeddings_words_in_file: r.words_in_file,
          });
        }
        const history = deterministicHistory(outcome.history);
        await writeFileAtomic(path.join(staging, HISTORY), JSON.stringify(history, null, 2) + '\n');
        await run.finish(outcome, staging);
        await rm(workDir, { recursive: true, force: true });
        const seconds = (performance.now() - t0) / 1000;
        const { monitor } = trial.train.early_stopping;
        const best = `best ${monitor} ${outcome.bestValue?.toFixed(4)} at epoch ${outcome.bestEpoch}`;
        log.info(
          `train: ${trial.id} ${outcome.status} after ${history.length} epoch(s) in ${fmtSeconds(seconds)}; ${best}`,
        );
        const counts: TrainCounts = {
          epochs: history.length,
          best_epoch: outcome.bestEpoch,
          best_value: outcome.bestValue,
          status: outcome.status,
          overrides: trial.overrides,
        };
        return {
          counts: { ...counts, ...(pretrained ? { embeddings: pretrained.report } : {}) },
          timings_s: { train: seconds, epochs: outcome.history.reduce((s, r) => s + r.epoch_seconds, 0) },
          run: {
            mlflow_run_id: run.runId,
            mlflow_parent_run_id: runs.parentRunId ?? null,
            mlflow_tracking_uri: run.ref.tracking_uri,
            backend,
            engine,
            threads,
            kernel,
            epoch_timings: outcome.history.map((r) => ({
              epoch: r.epoch,
              seconds: r.epoch_seconds,
              tokens_per_s: r.tokens_per_s,
            })),
          },
        };
      },
    }),
  );
}

/**
 * Step 3: train the pending trials — in `sweep.parallel` worker processes, or here one after the other —
 * and report every trial's result (up-to-date ones from their manifests). A failure is returned, not
 * thrown, so step 4 still collects what finished.
 */
async function trainTrials(p: TrainPlan, runs: TrainRuns): Promise<{ results: StageResult[]; failed: unknown }> {
  const results: StageResult[] = [];
  let failed: unknown = null;
  let inProcess = p.pending;
  const parallel = p.ctx.config.sweep?.parallel ?? 1;
  const threadsOf = trialThreads(p, parallel);
  if (p.isSweep && parallel > 1 && !p.opts.trial && p.pending.length > 1) {
    const workers = runWorkers(p.ctx, p.pending, parallel, runs.parentRunId, p.ctx.log, { resume: !!p.opts.resume });
    await workers.catch((e) => (failed = e));
    inProcess = []; // the workers trained them; below only collects their results
  }
  const load = lazyData(p);
  try {
    for (const [i, trial] of p.trials.entries()) {
      if (inProcess.includes(trial)) {
        results.push(await trainTrial(p, runs, trial, i, load, threadsOf));
        continue;
      }
      const m = await isUpToDate(path.join(p.trainDir, trial.id), p.fingerprints.get(trial.id)!);
      if (m) results.push({ manifest: m, upToDate: true, dir: path.join(p.trainDir, trial.id) });
    }
  } catch (e) {
    failed = e;
  }
  return { results, failed };
}

/** Step 4: trials.csv and its plot, best/ (the best trial's model), and the sweep's parent run. */
async function collectTrials(p: TrainPlan, runs: TrainRuns, failed: unknown): Promise<void> {
  const { config, log } = p.ctx;
  const summaries = await summarize(p.trainDir, p.all);
  // without a sweep, the one trial is ranked by what early stopping watched
  const { monitor, goal } = config.train.early_stopping;
  const objective = config.sweep ?? { metric: monitor, goal };
  if (summaries.length) await writeTrialsTable(p.trainDir, summaries, objective);
  const best = pickBest(summaries, objective);
  if (best) {
    await replaceDirAtomic(path.join(p.trainDir, 'best'), async (staging) => {
      await cp(path.join(p.trainDir, best.trial, 'model'), path.join(staging, 'model'), { recursive: true });
      const file = { trial: best.trial, overrides: best.overrides, value: best.value };
      await writeFileAtomic(path.join(staging, 'best.json'), JSON.stringify(file, null, 2) + '\n');
    });
    const where = path.relative(process.cwd(), path.join(p.trainDir, 'best'));
    const value = `${objective.metric} ${best.value.toFixed(4)}`;
    if (p.isSweep) log.info(`train: best trial ${best.trial} (${value}) → ${where}`);
  }
  if (runs.tracking && runs.sweepRun) {
    await runs.tracking.finishSweep(runs.sweepRun, summaries, best, p.trainDir, failed ? 'FAILED' : 'FINISHED');
    const file: SweepRunFile = { run_id: runs.sweepRun.run.runId, trials: summaries.map((t) => t.trial).sort() };
    await writeFileAtomic(path.join(p.trainDir, SWEEP_RUN_FILE), JSON.stringify(file, null, 2) + '\n');
    if (!failed) await removeRunRef(sweepRunRefFile(p.trainDir));
  }
}

/** `nerflow train`: every trial of the config (the baseline, or each point of its sweep). */
export async function train(ctx: StageContext, opts: TrainOptions = {}): Promise<StageResult[]> {
  const plan = await planTrials(ctx, opts);
  const runs = await openRuns(plan);
  let trained: { results: StageResult[]; failed: unknown } = { results: [], failed: null };
  try {
    trained = await trainTrials(plan, runs);
    if (!opts.trial) await collectTrials(plan, runs, trained.failed);
  } finally {
    // whatever happened above, the parent run does not stay RUNNING (end is a no-op once finishSweep ended it)
    await runs.sweepRun?.run.end('FAILED').catch(() => undefined);
    runs.sweepRun?.release();
  }
  if (trained.failed) throw trained.failed;
  return trained.results;
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
    tag_scheme: config.featurize.tag_scheme,
    max_len: Number(fo.manifest.counts?.max_len ?? 0),
    tokenizer: { ...TOKENIZER },
    training: {
      config: config.name,
      trial: trial.id,
      overrides: trial.overrides,
      train: trial.train,
      featurize: config.featurize,
      featurize_fingerprint: fo.manifest.fingerprint,
    },
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
    out.push({
      trial: t.id,
      label: trialLabel(t),
      overrides: t.overrides,
      history,
      status: manifest.counts.status,
      seconds: run?.timings_s.train ?? null,
      mlflowRunId: run?.mlflow_run_id ?? null,
    });
  }
  return out;
}

export function pickBest(s: TrialSummary[], { metric, goal }: Pick<SweepConfig, 'metric' | 'goal'>) {
  let best: { trial: string; overrides: Record<string, unknown>; value: number } | null = null;
  for (const t of s) {
    const v = bestOf(t.history, metric, goal);
    if (v === null || (best && !isImprovement(goal, v, best.value))) continue;
    best = { trial: t.trial, overrides: t.overrides, value: v };
  }
  return best;
}

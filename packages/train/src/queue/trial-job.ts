import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  activeEmbeddings,
  bestOf,
  hashValue,
  runStage,
  runsRoot,
  stageDir,
  stageFingerprint,
  usableCores,
  ValidationError,
  writeFileAtomic,
  type EpochRecord,
  type MetricName,
  type StageContext,
} from '@nerflow/core';
import { backendFor, engineOf, readSplit, resolveKernel, resolveThreads, writeModelMeta } from '@nerflow/nn';
import {
  downloadArtifacts,
  flattenParams,
  openStore,
  resumeRun,
  resolveExperimentName,
  startRun,
  type ActiveRun,
  type TrackingStore,
} from '@nerflow/tracking';
import { stringify } from 'yaml';
import { featurizeOutputs } from '../inputs.js';
import { shouldPrune } from '../pruner.js';
import { expandTrials, trialLabel } from '../sweep.js';
import { resolvedConfig } from '../tracking.js';
import { deterministicHistory, modelMetadata, trainCodeVersion, trialIdentity } from '../train.js';
import { EmbeddingsCache } from '../embeddings.js';
import { runTrial } from '../trial.js';
import type { TrialJobData, TrialJobProgress, TrialJobResult } from './identity.js';
import { hangPoint } from './watchdog.js';

/** Tags a queued trial's run carries (besides train's own). */
export const QUEUE_TAGS = {
  job: 'nerflow.queue_job',
  sweep: 'nerflow.queue_sweep',
  fingerprint: 'nerflow.fingerprint',
  worker: 'nerflow.worker',
} as const;

/** Where the checkpoint goes in the run's artifacts: two slots, a pointer uploaded last. */
const CKPT = 'checkpoint';

/** The run of this job from an earlier attempt (killed or failed worker), if any. */
async function earlierRun(store: TrackingStore, experimentId: string, jobId: string) {
  const runs = await store.searchRuns([experimentId], `tags.\`${QUEUE_TAGS.job}\` = '${jobId}'`);
  return runs[0] ?? null;
}

/**
 * Upload the work folder's checkpoint (last/, best/, state.json) into the slot not in use, then point
 * checkpoint/latest.json at it: a worker killed mid-upload leaves the previous checkpoint whole.
 */
export async function uploadCheckpoint(run: ActiveRun, workDir: string, epoch: number): Promise<void> {
  const slot = epoch % 2 ? 'a' : 'b';
  const last = path.join(workDir, 'last');
  const best = path.join(workDir, 'best');
  await run.logArtifact(last, `${CKPT}/${slot}/last`);
  // best/ is often last/ without the optimizer state (the epoch improved): then it is rebuilt on download
  const bestIsLast = await sameWeights(best, last);
  if (!bestIsLast && existsSync(best)) await run.logArtifact(best, `${CKPT}/${slot}/best`);
  await run.logArtifact(path.join(workDir, 'state.json'), `${CKPT}/${slot}`);
  const tmp = path.join(workDir, '.pointer');
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, 'latest.json'), JSON.stringify({ slot, epoch, bestIsLast }) + '\n');
  await run.logArtifact(path.join(tmp, 'latest.json'), CKPT);
}

const OPTIMIZER_FILES = new Set(['optimizer.json', 'optimizer.bin']);

/** Whether every file of best/ is byte-equal to last/'s, and last/ has nothing else but the optimizer state. */
async function sameWeights(best: string, last: string): Promise<boolean> {
  if (!existsSync(best)) return false;
  const b = (await readdir(best)).sort();
  const l = (await readdir(last)).filter((f) => !OPTIMIZER_FILES.has(f)).sort();
  if (b.join('\0') !== l.join('\0')) return false;
  for (const f of b) if (!(await readFile(path.join(best, f))).equals(await readFile(path.join(last, f)))) return false;
  return true;
}

/** Download the run's latest checkpoint into workDir; the epochs it holds (0: none). */
export async function downloadCheckpoint(store: TrackingStore, runId: string, workDir: string): Promise<number> {
  let pointer: { slot: string; epoch: number; bestIsLast?: boolean };
  try {
    pointer = JSON.parse(new TextDecoder().decode(await store.readArtifact(runId, `${CKPT}/latest.json`)));
  } catch {
    return 0; // killed before its first epoch ended
  }
  await rm(workDir, { recursive: true, force: true });
  await downloadArtifacts(store, runId, `${CKPT}/${pointer.slot}`, workDir);
  if (pointer.bestIsLast) {
    // the slot's best/ (if any) is from an earlier epoch: best is last/ without the optimizer state
    await rm(path.join(workDir, 'best'), { recursive: true, force: true });
    await cp(path.join(workDir, 'last'), path.join(workDir, 'best'), {
      recursive: true,
      filter: (f) => !OPTIMIZER_FILES.has(path.basename(f)),
    });
  }
  return pointer.epoch;
}

/**
 * The other trials' per-epoch values of the sweep metric, from the tracking server: every run of this sweep
 * (any worker, any machine) whose fingerprint is one of the current trials'. For the median/halving pruner.
 */
export async function trackedHistories(
  store: TrackingStore,
  experimentId: string,
  sweep: string,
  fingerprints: Set<string>,
  selfRunId: string,
  metric: MetricName,
): Promise<number[][]> {
  const out: number[][] = [];
  for (const r of await store.searchRuns([experimentId], `tags.\`${QUEUE_TAGS.sweep}\` = '${sweep}'`)) {
    if (r.info.run_id === selfRunId || !fingerprints.has(r.data.tags[QUEUE_TAGS.fingerprint])) continue;
    const points = await store.getMetricHistory(r.info.run_id, metric);
    const byStep: number[] = [];
    for (const p of points) byStep[p.step - 1] = p.value;
    out.push(byStep);
  }
  return out;
}

/**
 * Run one queued trial in this checkout (the `nerflow queue-trial` child of a worker): the same MLflow run as
 * an earlier attempt when there was one (resumed from its last uploaded checkpoint, its history continued),
 * the checkpoint and model uploaded after every epoch, pruning against the sweep's other runs on the server.
 * `beat(stage)` tells the worker's watchdog what it is doing (watchdog.ts); epochs and batches beat through
 * ctx.log's progress bars (the CLI wraps it).
 */
export async function runQueuedTrial(
  ctx: StageContext,
  jobId: string,
  data: TrialJobData,
  notify: (p: Omit<TrialJobProgress, 'worker'>) => void,
  worker: string,
  beat: (stage: string) => void = () => undefined,
): Promise<TrialJobResult> {
  const { config, log } = ctx;
  /** A stage begins: the watchdog hears of it; a test may hang here on purpose (NERFLOW_TEST_HANG_AT=point). */
  const stage = async (what: string, point: string) => {
    beat(what);
    await hangPoint(point, config.name);
  };
  const all = expandTrials(config);
  const trial = all.find((t) => t.id === data.trial);
  if (!trial)
    throw new ValidationError(
      `queued trial ${data.trial} is not a trial of ${data.config} in this checkout (its trials: ${all.map((t) => t.id).join(', ')}): update the checkout to the enqueuer's (git pull).`,
    );
  if (hashValue(trial.train) !== data.trainHash)
    throw new ValidationError(
      `queued trial ${data.trial}: ${data.config} in this checkout gives it other train settings than the enqueuer's: update the checkout (git pull).`,
    );
  await stage('reading featurize outputs', 'inputs');
  const fo = await featurizeOutputs(ctx);
  const code = await trainCodeVersion();
  const fingerprints = new Map<string, string>();
  for (const t of all)
    fingerprints.set(t.id, stageFingerprint(await trialIdentity(t, fo, code, ctx.root, config.file)));
  const fingerprint = fingerprints.get(trial.id)!;
  await stage(`tracking: experiment on ${data.trackingUri}`, 'experiment');
  const store = openStore({ uri: data.trackingUri, root: runsRoot(ctx.root), warn: (m) => log.warn(m) });
  const experimentId = await store.getOrCreateExperiment(resolveExperimentName(data.experiment));
  const trainDir = stageDir(ctx.root, config.name, 'train');
  const workDir = path.join(trainDir, `.${trial.id}.work`);

  await stage('starting the backend', 'backend');
  const backend = await backendFor(trial.train.model, trial.train.backend); // 'none' for fused: no TF.js
  const engine = engineOf(trial.train.model, backend);
  await stage('tracking: looking for an earlier attempt (runs/search)', 'earlier-run');
  const earlier = await earlierRun(store, experimentId, jobId);
  let run: ActiveRun;
  let resumedAfter = 0;
  /** Epochs the run already has (an earlier attempt logged them): never logged twice. */
  const logged = new Set<number>();
  if (earlier) {
    await stage(`tracking: reopening MLflow run ${earlier.info.run_id}`, 'resume-run');
    run = await resumeRun(store, earlier.info.run_id); // issue 14's reopen: RUNNING again, nerflow.resumes + 1, owner
    await stage(`tracking: downloading the checkpoint of run ${run.runId}`, 'download-checkpoint');
    resumedAfter = await downloadCheckpoint(store, run.runId, workDir);
    // metrics of epochs whose checkpoint was uploaded but whose log did not happen (killed in between)
    for (const p of await store.getMetricHistory(run.runId, 'loss')) logged.add(p.step);
    if (resumedAfter) {
      const state = JSON.parse(await readFile(path.join(workDir, 'state.json'), 'utf8')) as { history: EpochRecord[] };
      for (const r of state.history) if (!logged.has(r.epoch)) await run.logMetrics({ ...r }, r.epoch);
    }
    await run.setTags({ [QUEUE_TAGS.worker]: worker, [QUEUE_TAGS.fingerprint]: fingerprint });
    log.info(
      `train: ${trial.id}: reopened MLflow run ${run.runId} of an earlier attempt${resumedAfter ? `, resuming after epoch ${resumedAfter} from its checkpoint` : ' (no checkpoint: from epoch 1)'}`,
    );
  } else {
    await stage('tracking: starting the MLflow run (runs/create, log-batch)', 'start-run');
    run = await startRun(store, {
      experiment: data.experiment,
      runName: trial.id === 'main' ? config.name : `${config.name}/${trial.id}`,
      parentRunId: data.parentRunId || undefined,
      description: config.description
        ? `${config.description}${trial.id !== 'main' ? ` — ${trialLabel(trial)}` : ''}`
        : undefined,
      tags: {
        'nerflow.config': config.name,
        'nerflow.trial': trial.id,
        'nerflow.backend': backend,
        'nerflow.engine': engine,
        'nerflow.kind': 'trial',
        'nerflow.trial_label': trialLabel(trial),
        [QUEUE_TAGS.job]: jobId,
        [QUEUE_TAGS.sweep]: data.sweep,
        [QUEUE_TAGS.fingerprint]: fingerprint,
        [QUEUE_TAGS.worker]: worker,
      },
      params: flattenParams(resolvedConfig(ctx, trial)),
    });
    await stage(`tracking: logging the run's inputs (runs/log-inputs, run ${run.runId})`, 'log-inputs');
    await run.logInputs([
      {
        name: `${config.name}/featurize`,
        digest: fo.manifest.fingerprint.slice(0, 16),
        source_type: 'local',
        source: JSON.stringify({ uri: path.relative(ctx.root, fo.dir) }),
        context: 'training',
        profile: JSON.stringify(fo.manifest.counts),
      },
    ]);
  }
  notify({ runId: run.runId, resumedAfter, epochs: trial.train.epochs });
  log.info(
    `train: ${trial.id} (${trialLabel(trial)}), ${trial.train.model} model on ${engine}, MLflow run ${run.runId}`,
  );
  const sweep = config.sweep;
  const trainSplit = readSplit(fo.trainFile);
  await stage('reading the training data', 'data');
  const emb = activeEmbeddings(trial.train);
  const pretrained = emb
    ? await new EmbeddingsCache(fo.words, trainSplit, log, ctx.root, fo.trainSize).rows(
        emb,
        trial.train.embedding_dim,
        config.file,
      )
    : null;
  const data_ = {
    train: trainSplit,
    val: readSplit(fo.valFile),
    tags: fo.tags,
    vocabSize: fo.vocabSize,
    charVocabSize: fo.charVocabSize,
    ...(pretrained ? { initialEmbeddings: pretrained.rows } : {}),
  };
  const t0 = performance.now();
  let result: TrialJobResult | null = null;
  await stage('training', 'train');
  const identity = await trialIdentity(trial, fo, code, ctx.root, config.file);
  await run.guard(() =>
    runStage({
      id: identity,
      dir: path.join(trainDir, trial.id),
      force: true,
      log,
      build: async (staging) => {
        const outcome = await runTrial({
          trial,
          data: data_,
          workDir,
          resume: resumedAfter > 0,
          log,
          fingerprint,
          // one trial per queue-trial process; the worker's NERFLOW_CPUS is this trial's share of the cores
          threads: resolveThreads(trial.train.threads, 1, usableCores()).threads,
          kernel: resolveKernel(trial.train.kernel),
          onEpoch: async (r) => {
            // the last epoch's checkpoint is not uploaded: the model follows at once (a worker killed in
            // between costs that epoch again, whose metrics the run keeps from the first time)
            beat(`tracking: uploading the checkpoint of epoch ${r.epoch}`);
            if (r.epoch < trial.train.epochs) await uploadCheckpoint(run, workDir, r.epoch);
            if (!logged.has(r.epoch)) await run.logMetrics({ ...r }, r.epoch);
            notify({
              runId: run.runId,
              epoch: r.epoch,
              epochs: trial.train.epochs,
              value: r[sweep?.metric ?? 'val_entity_f1'],
            });
          },
          prune:
            all.length > 1 && sweep
              ? {
                  sweep,
                  check: async (epoch, value) => {
                    beat(`tracking: the other trials' histories for the pruner (epoch ${epoch})`);
                    return shouldPrune(
                      sweep.pruner,
                      sweep.goal,
                      epoch,
                      value,
                      sweep.pruner.type === 'none'
                        ? []
                        : await trackedHistories(
                            store,
                            experimentId,
                            data.sweep,
                            new Set(fingerprints.values()),
                            run.runId,
                            sweep.metric,
                          ),
                    );
                  },
                }
              : undefined,
        });
        beat('writing and uploading the model');
        const modelDir = path.join(staging, 'model');
        await cp(outcome.modelDir, modelDir, { recursive: true });
        for (const f of ['optimizer.json', 'optimizer.bin']) await rm(path.join(modelDir, f), { force: true });
        // vocabulary, tags and tokenizer in nerflow.json, as train writes them; chars.json for a char model
        if (trial.train.chars.type !== 'none' && fo.charsFile)
          await cp(fo.charsFile, path.join(modelDir, 'chars.json'));
        await writeModelMeta(modelDir, modelMetadata(fo, config, trial));
        await writeFileAtomic(
          path.join(staging, 'history.json'),
          JSON.stringify(deterministicHistory(outcome.history), null, 2) + '\n',
        );
        await writeFileAtomic(path.join(staging, 'config.yaml'), stringify(resolvedConfig(ctx, trial)));
        await run.setTags({ 'nerflow.status': outcome.status, 'nerflow.best_epoch': String(outcome.bestEpoch) });
        await run.logArtifact(path.join(staging, 'config.yaml'));
        await run.logArtifact(path.join(staging, 'history.json'));
        await run.logArtifact(modelDir, 'model');
        await rm(path.join(staging, 'config.yaml'));
        await rm(workDir, { recursive: true, force: true });
        const seconds = (performance.now() - t0) / 1000;
        const metric = bestOf(outcome.history, sweep?.metric ?? 'val_entity_f1', sweep?.goal ?? 'maximize');
        result = {
          runId: run.runId,
          status: outcome.status,
          epochs: outcome.history.length,
          bestEpoch: outcome.bestEpoch,
          bestValue: outcome.bestValue,
          metric,
          metricName: sweep?.metric ?? 'val_entity_f1',
          seconds,
          worker,
        };
        return {
          counts: {
            epochs: outcome.history.length,
            best_epoch: outcome.bestEpoch,
            best_value: outcome.bestValue,
            status: outcome.status,
            overrides: trial.overrides,
          },
          timings_s: { train: seconds, epochs: outcome.history.reduce((s, r) => s + r.epoch_seconds, 0) },
          run: {
            mlflow_run_id: run.runId,
            mlflow_parent_run_id: data.parentRunId || null,
            backend,
            engine,
            worker: worker,
            host: os.hostname(),
            resumed_after_epoch: resumedAfter,
          },
        };
      },
    }),
  );
  return result!;
}

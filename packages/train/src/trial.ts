import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  activeEmbeddings,
  fmtInt,
  fmtSeconds,
  isImprovement,
  ValidationError,
  writeJsonAtomic,
  type EpochRecord,
  type Logger,
  type SweepConfig,
} from '@nerflow/core';
import { entityF1FromIds } from '@nerflow/metrics';
import {
  allowedTransitions,
  createTagger,
  loadTagger,
  makeBatches,
  type Batch,
  type SplitData,
  type KernelVariant,
  type Tagger,
  type TaggerSpec,
} from '@nerflow/nn';
import type { Trial } from './sweep.js';

export interface TrialData {
  train: SplitData;
  val: SplitData;
  tags: string[];
  vocabSize: number;
  /** Size of featurize's character vocabulary (chars.json); null when its output has no chars column. */
  charVocabSize?: number | null;
  /** Word-embedding rows to start from (pre-trained vectors): id → vector. */
  initialEmbeddings?: Map<number, Float32Array>;
}

export interface TrialRunOptions {
  trial: Trial;
  data: TrialData;
  /** Persistent work folder: checkpoints after every epoch, kept when the run is interrupted. */
  workDir: string;
  resume: boolean;
  log: Logger;
  /** Called after every epoch (MLflow logging). */
  onEpoch?: (r: EpochRecord) => Promise<void>;
  /** Called once the work folder is ready (fresh or resumed): record what must survive with the checkpoint. */
  onStart?: () => Promise<void>;
  /** Called when a checkpoint is resumed, with its epochs so far. */
  onResume?: (history: EpochRecord[]) => Promise<void>;
  /** Sweep pruning: true stops the trial. */
  prune?: { sweep: SweepConfig; check: (epoch: number, value: number) => Promise<boolean> };
  /** Kernel threads (1 or 2; bit-identical results) and build (exact or fma). */
  threads?: 1 | 2;
  kernel?: KernelVariant;
  /** The trial's stage fingerprint: kept in state.json, so a checkpoint is resumed (or compared) only by the same settings and code. */
  fingerprint: string;
}

export interface TrialOutcome {
  history: EpochRecord[];
  bestEpoch: number;
  bestValue: number | null;
  status: 'finished' | 'early_stopped' | 'pruned';
  /** Folder with the best (or last) model as `Tagger.save` writes it (packages/train/README.md). */
  modelDir: string;
}

interface TrainState {
  fingerprint: string;
  epochsDone: number;
  history: EpochRecord[];
  bestEpoch: number;
  bestValue: number | null;
  badEpochs: number;
}

export function taggerSpec(
  trial: Pick<Trial, 'train'>,
  data: Pick<TrialData, 'tags' | 'vocabSize' | 'charVocabSize'>,
): TaggerSpec {
  const t = trial.train;
  if (t.head === 'crf' && t.crf.constrain) {
    try {
      allowedTransitions(data.tags);
    } catch (e) {
      throw new ValidationError(`train.crf.constrain: ${(e as Error).message}`);
    }
  }
  const c = t.chars;
  if (c.type !== 'none' && !data.charVocabSize) {
    throw new ValidationError(
      `train.chars.type is ${c.type}, but the featurize output has no chars column (chars.json): it was written by an older nerflow. Run \`npx nerflow featurize --force\` with this config.`,
    );
  }
  return {
    kind: t.model,
    vocabSize: data.vocabSize,
    numTags: data.tags.length,
    embeddingDim: t.embedding_dim,
    lstmUnits: t.lstm_units,
    dropout: t.dropout,
    recurrentDropout: t.recurrent_dropout,
    ...(t.output_dropout > 0 ? { outputDropout: t.output_dropout } : {}),
    learningRate: t.optimizer.learning_rate,
    adam: { beta1: t.optimizer.beta1, beta2: t.optimizer.beta2, epsilon: t.optimizer.epsilon },
    seed: t.seed,
    head: t.head,
    ...(t.head === 'crf' ? { crf: { constrain: t.crf.constrain, tags: data.tags } } : {}),
    ...(c.type === 'cnn'
      ? { chars: { type: 'cnn', vocabSize: data.charVocabSize!, dim: c.dim, filters: c.filters, width: c.width } }
      : c.type === 'lstm'
        ? { chars: { type: 'lstm', vocabSize: data.charVocabSize!, dim: c.dim, units: c.units } }
        : {}),
    ...(activeEmbeddings(t)?.freeze ? { freezeEmbeddings: true } : {}),
  };
}

/** Real (non-padding) tokens in a batch. */
function realTokens(b: Batch): number {
  let n = 0;
  for (let i = 0; i < b.size; i++) n += b.lengths[i];
  return n;
}

/** Loss, token accuracy and entity F1 on a split, padding never counted. */
export function validate(
  tagger: Tagger,
  split: SplitData,
  tags: string[],
  batchSize: number,
): { loss: number; tokenAccuracy: number; entityF1: number } {
  const batches = makeBatches(split, { batchSize, seed: 0, epoch: 0, shuffle: false, chars: !!tagger.spec.chars });
  let lossSum = 0;
  let tokens = 0;
  let correct = 0;
  const gold: Int32Array[] = [];
  const pred: Int32Array[] = [];
  for (const b of batches) {
    const { loss, predictions } = tagger.evaluateBatch(b);
    const n = realTokens(b);
    lossSum += loss * n;
    tokens += n;
    for (let i = 0; i < b.size; i++) {
      const len = b.lengths[i];
      const g = b.tags.subarray(i * b.steps, i * b.steps + len);
      const p = predictions.subarray(i * b.steps, i * b.steps + len);
      for (let k = 0; k < len; k++) if (g[k] === p[k]) correct++;
      gold.push(g);
      pred.push(p);
    }
  }
  return {
    loss: lossSum / Math.max(1, tokens),
    tokenAccuracy: correct / Math.max(1, tokens),
    entityF1: entityF1FromIds(gold, pred, tags),
  };
}

/** Replace `dir` with a fresh save, written beside it first so a kill mid-write leaves the old one. */
async function saveInto(dir: string, tagger: Tagger, withOptimizer: boolean): Promise<void> {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await tagger.save(tmp, { withOptimizer });
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/** After every epoch: last/ (weights + optimizer state, for --resume), best/ when it improved, then state.json. */
async function saveCheckpoint(workDir: string, tagger: Tagger, state: TrainState, best: boolean): Promise<void> {
  await saveInto(path.join(workDir, 'last'), tagger, true);
  if (best) await saveInto(path.join(workDir, 'best'), tagger, false);
  await writeJsonAtomic(path.join(workDir, 'state.json'), state);
}

/** Train one trial: epochs of bucketed batches, validation, checkpoints, early stopping, pruning. */
export async function runTrial(o: TrialRunOptions): Promise<TrialOutcome> {
  const cfg = o.trial.train;
  const spec = taggerSpec(o.trial, o.data);
  await mkdir(o.workDir, { recursive: true });
  let state: TrainState = {
    fingerprint: o.fingerprint,
    epochsDone: 0,
    history: [],
    bestEpoch: 0,
    bestValue: null,
    badEpochs: 0,
  };
  let tagger: Tagger;
  const stateFile = path.join(o.workDir, 'state.json');
  const saved: Partial<TrainState> | null =
    o.resume && existsSync(stateFile) && existsSync(path.join(o.workDir, 'last'))
      ? JSON.parse(await readFile(stateFile, 'utf8'))
      : null;
  if (saved && saved.fingerprint !== o.fingerprint) {
    o.log.warn(
      `train: not resuming ${o.trial.id}: its checkpoint was made with other settings or code (the train config or nerflow changed since); training it from the start`,
    );
  }
  if (saved && saved.fingerprint === o.fingerprint) {
    state = saved as TrainState;
    tagger = await loadTagger(path.join(o.workDir, 'last'), {
      withOptimizer: true,
      threads: o.threads,
      kernel: o.kernel,
    });
    o.log.info(`train: resuming ${o.trial.id} after epoch ${state.epochsDone}`);
  } else {
    await rm(o.workDir, { recursive: true, force: true });
    await mkdir(o.workDir, { recursive: true });
    tagger = createTagger(spec, { threads: o.threads, kernel: o.kernel });
    if (o.data.initialEmbeddings?.size) tagger.setEmbeddingRows(o.data.initialEmbeddings);
  }
  let status: TrialOutcome['status'] = 'finished';
  try {
    await o.onStart?.();
    if (saved && saved.fingerprint === o.fingerprint) await o.onResume?.(state.history);
    for (let epoch = state.epochsDone + 1; epoch <= cfg.epochs; epoch++) {
      let batches = makeBatches(o.data.train, {
        batchSize: cfg.batch_size,
        seed: cfg.seed,
        epoch,
        shuffle: true,
        chars: !!spec.chars,
      });
      if (cfg.max_batches_per_epoch) batches = batches.slice(0, cfg.max_batches_per_epoch);
      const bar = o.log.progress(`epoch ${epoch}/${cfg.epochs}`, batches.length, 'batches');
      const t0 = performance.now();
      let lossSum = 0;
      let tokens = 0;
      for (let i = 0; i < batches.length; i++) {
        const n = realTokens(batches[i]);
        lossSum += tagger.trainBatch(batches[i]) * n;
        tokens += n;
        const el = (performance.now() - t0) / 1000;
        bar.update(i + 1, `loss ${(lossSum / tokens).toFixed(4)} ${fmtInt(Math.round(tokens / el))} tok/s`);
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      const v = validate(tagger, o.data.val, o.data.tags, cfg.val_batch_size);
      const record: EpochRecord = {
        epoch,
        loss: lossSum / Math.max(1, tokens),
        val_loss: v.loss,
        val_token_accuracy: v.tokenAccuracy,
        val_entity_f1: v.entityF1,
        epoch_seconds: trainSeconds,
        tokens_per_s: tokens / trainSeconds,
      };
      bar.finish(
        `loss ${record.loss.toFixed(4)} val_loss ${v.loss.toFixed(4)} val_acc ${v.tokenAccuracy.toFixed(4)} val_entity_f1 ${v.entityF1.toFixed(4)} (${fmtSeconds(trainSeconds)}, ${fmtInt(Math.round(record.tokens_per_s))} tok/s)`,
      );
      state.history.push(record);
      state.epochsDone = epoch;
      const monitor = cfg.early_stopping.monitor;
      const improved = isImprovement(cfg.early_stopping.goal, record[monitor], state.bestValue);
      if (improved) {
        state.bestValue = record[monitor];
        state.bestEpoch = epoch;
        state.badEpochs = 0;
      } else state.badEpochs++;
      await saveCheckpoint(o.workDir, tagger, state, improved);
      await o.onEpoch?.(record);
      const metric = o.prune?.sweep.metric;
      if (o.prune && metric && (await o.prune.check(epoch, record[metric]))) {
        status = 'pruned';
        o.log.info(
          `train: ${o.trial.id} pruned after epoch ${epoch} (${metric} ${record[metric].toFixed(4)} is worse than the other trials)`,
        );
        break;
      }
      if (state.badEpochs > cfg.early_stopping.patience) {
        status = 'early_stopped';
        o.log.info(
          `train: early stop after epoch ${epoch}: ${monitor} did not improve for ${state.badEpochs} epochs (best ${state.bestValue?.toFixed(4)} at epoch ${state.bestEpoch})`,
        );
        break;
      }
    }
  } finally {
    tagger.dispose();
  }
  const modelDir = path.join(
    o.workDir,
    cfg.early_stopping.restore_best && existsSync(path.join(o.workDir, 'best')) ? 'best' : 'last',
  );
  return { history: state.history, bestEpoch: state.bestEpoch, bestValue: state.bestValue, status, modelDir };
}

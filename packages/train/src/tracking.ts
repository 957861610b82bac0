import path from 'node:path';
import { stringify } from 'yaml';
import { relativeData, runsRoot, writeFileAtomic, type EpochRecord, type StageContext } from '@nerflow/core';
import {
  endDeadRuns,
  flattenParams,
  guardRun,
  openStore,
  resolveExperimentName,
  resumeRun,
  RunNotResumableError,
  startRun,
  STATUS_TAG,
  type ActiveRun,
  type TrackingStore,
} from '@nerflow/tracking';
import type { FeaturizeOutputs } from './inputs.js';
import { trialLabel, type Trial } from './sweep.js';
import type { TrialOutcome } from './trial.js';
import type { TrialSummary } from './trials-table.js';
import type { RunRef } from './run-ref.js';

/** A sweep's parent run while the sweep runs: guarded against signals until release(). */
export interface SweepRun {
  run: ActiveRun;
  release: () => void;
}

export interface TrialTracking {
  runId: string;
  /** Where this run lives, for the checkpoint (so --resume reopens it). */
  ref: RunRef;
  /** After a resume: log the checkpoint's epochs the run's history lacks (killed between checkpoint and logging). */
  backfill(history: EpochRecord[]): Promise<number>;
  logEpoch(r: EpochRecord): Promise<void>;
  /** Metrics that describe the whole trial (step 0), e.g. the pre-trained vectors' coverage. */
  logMetrics(m: Record<string, number>): Promise<void>;
  finish(outcome: TrialOutcome, stagingDir: string): Promise<void>;
  /** Run the body; a throw ends the run FAILED, a signal KILLED. */
  guard<T>(body: () => Promise<T>): Promise<T>;
}

/** The resolved config as the run's params and config.yaml, with the trial's train section. */
export function resolvedConfig(ctx: StageContext, trial?: Trial) {
  const { file: _f, files: _fs, overrides: _o, ...c } = ctx.config;
  return { ...c, data: relativeData(c.data, ctx.root), ...(trial ? { train: trial.train } : {}) };
}

/** The --set overrides in force, as the run's description shows them ('' without any). */
function overridesNote(ctx: StageContext): string {
  return ctx.config.overrides.length ? `overrides: ${ctx.config.overrides.map((o) => `--set ${o}`).join(' ')}` : '';
}

/**
 * The run's description (mlflow.note.content): the config's description, the trial, and the --set
 * overrides in force, so the UI shows how this run differs from the config file.
 */
export function runDescription(ctx: StageContext, trial?: Trial): string | undefined {
  const parts = [ctx.config.description, trial && trial.id !== 'main' ? trialLabel(trial) : ''].filter(Boolean);
  const sets = overridesNote(ctx);
  const text = [parts.join(' — '), sets].filter(Boolean).join('\n\n');
  return text || undefined;
}

export async function openTracking(ctx: StageContext, fo: FeaturizeOutputs) {
  const store: TrackingStore = openStore({ uri: ctx.config.tracking.uri, root: runsRoot(ctx.root) });
  const experiment = ctx.config.tracking.experiment;
  // runs of this experiment whose process died (kill -9, power cut, OOM) are ended KILLED, saying so
  const exp = await store.getExperimentByName(resolveExperimentName(experiment));
  if (exp) await endDeadRuns(store, { experimentIds: [exp.experiment_id], log: ctx.log });
  /** Reopen a recorded run if it is in this store and not deleted; null (with the reason logged) otherwise. */
  const reopen = async (
    ref: RunRef | null | undefined,
    what: string,
    tags: Record<string, string>,
  ): Promise<ActiveRun | null> => {
    if (!ref) return null;
    if (ref.tracking_uri !== store.uri) {
      ctx.log.warn(
        `train: ${what}'s MLflow run ${ref.run_id} was logged to ${ref.tracking_uri}, the tracking store is now ` +
          `${store.uri}: starting a new run there`,
      );
      return null;
    }
    try {
      const run = await resumeRun(store, ref.run_id, { tags });
      ctx.log.info(`train: ${what} continues MLflow run ${ref.run_id}`);
      return run;
    } catch (e) {
      if (!(e instanceof RunNotResumableError)) throw e;
      ctx.log.warn(`train: ${e.message}; starting a new run for ${what}`);
      return null;
    }
  };
  const refOf = (run: ActiveRun, parent: string | null): RunRef => ({
    run_id: run.runId,
    experiment_id: run.experimentId,
    tracking_uri: store.uri,
    parent_run_id: parent,
  });
  const dataset = {
    name: `${ctx.config.name}/featurize`,
    digest: fo.manifest.fingerprint.slice(0, 16),
    source_type: 'local',
    source: JSON.stringify({ uri: path.relative(ctx.root, fo.dir) }),
    context: 'training' as const,
    profile: JSON.stringify(fo.manifest.counts),
  };
  const configYaml = async (dir: string, trial?: Trial) => {
    const file = path.join(dir, 'config.yaml');
    await writeFileAtomic(file, stringify(resolvedConfig(ctx, trial)));
    return file;
  };
  return {
    store,
    /** The sweep's parent run, guarded from here on (a signal ends it KILLED); release() when done. */
    /** resume: the parent run recorded by an interrupted sweep, reopened when it is in this store. */
    async startSweep(trials: Trial[], resume?: RunRef | null): Promise<SweepRun & { ref: RunRef }> {
      const sets = overridesNote(ctx) ? `\n\n${overridesNote(ctx)}` : '';
      const over = Object.keys(ctx.config.sweep?.params ?? {}).join(', ');
      const run =
        (await reopen(resume, 'the sweep', { [STATUS_TAG]: 'running' })) ??
        (await startRun(store, {
          experiment,
          runName: `${ctx.config.name}-sweep`,
          description: `Sweep of ${ctx.config.name}: ${trials.length} trials (${ctx.config.sweep?.method}) over ${over}${sets}`,
          tags: { 'nerflow.config': ctx.config.name, 'nerflow.kind': 'sweep', [STATUS_TAG]: 'running' },
          params: flattenParams({ sweep: ctx.config.sweep }),
        }));
      return { run, release: guardRun(run), ref: refOf(run, null) };
    },
    /** backend: the TF.js backend loaded; engine: what computes this trial's model (engineOf). */
    /**
     * The trial's run: the recorded one reopened when `resume` names it (the checkpoint continues), else
     * a new one. Its parent link follows parentRunId either way.
     */
    async startTrial(
      trial: Trial,
      compute: { backend: string; engine: string; threads?: number; kernel?: string },
      parentRunId?: string,
      resume?: RunRef | null,
    ): Promise<TrialTracking> {
      const tags = {
        'nerflow.backend': compute.backend,
        'nerflow.engine': compute.engine,
        [STATUS_TAG]: 'running',
        ...(compute.threads ? { 'nerflow.threads': String(compute.threads) } : {}),
        ...(compute.kernel ? { 'nerflow.kernel': compute.kernel } : {}),
        ...(parentRunId ? { 'mlflow.parentRunId': parentRunId } : {}),
      };
      let run = await reopen(resume, `trial ${trial.id}`, tags);
      if (!run) {
        run = await startRun(store, {
          experiment,
          runName: trial.id === 'main' ? ctx.config.name : `${ctx.config.name}/${trial.id}`,
          parentRunId,
          description: runDescription(ctx, trial),
          tags: {
            'nerflow.config': ctx.config.name,
            'nerflow.trial': trial.id,
            'nerflow.kind': 'trial',
            'nerflow.trial_label': trialLabel(trial),
            ...tags,
          },
          params: flattenParams(resolvedConfig(ctx, trial)),
        });
        await run.logInputs([dataset]);
      }
      const active = run;
      return {
        runId: active.runId,
        ref: refOf(active, parentRunId ?? null),
        async backfill(history) {
          const logged = new Set((await store.getMetricHistory(active.runId, 'val_entity_f1')).map((p) => p.step));
          const missing = history.filter((r) => !logged.has(r.epoch));
          for (const r of missing) await active.logMetrics({ ...r }, r.epoch);
          return missing.length;
        },
        logEpoch: (r) => active.logMetrics({ ...r }, r.epoch),
        logMetrics: (m) => active.logMetrics(m, 0),
        async finish(outcome, stagingDir) {
          await active.logArtifact(await configYaml(stagingDir, trial));
          await active.logArtifact(path.join(stagingDir, 'history.json'));
          await active.logArtifact(path.join(stagingDir, 'model'), 'model');
          // last, once everything is logged: the outcome (a failure after this ends the run FAILED and
          // sets nerflow.status = failed, so status and tag agree)
          await active.setTags({ [STATUS_TAG]: outcome.status, 'nerflow.best_epoch': String(outcome.bestEpoch) });
        },
        guard: (body) => active.guard(body),
      };
    },
    /**
     * Collect the sweep into its parent run: the best trial's settings and metric, trials.csv and the plot;
     * then every trial's run becomes a child of this parent (mlflow.parentRunId is a tag, so it may change),
     * and parents of earlier runs of this sweep that this one replaces (they held a subset) are deleted as
     * MLflow deletes runs. So the store holds one parent per sweep with every trial under it, however the
     * trials ran: in this process, in workers, as separate Nx tasks, or in an earlier call.
     */
    async finishSweep(
      parent: SweepRun,
      summaries: TrialSummary[],
      best: { trial: string; overrides: Record<string, unknown>; value: number } | null,
      trainDir: string,
      status: 'FINISHED' | 'FAILED',
    ) {
      const { run } = parent;
      if (best) {
        await run.logParams(
          Object.fromEntries(Object.entries(best.overrides).map(([k, v]) => [`best.${k}`, String(v)])),
        );
        await run.setTags({ 'nerflow.best_trial': best.trial });
        await run.logMetrics(
          { [`best_${ctx.config.sweep?.metric ?? 'metric'}`]: best.value, trials: summaries.length },
          0,
        );
      }
      for (const f of ['trials.csv', 'trials.svg', 'trials.png'])
        await run.logArtifact(path.join(trainDir, f)).catch(() => undefined);
      const superseded = new Set<string>();
      for (const t of summaries) {
        if (!t.mlflowRunId) continue;
        const child = await store.getRun(t.mlflowRunId).catch(() => null);
        if (!child) {
          ctx.log.warn(
            `train: trial ${t.trial}'s MLflow run ${t.mlflowRunId} is not in this tracking store (trained elsewhere?); it stays out of the sweep's parent run`,
          );
          continue;
        }
        const old = child.data.tags['mlflow.parentRunId'];
        if (old === run.runId) continue;
        if (old) superseded.add(old);
        await store.logBatch(t.mlflowRunId, { tags: { 'mlflow.parentRunId': run.runId } });
      }
      for (const id of superseded) {
        const old = await store.getRun(id).catch(() => null);
        if (
          old &&
          old.info.lifecycle_stage === 'active' &&
          old.data.tags['nerflow.kind'] === 'sweep' &&
          old.data.tags['nerflow.config'] === ctx.config.name
        ) {
          await store.deleteRun(id);
        }
      }
      if (status === 'FINISHED') await run.setTags({ [STATUS_TAG]: 'finished' });
      await run.end(status);
    },
  };
}

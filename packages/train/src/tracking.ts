import path from 'node:path';
import { stringify } from 'yaml';
import { relativeData, runsRoot, writeFileAtomic, type EpochRecord, type StageContext } from '@nerflow/core';
import { flattenParams, guardRun, openStore, startRun, type ActiveRun, type TrackingStore } from '@nerflow/tracking';
import type { FeaturizeOutputs } from './inputs.js';
import { trialLabel, type Trial } from './sweep.js';
import type { TrialOutcome } from './trial.js';
import type { TrialSummary } from './trials-table.js';

/** A sweep's parent run while the sweep runs: guarded against signals until release(). */
export interface SweepRun {
  run: ActiveRun;
  release: () => void;
}

export interface TrialTracking {
  runId: string;
  logEpoch(r: EpochRecord): Promise<void>;
  finish(outcome: TrialOutcome, stagingDir: string): Promise<void>;
  /** Run the body; a throw ends the run FAILED, a signal KILLED. */
  guard<T>(body: () => Promise<T>): Promise<T>;
}

/** The resolved config as the run's params and config.yaml, with the trial's train section. */
function resolvedConfig(ctx: StageContext, trial?: Trial) {
  const { file: _f, files: _fs, overrides: _o, ...c } = ctx.config;
  return { ...c, data: relativeData(c.data, ctx.root), ...(trial ? { train: trial.train } : {}) };
}

export async function openTracking(ctx: StageContext, fo: FeaturizeOutputs) {
  const store: TrackingStore = openStore({ uri: ctx.config.tracking.uri, root: runsRoot(ctx.root) });
  const experiment = ctx.config.tracking.experiment;
  const dataset = {
    name: `${ctx.config.name}/featurize`, digest: fo.manifest.fingerprint.slice(0, 16), source_type: 'local',
    source: JSON.stringify({ uri: path.relative(ctx.root, fo.dir) }), context: 'training' as const,
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
    async startSweep(trials: Trial[]): Promise<SweepRun> {
      const run = await startRun(store, {
        experiment, runName: `${ctx.config.name}-sweep`,
        description: `Sweep of ${ctx.config.name}: ${trials.length} trials (${ctx.config.sweep?.method}) over ${Object.keys(ctx.config.sweep?.params ?? {}).join(', ')}`,
        tags: { 'nerflow.config': ctx.config.name, 'nerflow.kind': 'sweep' },
        params: flattenParams({ sweep: ctx.config.sweep }),
      });
      return { run, release: guardRun(run) };
    },
    /** backend: the TF.js backend loaded; engine: what computes this trial's model (engineOf). */
    async startTrial(trial: Trial, compute: { backend: string; engine: string }, parentRunId?: string): Promise<TrialTracking> {
      const run: ActiveRun = await startRun(store, {
        experiment, runName: trial.id === 'main' ? ctx.config.name : `${ctx.config.name}/${trial.id}`, parentRunId,
        description: ctx.config.description ? `${ctx.config.description}${trial.id !== 'main' ? ` — ${trialLabel(trial)}` : ''}` : undefined,
        tags: { 'nerflow.config': ctx.config.name, 'nerflow.trial': trial.id, 'nerflow.backend': compute.backend, 'nerflow.engine': compute.engine, 'nerflow.kind': 'trial', 'nerflow.trial_label': trialLabel(trial) },
        params: flattenParams(resolvedConfig(ctx, trial)),
      });
      await run.logInputs([dataset]);
      return {
        runId: run.runId,
        logEpoch: (r) => run.logMetrics({ ...r }, r.epoch),
        async finish(outcome, stagingDir) {
          await run.setTags({ 'nerflow.status': outcome.status, 'nerflow.best_epoch': String(outcome.bestEpoch) });
          await run.logArtifact(await configYaml(stagingDir, trial));
          await run.logArtifact(path.join(stagingDir, 'history.json'));
          await run.logArtifact(path.join(stagingDir, 'model'), 'model');
        },
        guard: (body) => run.guard(body),
      };
    },
    /**
     * Collect the sweep into its parent run: the best trial's settings and metric, trials.csv and the plot;
     * then every trial's run becomes a child of this parent (mlflow.parentRunId is a tag, so it may change),
     * and parents of earlier runs of this sweep that this one replaces (they held a subset) are deleted as
     * MLflow deletes runs. So the store holds one parent per sweep with every trial under it, however the
     * trials ran: in this process, in workers, as separate Nx tasks, or in an earlier call.
     */
    async finishSweep(parent: SweepRun, summaries: TrialSummary[], best: { trial: string; overrides: Record<string, unknown>; value: number } | null, trainDir: string, status: 'FINISHED' | 'FAILED') {
      const { run } = parent;
      if (best) {
        await run.logParams(Object.fromEntries(Object.entries(best.overrides).map(([k, v]) => [`best.${k}`, String(v)])));
        await run.setTags({ 'nerflow.best_trial': best.trial });
        await run.logMetrics({ [`best_${ctx.config.sweep?.metric ?? 'metric'}`]: best.value, trials: summaries.length }, 0);
      }
      for (const f of ['trials.csv', 'trials.svg', 'trials.png']) await run.logArtifact(path.join(trainDir, f)).catch(() => undefined);
      const superseded = new Set<string>();
      for (const t of summaries) {
        if (!t.mlflowRunId) continue;
        const child = await store.getRun(t.mlflowRunId).catch(() => null);
        if (!child) {
          ctx.log.warn(`train: trial ${t.trial}'s MLflow run ${t.mlflowRunId} is not in this tracking store (trained elsewhere?); it stays out of the sweep's parent run`);
          continue;
        }
        const old = child.data.tags['mlflow.parentRunId'];
        if (old === run.runId) continue;
        if (old) superseded.add(old);
        await store.logBatch(t.mlflowRunId, { tags: { 'mlflow.parentRunId': run.runId } });
      }
      for (const id of superseded) {
        const old = await store.getRun(id).catch(() => null);
        if (old && old.info.lifecycle_stage === 'active' && old.data.tags['nerflow.kind'] === 'sweep' && old.data.tags['nerflow.config'] === ctx.config.name) {
          await store.deleteRun(id);
        }
      }
      await run.end(status);
    },
  };
}

import { existsSync } from 'node:fs';
import path from 'node:path';
import { hashValue, runsRoot, type StageContext } from '@nerflow/core';
import {
  endDeadRuns,
  flattenParams,
  locateRun,
  openStore,
  resolveExperimentName,
  startRun,
  type TrackingStore,
} from '@nerflow/tracking';

const FILES = [
  'report.html',
  'report.md',
  'report.json',
  'confusion.png',
  'confusion.svg',
  'confusion.json',
  'predictions.conll',
];
export const EVALUATE_FP_TAG = 'nerflow.evaluate_fingerprint';

/** The tracking store of an evaluate call, with runs of dead processes ended first (once per call). */
export async function openEvaluateStore(ctx: StageContext): Promise<TrackingStore> {
  const store = openStore({ uri: ctx.config.tracking.uri, root: runsRoot(ctx.root) });
  const exp = await store.getExperimentByName(resolveExperimentName(ctx.config.tracking.experiment));
  if (exp) await endDeadRuns(store, { experimentIds: [exp.experiment_id], log: ctx.log });
  return store;
}

/**
 * Log an evaluation to MLflow. Where it goes:
 * - the trial's run, when the evaluate settings are the ones that run's params show (`evaluate.*`,
 *   logged with the resolved config at training): test metrics (a new point per evaluation, so the
 *   latest is shown and the history kept) and the reports under `evaluation/`;
 * - a nested run `<trial run>/evaluate-<fingerprint>` under the trial's run, when they differ (MLflow
 *   never changes a param, so settings that differ get their own run with their own `evaluate.*`
 *   params); re-evaluating with those settings again logs to the same nested run.
 * A trial run that is not in the store (trained offline, MLFLOW_TRACKING_URI set since) is found by its
 * synced copy; without one the evaluation is not logged and the fix is named.
 */
export async function logEvaluation(
  ctx: StageContext,
  store: TrackingStore,
  o: { trial: string; runId: string; metrics: Record<string, number>; staging: string },
): Promise<string | null> {
  const { config, log } = ctx;
  const target = await locateRun(store, o.runId, config.tracking.experiment);
  if (!target) {
    const fix = /^https?:/.test(store.uri)
      ? `\`npx nerflow mlflow sync --to ${store.uri}\` copies the local runs there; then evaluate again with --force`
      : `retrain with \`npx nerflow train --config ${config.name} --force\``;
    log.warn(
      `evaluate: ${o.trial}'s MLflow run ${o.runId} is not in ${store.uri}: this evaluation is written to runs/ but not logged. ${fix}.`,
    );
    return null;
  }
  const params = flattenParams({ evaluate: config.evaluate });
  const run = await store.getRun(target);
  const differs = Object.entries(params).some(([k, v]) => run.data.params[k] !== undefined && run.data.params[k] !== v);
  let logTo = target;
  let nested: Awaited<ReturnType<typeof startRun>> | null = null;
  if (differs) {
    const fp = hashValue(config.evaluate).slice(0, 8);
    const [existing] = await store.searchRuns(
      [run.info.experiment_id],
      `tags.\`mlflow.parentRunId\` = '${target}' AND tags.\`${EVALUATE_FP_TAG}\` = '${fp}'`,
    );
    if (existing) logTo = existing.info.run_id;
    else {
      nested = await startRun(store, {
        experiment: config.tracking.experiment,
        runName: `${run.info.run_name}/evaluate-${fp}`,
        parentRunId: target,
        description: `Evaluation of ${run.info.run_name} with other evaluate settings than it was trained with`,
        tags: {
          'nerflow.config': config.name,
          'nerflow.trial': o.trial,
          'nerflow.kind': 'evaluation',
          [EVALUATE_FP_TAG]: fp,
        },
        params,
      });
      logTo = nested.runId;
    }
    log.info(
      `evaluate: ${o.trial}: settings differ from the ones logged with its training run; logged to the nested run ${logTo}`,
    );
  }
  const now = Date.now();
  await store.logBatch(logTo, {
    metrics: Object.entries(o.metrics).map(([key, value]) => ({ key, value, step: 0, timestamp: now })),
  });
  for (const f of FILES)
    if (existsSync(path.join(o.staging, f))) await store.logArtifact(logTo, path.join(o.staging, f), 'evaluation');
  await nested?.end('FINISHED');
  return logTo;
}

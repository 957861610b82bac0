import { readTrainRun, runsRoot, type StageContext } from '@nerflow/core';
import { locateRun, openStore } from '@nerflow/tracking';

/**
 * Trials that are up to date here but whose MLflow run is not in the tracking store configured now
 * (e.g. trained offline, then MLFLOW_TRACKING_URI set): say so, and name the one command that copies
 * them (`nerflow mlflow sync`, which also carries every later change). Nothing is logged silently:
 * retraining would make a different run, so the user decides.
 */
export async function warnUntracked(ctx: StageContext, trials: { trial: string; dir: string }[]): Promise<void> {
  const recorded = trials.flatMap((t) => {
    const run = readTrainRun(t.dir);
    return run?.mlflow_run_id ? [{ ...t, runId: run.mlflow_run_id, uri: run.mlflow_tracking_uri }] : [];
  });
  if (!recorded.length) return;
  const store = openStore({ uri: ctx.config.tracking.uri, root: runsRoot(ctx.root) });
  const missing = [];
  try {
    for (const r of recorded) if (!(await locateRun(store, r.runId, ctx.config.tracking.experiment))) missing.push(r);
  } catch (e) {
    // nothing needs the store when everything is up to date: an unreachable server is worth a warning only
    ctx.log.warn(`train: could not check that the trials' MLflow runs are in ${store.uri}: ${(e as Error).message}`);
    return;
  }
  if (!missing.length) return;
  const from = missing[0].uri ?? 'another tracking store';
  const fix =
    /^https?:/.test(store.uri) && !/^https?:/.test(from)
      ? `\`npx nerflow mlflow sync --to ${store.uri}\` copies them there (and every later change)`
      : `\`npx nerflow train --config ${ctx.config.name} --force\` logs new runs there`;
  ctx.log.warn(
    `train: ${missing.length} up-to-date trial(s) (${missing.map((m) => m.trial).join(', ')}) have no MLflow run in ${store.uri}: ` +
      `they were logged to ${from}. ${fix}.`,
  );
}

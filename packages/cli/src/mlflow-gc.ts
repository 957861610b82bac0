import { existsSync } from 'node:fs';
import path from 'node:path';
import { createLogger, ExitError, loadConfig, runsRoot, workspaceRoot } from '@nerflow/core';
import { endDeadRuns, openStore } from '@nerflow/tracking';

/**
 * `nerflow mlflow gc [--uri URI] [--other-hosts] [--dry-run]`: end every RUNNING run whose owner
 * process is provably gone (KILLED, with the tag nerflow.ended_by saying why), in the local store or
 * on a tracking server. Runs owned by another host are only ended with --other-hosts.
 */
export async function gcCommand(a: {
  uri?: string;
  config?: string;
  otherHosts?: boolean;
  dryRun?: boolean;
  verbose?: boolean;
}): Promise<void> {
  const root = workspaceRoot();
  const configured = a.config ? loadConfig(a.config, { root }).tracking.uri : undefined;
  const store = openStore({ uri: a.uri ?? configured, root: runsRoot(root) });
  const log = createLogger({ verbose: a.verbose });
  if (store.uri.startsWith('file:') && !a.uri && !configured && !existsSync(path.join(runsRoot(root), 'mlruns'))) {
    throw new ExitError(
      `mlflow gc: no local store at ${path.join(runsRoot(root), 'mlruns')} and no tracking server given (--uri or MLFLOW_TRACKING_URI).`,
    );
  }
  const r = await endDeadRuns(store, { otherHosts: a.otherHosts, dryRun: a.dryRun, log });
  for (const k of r.kept) log.info(`mlflow gc: kept RUNNING ${k.runName} (${k.runId}): ${k.why}`);
  if (a.dryRun) for (const e of r.ended) log.info(`mlflow gc: would end ${e.runName} (${e.runId}): ${e.why}`);
  const others = r.kept.filter((k) => /on host .* not this one/.test(k.why)).length;
  log.info(
    `mlflow gc: ${r.ended.length} dead run(s) ${a.dryRun ? 'would be ' : ''}ended KILLED, ${r.kept.length} RUNNING run(s) kept in ${store.uri}` +
      (others && !a.otherHosts
        ? ` (${others} owned by other hosts: check them there, or pass --other-hosts if those processes are gone)`
        : ''),
  );
}

import { existsSync } from 'node:fs';
import path from 'node:path';
import { createLogger, ExitError, runsRoot, workspaceRoot } from '@nerflow/core';
import { describeSync, plural, syncStore } from '@nerflow/tracking';

/** `nerflow mlflow sync [--to URI] [--from DIR]`: the local file store → a tracking server. */
export async function syncCommand(a: { to?: string; from?: string; verbose?: boolean }): Promise<void> {
  const to = a.to ?? process.env.MLFLOW_TRACKING_URI;
  if (!to || !/^https?:\/\//.test(to)) {
    throw new ExitError(
      `mlflow sync needs a tracking server: pass --to http://host:5000 or set MLFLOW_TRACKING_URI (start one with \`mlflow server --port 5000\`).`,
    );
  }
  const from = path.resolve(a.from ?? path.join(runsRoot(workspaceRoot()), 'mlruns'));
  if (!existsSync(from))
    throw new ExitError(
      `mlflow sync: no local store at ${from}. Train something first (npx nerflow train --config <c>), or name the store with --from.`,
    );
  const log = createLogger({ verbose: a.verbose });
  const s = await syncStore({ from, to, log });
  log.info(`mlflow sync: ${describeSync(s)} → ${to}`);
  // syncStore carried the Model Registry (runs/mlruns/models) too, after the runs its versions point at
  const r = s.registry;
  if (r?.models) {
    log.info(
      `mlflow sync: registry: ${plural(r.models, 'registered model')}, ${plural(r.versionsCreated, 'version')} created, ${r.versionsSkipped} already there` +
        `${r.versionsMissingRun ? `, ${r.versionsMissingRun} without their run on the server` : ''}, ${plural(r.aliasesSet, 'alias', 'aliases')} set` +
        `${r.aliasesKept ? ` (${plural(r.aliasesKept, 'alias', 'aliases')} kept as the server has them)` : ''}`,
    );
  }
}

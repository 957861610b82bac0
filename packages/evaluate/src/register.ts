import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveExperimentName, registerRunModel, type TrackingStore } from '@nerflow/tracking';
import type { Config, Logger } from '@nerflow/core';

/** The registered model name of a config: tracking.registered_model, else nerflow-<experiment>. */
export function registeredModelName(config: Config): string {
  return config.tracking.registered_model ?? `nerflow-${resolveExperimentName(config.tracking.experiment)}`;
}

/**
 * After a trial is scored: log its model (already under the run's `model/` artifacts) as an MLflow model
 * (MLmodel), register a new version, and move `champion` to it only when its test entity F1 beats the
 * current champion's. Says which either way.
 */
export async function registerModel(
  store: TrackingStore,
  o: { runId: string; trial: string; config: Config; modelDir: string; f1: number; log: Logger },
): Promise<void> {
  const name = registeredModelName(o.config);
  const meta = JSON.parse(readFileSync(path.join(o.modelDir, 'nerflow.json'), 'utf8'));
  const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-mlmodel-'));
  const r = await registerRunModel(store, {
    runId: o.runId,
    name,
    artifactPath: 'model',
    metric: o.f1,
    tmpDir: tmp,
    description: `nerflow ${o.config.name}/${o.trial}: BiLSTM NER tagger (TF.js Layers format + nerflow.json)`,
    tags: { 'nerflow.config': o.config.name, 'nerflow.trial': o.trial },
    flavor: {
      loader:
        'nerflow serve --model models:/<name>@<alias> (or nerflow predict); tf.loadLayersModel(model.json) for the layers',
      format: meta.format,
      format_version: meta.format_version,
      nerflow_version: meta.nerflow_version,
      model: 'model.json',
      metadata: 'nerflow.json',
      tokenizer: `${meta.tokenizer?.name}@${meta.tokenizer?.version}`,
    },
  }).finally(() => rmSync(tmp, { recursive: true, force: true }));
  const f1 = o.f1.toFixed(4);
  const prev = r.previous
    ? `version ${r.previous.version}, test entity F1 ${r.previous.metric === null ? '?' : r.previous.metric.toFixed(4)}`
    : 'none yet';
  o.log.info(
    r.champion
      ? `evaluate: registered ${name} version ${r.version.version} (test entity F1 ${f1}) → now @champion (previous champion: ${prev})`
      : `evaluate: registered ${name} version ${r.version.version} (test entity F1 ${f1}); @champion stays at ${prev}, which is not beaten`,
  );
}

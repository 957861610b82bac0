import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { stageDir, ValidationError, type StageContext } from '@nerflow/core';
import { trainedTrials } from './evaluate.js';
import { formatTrialsTable } from './table.js';

/** `nerflow report`: the trials of a config ranked by test entity F1, as a terminal table. */
export function compareTrials(ctx: StageContext): string {
  const trainDir = stageDir(ctx.root, ctx.config.name, 'train');
  const trials = trainedTrials(trainDir);
  if (!trials.length) throw new ValidationError(`${trainDir}: no trained trials. Run \`npx nerflow pipeline --config ${ctx.config.name}\` first.`);
  const rows = trials.map((trial) => {
    const read = (f: string) => (existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null);
    const report = read(path.join(stageDir(ctx.root, ctx.config.name, 'evaluate', trial), 'report.json'));
    const manifest = read(path.join(trainDir, trial, 'manifest.json'));
    const run = read(path.join(trainDir, trial, 'run.json'));
    return {
      trial, entity_f1: report?.entity?.micro?.f1 ?? null, token_macro_f1: report?.token?.macro_f1 ?? null,
      epochs: manifest?.counts?.epochs ?? null, train_seconds: run?.timings_s?.train ?? null,
      status: report ? String(manifest?.counts?.status ?? 'finished') : 'not evaluated',
    };
  });
  return formatTrialsTable(rows);
}

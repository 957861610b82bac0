import path from 'node:path';
import {
  readJsonFile,
  readTrainManifest,
  readTrainRun,
  stageDir,
  ValidationError,
  type StageContext,
} from '@nerflow/core';
import { trainedTrials } from './evaluate.js';
import type { Report } from './report.js';
import { formatTrialsTable } from './table.js';

/** `nerflow report`: the trials of a config ranked by entity F1 on evaluate.split, as a terminal table. */
export function compareTrials(ctx: StageContext): string {
  const trainDir = stageDir(ctx.root, ctx.config.name, 'train');
  const trials = trainedTrials(trainDir);
  if (!trials.length)
    throw new ValidationError(
      `${trainDir}: no trained trials. Run \`npx nerflow pipeline --config ${ctx.config.name}\` first.`,
    );
  const rows = trials.map((trial) => {
    const report = readJsonFile<Report>(
      path.join(stageDir(ctx.root, ctx.config.name, 'evaluate', trial), 'report.json'),
    );
    const manifest = readTrainManifest(path.join(trainDir, trial));
    const run = readTrainRun(path.join(trainDir, trial));
    return {
      trial,
      entity_f1: report?.entity.micro.f1 ?? null,
      token_macro_f1: report?.token.macro_f1 ?? null,
      epochs: manifest?.counts.epochs ?? null,
      train_seconds: run?.timings_s.train ?? null,
      status: report ? (manifest?.counts.status ?? 'finished') : 'not evaluated',
    };
  });
  return formatTrialsTable(rows);
}

import path from 'node:path';
import { METRIC_NAMES, writeFileAtomic, writeJsonAtomic, type EvaluateConfig, type HistoryEntry } from '@nerflow/core';
import { classificationReport, confusionMatrix, convertTags, entityReport, type TagScheme } from '@nerflow/metrics';
import { svgToPng } from '@nerflow/viz';
import { confusionSvg, curvesSvg } from './heatmap.js';
import { reportHtml, reportMarkdown, type Confusion, type Report } from './report.js';

export interface EvaluationInput {
  /** Words of each sentence (row), real tokens only. */
  words: string[][];
  gold: Int32Array[];
  pred: Int32Array[];
  tags: string[];
  /** The ingest sentence id of each row (a chunked sentence has several rows): the report counts sentences. */
  sentenceIds: number[];
  history?: HistoryEntry[];
  /** The resolved config as YAML. */
  config: string;
  trial: string;
  split: EvaluateConfig['split'];
  topConfusions: EvaluateConfig['top_confusions'];
  /** The scheme `tags` are in (featurize.tag_scheme; default iob2) and the one predictions.conll is written in (data.scheme). */
  tagScheme?: TagScheme;
  outputScheme?: TagScheme;
}

/**
 * predictions.conll: `word gold predicted` per token, a blank line between sentences. Whitespace inside a
 * word (the corpus has one no-break space, `5 storm`) would split the line for conlleval, so it is
 * written as `_`. Tags are written in the corpus's own scheme (`to`, data.scheme), converted through their spans
 * from the scheme the model was trained on (`from`).
 */
export function conll(
  words: string[][],
  gold: Int32Array[],
  pred: Int32Array[],
  tags: string[],
  from: TagScheme = 'iob2',
  to: TagScheme = from,
): string {
  const out: string[] = [];
  const asTags = (ids: Int32Array) =>
    convertTags(
      Array.from(ids, (t) => tags[t]),
      from,
      to,
    );
  words.forEach((ws, s) => {
    const g = asTags(gold[s]);
    const p = asTags(pred[s]);
    ws.forEach((w, i) => out.push(`${w.replace(/\s/g, '_') || '_'} ${g[i]} ${p[i]}`));
    out.push('');
  });
  return out.join('\n') + '\n';
}

export function topConfusions(input: EvaluationInput, matrix: number[][], n: number): Confusion[] {
  const pairs: { g: number; p: number; count: number }[] = [];
  matrix.forEach((row, g) =>
    row.forEach((count, p) => {
      if (g !== p && count) pairs.push({ g, p, count });
    }),
  );
  pairs.sort((a, b) => b.count - a.count || a.g - b.g || a.p - b.p);
  return pairs.slice(0, n).map(({ g, p, count }) => {
    const examples: string[] = [];
    for (let s = 0; s < input.gold.length && examples.length < 3; s++) {
      const i = input.gold[s].findIndex((v, k) => v === g && input.pred[s][k] === p);
      if (i >= 0) examples.push(input.words[s].map((w, k) => (k === i ? `[[${w}]]` : w)).join(' '));
    }
    return { gold: input.tags[g], predicted: input.tags[p], count, examples };
  });
}

/**
 * MLflow metric names say which split was scored (evaluate.split): `test_entity_f1` …; for a split whose
 * names would collide with training's per-epoch curves in the same run (`val_entity_f1`), `eval_val_…`.
 */
export function metricPrefix(split: EvaluationInput['split']): string {
  return METRIC_NAMES.some((m) => m.startsWith(`${split}_`)) ? `eval_${split}_` : `${split}_`;
}

/**
 * Score and write everything evaluate produces: report.json (contract), report.md, report.html,
 * confusion.json/.svg/.png, predictions.conll, curves.svg; returns the report and the MLflow metrics.
 */
export async function writeEvaluation(
  dir: string,
  input: EvaluationInput,
): Promise<{ report: Report; metrics: Record<string, number> }> {
  const token = classificationReport(input.gold, input.pred, input.tags);
  const entity = entityReport(input.gold, input.pred, input.tags);
  const { matrix, normalized } = confusionMatrix(input.gold, input.pred, input.tags.length);
  const report: Report = {
    token,
    entity,
    confusion: { labels: input.tags, matrix },
    top_confusions: topConfusions(input, matrix, input.topConfusions),
    trial: input.trial,
    split: input.split,
    sentences: new Set(input.sentenceIds).size,
    rows: input.gold.length,
  };
  const heat = confusionSvg(input.tags, matrix, input.split);
  const curves = input.history?.length ? curvesSvg(input.history) : null;
  await writeJsonAtomic(path.join(dir, 'report.json'), report);
  await writeJsonAtomic(path.join(dir, 'confusion.json'), { labels: input.tags, matrix, normalized });
  await writeFileAtomic(path.join(dir, 'confusion.svg'), heat);
  await writeFileAtomic(path.join(dir, 'confusion.png'), svgToPng(heat, { scale: 1.5 }));
  if (curves) await writeFileAtomic(path.join(dir, 'curves.svg'), curves);
  await writeFileAtomic(
    path.join(dir, 'predictions.conll'),
    conll(input.words, input.gold, input.pred, input.tags, input.tagScheme, input.outputScheme ?? input.tagScheme),
  );
  await writeFileAtomic(path.join(dir, 'report.md'), reportMarkdown(report, input.config, { curves: !!curves }));
  await writeFileAtomic(path.join(dir, 'report.html'), reportHtml(report, { confusion: heat, curves }, input.config));
  const scores: Record<string, number> = {
    entity_f1: entity.micro.f1,
    entity_precision: entity.micro.precision,
    entity_recall: entity.micro.recall,
    entity_macro_f1: entity.macro_f1,
    token_macro_f1: token.macro_f1,
    token_weighted_f1: token.weighted_f1,
    token_accuracy: token.accuracy,
  };
  for (const [type, s] of Object.entries(entity.per_type)) scores[`f1_${type}`] = s.f1;
  const prefix = metricPrefix(input.split);
  const metrics = Object.fromEntries(Object.entries(scores).map(([k, v]) => [prefix + k, v]));
  return { report, metrics };
}

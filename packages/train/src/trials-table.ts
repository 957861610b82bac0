import path from 'node:path';
import { bestOf, writeFileAtomic, type EpochRecord, type SweepConfig } from '@nerflow/core';

export interface TrialSummary {
  trial: string;
  label: string;
  overrides: Record<string, unknown>;
  history: Partial<EpochRecord>[];
  status: string;
  seconds: number | null;
  mlflowRunId: string | null;
}

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** trials.csv (one row per trial, ranked) and trials.svg/png (the metric against each swept parameter). */
export async function writeTrialsTable(
  dir: string,
  trials: TrialSummary[],
  { metric, goal }: Pick<SweepConfig, 'metric' | 'goal'>,
): Promise<void> {
  const params = [...new Set(trials.flatMap((t) => Object.keys(t.overrides)))];
  const rows = trials
    .map((t) => ({ t, best: bestOf(t.history, metric, goal) }))
    .sort(
      (a, b) =>
        (b.best ?? -Infinity) * (goal === 'maximize' ? 1 : -1) - (a.best ?? -Infinity) * (goal === 'maximize' ? 1 : -1),
    );
  const header = ['rank', 'trial', ...params, `best_${metric}`, 'epochs', 'status', 'seconds', 'mlflow_run_id'];
  const lines = [header.join(',')];
  rows.forEach(({ t, best }, i) => {
    lines.push(
      [
        i + 1,
        t.trial,
        ...params.map((p) => t.overrides[p]),
        best?.toFixed(6),
        t.history.length,
        t.status,
        t.seconds?.toFixed(1),
        t.mlflowRunId,
      ]
        .map(csvField)
        .join(','),
    );
  });
  await writeFileAtomic(path.join(dir, 'trials.csv'), lines.join('\n') + '\n');
  if (!params.length) return;
  // one chart per swept parameter: a log axis for positive numbers spanning 10× or more, a linear one for
  // other numbers, categories for anything else (a model name, a boolean)
  const charts = params.map((p) => {
    const values = rows.map(({ t, best }) => ({
      value: t.overrides[p],
      label: String(t.overrides[p]),
      metric: best,
      trial: t.trial,
    }));
    const nums = values.map((v) => v.value).filter((v): v is number => typeof v === 'number');
    const numeric = nums.length === values.length;
    const log = numeric && Math.min(...nums) > 0 && Math.max(...nums) / Math.min(...nums) >= 10;
    return {
      title: p,
      width: 200,
      height: 180,
      data: { values },
      mark: { type: 'point', filled: true, size: 70 },
      encoding: {
        x: numeric
          ? {
              field: 'value',
              type: 'quantitative',
              scale: log ? { type: 'log' } : { zero: false },
              title: log ? 'value (log scale)' : 'value',
            }
          : { field: 'label', type: 'nominal', title: 'value' },
        y: { field: 'metric', type: 'quantitative', scale: { zero: false }, title: metric },
        tooltip: [{ field: 'trial' }, { field: 'label', title: 'value' }, { field: 'metric' }],
      },
    };
  });
  // loaded only here: vega and resvg take ~40 MiB, which a train run without swept keys never needs
  const { svgToPng, vegaLiteToSvg } = await import('@nerflow/viz');
  const svg = await vegaLiteToSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${metric} by swept parameter`,
    hconcat: charts,
  });
  await writeFileAtomic(path.join(dir, 'trials.svg'), svg);
  await writeFileAtomic(path.join(dir, 'trials.png'), svgToPng(svg));
}

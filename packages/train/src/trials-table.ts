import path from 'node:path';
import { writeFileAtomic } from '@nerflow/core';
import { svgToPng, vegaLiteToSvg } from '@nerflow/viz';

export interface TrialSummary {
  trial: string;
  label: string;
  overrides: Record<string, unknown>;
  history: Record<string, number>[];
  status: string;
  seconds: number | null;
  mlflowRunId: string | null;
}

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function bestOf(t: TrialSummary, metric: string, goal: 'maximize' | 'minimize'): number | null {
  const v = t.history.map((r) => r[metric]).filter(Number.isFinite);
  return v.length ? (goal === 'maximize' ? Math.max(...v) : Math.min(...v)) : null;
}

/** trials.csv (one row per trial, ranked) and trials.svg/png (the metric against each swept parameter). */
export async function writeTrialsTable(dir: string, trials: TrialSummary[], metric: string, goal: 'maximize' | 'minimize'): Promise<void> {
  const params = [...new Set(trials.flatMap((t) => Object.keys(t.overrides)))];
  const rows = trials
    .map((t) => ({ t, best: bestOf(t, metric, goal) }))
    .sort((a, b) => (b.best ?? -Infinity) * (goal === 'maximize' ? 1 : -1) - (a.best ?? -Infinity) * (goal === 'maximize' ? 1 : -1));
  const header = ['rank', 'trial', ...params, `best_${metric}`, 'epochs', 'status', 'seconds', 'mlflow_run_id'];
  const lines = [header.join(',')];
  rows.forEach(({ t, best }, i) => {
    lines.push([i + 1, t.trial, ...params.map((p) => t.overrides[p]), best?.toFixed(6), t.history.length, t.status, t.seconds?.toFixed(1), t.mlflowRunId].map(csvField).join(','));
  });
  await writeFileAtomic(path.join(dir, 'trials.csv'), lines.join('\n') + '\n');
  if (!params.length) return;
  const values = rows.flatMap(({ t, best }) => params.map((p) => ({ param: p, value: Number(t.overrides[p]), metric: best, trial: t.trial })));
  const svg = await vegaLiteToSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${metric} by swept parameter`,
    data: { values },
    facet: { column: { field: 'param', type: 'nominal', title: null } },
    spec: {
      width: 200, height: 180,
      mark: { type: 'point', filled: true, size: 70 },
      encoding: {
        x: { field: 'value', type: 'quantitative', scale: { zero: false, type: 'log' }, title: 'value (log scale)' },
        y: { field: 'metric', type: 'quantitative', scale: { zero: false }, title: metric },
        tooltip: [{ field: 'trial' }, { field: 'value' }, { field: 'metric' }],
      },
    },
    resolve: { scale: { x: 'independent' } },
  });
  await writeFileAtomic(path.join(dir, 'trials.svg'), svg);
  await writeFileAtomic(path.join(dir, 'trials.png'), svgToPng(svg));
}

import { escapeXml } from '@nerflow/viz';
import type { EntityReport, LabelScores, TokenReport } from '@nerflow/metrics';

export interface Report {
  token: TokenReport;
  entity: EntityReport;
  confusion: { labels: string[]; matrix: number[][] };
  top_confusions: Confusion[];
  trial: string;
  split: string;
  /** Sentences scored (a long sentence chunked by featurize counts once); `rows` counts the chunks. */
  sentences: number;
  rows: number;
}

export interface Confusion {
  gold: string;
  predicted: string;
  count: number;
  /** Up to 3 example sentences; the confused token is wrapped in [[ ]]. */
  examples: string[];
}

const pct = (v: number) => (100 * v).toFixed(2);
const f4 = (v: number) => v.toFixed(4);

/** A precision / recall / F1 / support table, one row per entity type or tag (the first column's name). */
const prfTable = (what: string, scores: Record<string, LabelScores>) => [
  `| ${what} | precision | recall | F1 | support |`,
  '| --- | ---: | ---: | ---: | ---: |',
  ...Object.entries(scores).map(
    ([t, s]) => `| ${t} | ${f4(s.precision)} | ${f4(s.recall)} | ${f4(s.f1)} | ${s.support} |`,
  ),
];

/** report.md: headline scores, per-type and per-tag tables, the heatmap and training curves (files beside it), top confusions, the config. */
export function reportMarkdown(r: Report, config: string, figures: { curves: boolean } = { curves: false }): string {
  const lines = [
    `# nerflow evaluation — ${r.trial} (${r.split} split, ${r.sentences} sentences)`,
    '',
    '| score | value |',
    '| --- | ---: |',
    `| entity micro F1 (conlleval) | ${f4(r.entity.micro.f1)} |`,
    `| entity precision / recall | ${f4(r.entity.micro.precision)} / ${f4(r.entity.micro.recall)} |`,
    `| entity macro F1 | ${f4(r.entity.macro_f1)} |`,
    `| token macro F1 | ${f4(r.token.macro_f1)} |`,
    `| token weighted F1 | ${f4(r.token.weighted_f1)} |`,
    `| token accuracy (real tokens only, no padding) | ${pct(r.token.accuracy)}% of ${r.token.tokens} |`,
    '',
    '## Entities (exact span and type)',
    '',
    ...prfTable('type', r.entity.per_type),
    '',
    '## Tags (token level)',
    '',
    ...prfTable('tag', r.token.per_tag),
    `| macro avg | ${f4(r.token.macro_avg.precision)} | ${f4(r.token.macro_avg.recall)} | ${f4(r.token.macro_avg.f1)} | ${r.token.tokens} |`,
    `| weighted avg | ${f4(r.token.weighted_avg.precision)} | ${f4(r.token.weighted_avg.recall)} | ${f4(r.token.weighted_avg.f1)} | ${r.token.tokens} |`,
    '',
    '## Confusion matrix',
    '',
    '![Confusion matrix over tags, rows normalised, counts in the cells](confusion.png)',
    '',
    'Also `confusion.svg` (vector) and `confusion.json` (counts and row-normalised).',
    '',
    ...(figures.curves
      ? ['## Training', '', '![Training curves: loss and validation scores per epoch](curves.svg)', '']
      : []),
    '## Most frequent confusions',
    '',
    ...r.top_confusions.flatMap((c) => [
      `- **${c.gold} → ${c.predicted}**: ${c.count}`,
      ...c.examples.map((e) => `  - ${e}`),
    ]),
    '',
    '## Config',
    '',
    '```yaml',
    config.trimEnd(),
    '```',
    '',
  ];
  return lines.join('\n');
}

const css = `body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:2rem auto;max-width:1100px;color:#111;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{padding:.25rem .7rem;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.big{font-size:2rem;font-weight:600}.cards{display:flex;gap:2rem;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:8px;padding:.8rem 1.2rem}pre{background:#f6f6f6;padding:1rem;overflow:auto}
.fig{overflow:auto}mark{background:#fcc}`;

function table(head: string[], rows: (string | number)[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(String(c))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** A self-contained report.html: inline CSS and SVG figures, no network assets. */
export function reportHtml(r: Report, figures: { confusion: string; curves: string | null }, config: string): string {
  const card = (label: string, v: string) =>
    `<div class="card"><div>${escapeXml(label)}</div><div class="big">${v}</div></div>`;
  const stripXml = (svg: string) => svg.replace(/^<\?xml[^>]*>\s*/, '');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>nerflow — ${escapeXml(r.trial)}</title><style>${css}</style></head><body>
<h1>nerflow evaluation — ${escapeXml(r.trial)}</h1>
<p>${escapeXml(r.split)} split, ${r.sentences} sentences, ${r.token.tokens} real tokens (padding never counted). Entities scored with conlleval's rules: a predicted entity counts only if its start, end and type match.</p>
<div class="cards">${card('entity micro F1', f4(r.entity.micro.f1))}${card('token macro F1', f4(r.token.macro_f1))}${card('token accuracy', pct(r.token.accuracy) + '%')}${card('entity P / R', `${f4(r.entity.micro.precision)} / ${f4(r.entity.micro.recall)}`)}</div>
<h2>Entities</h2>${table(
    ['type', 'precision', 'recall', 'F1', 'support'],
    Object.entries(r.entity.per_type).map(([t, s]) => [t, f4(s.precision), f4(s.recall), f4(s.f1), s.support]),
  )}
<h2>Tags</h2>${table(['tag', 'precision', 'recall', 'F1', 'support'], [...Object.entries(r.token.per_tag).map(([t, s]) => [t, f4(s.precision), f4(s.recall), f4(s.f1), s.support]), ['macro avg', f4(r.token.macro_avg.precision), f4(r.token.macro_avg.recall), f4(r.token.macro_avg.f1), r.token.tokens], ['weighted avg', f4(r.token.weighted_avg.precision), f4(r.token.weighted_avg.recall), f4(r.token.weighted_avg.f1), r.token.tokens]])}
<h2>Confusion matrix</h2><div class="fig">${stripXml(figures.confusion)}</div>
<h2>Most frequent confusions</h2><ol>${r.top_confusions.map((c) => `<li><b>${escapeXml(c.gold)} → ${escapeXml(c.predicted)}</b>: ${c.count}<ul>${c.examples.map((e) => `<li>${escapeXml(e).replace(/\[\[(.*?)\]\]/g, '<mark>$1</mark>')}</li>`).join('')}</ul></li>`).join('')}</ol>
${figures.curves ? `<h2>Training</h2><div class="fig">${stripXml(figures.curves)}</div>` : ''}
<h2>Config</h2><pre>${escapeXml(config)}</pre>
</body></html>
`;
}

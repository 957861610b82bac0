import type { HistoryEntry, MetricName } from '@nerflow/core';
import { escapeXml, FONT_FAMILY } from '@nerflow/viz';

/**
 * The confusion matrix as an SVG heatmap: colour = row-normalised share (so rare tags are as visible as
 * O), each cell labelled with its count; rows gold, columns predicted. Readable at 17×17.
 */
export function confusionSvg(labels: string[], matrix: number[][], split: string): string {
  const title = `Confusion matrix (${split}, real tokens only)`;
  const k = labels.length;
  const cell = 46;
  const left = 78;
  const top = 96;
  const width = left + k * cell + 20;
  const height = top + k * cell + 56;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT_FAMILY}">`,
  );
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="${left}" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);
  parts.push(
    `<text x="${left}" y="40" font-size="11" fill="#555">colour: share of the gold row (row-normalised); number: token count</text>`,
  );
  parts.push(
    `<text x="${left + (k * cell) / 2}" y="${top - 44}" font-size="12" text-anchor="middle" font-weight="bold">predicted</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${top + (k * cell) / 2}) rotate(-90)" font-size="12" text-anchor="middle" font-weight="bold">gold</text>`,
  );
  labels.forEach((l, j) =>
    parts.push(
      `<text transform="translate(${left + j * cell + cell / 2 + 4} ${top - 6}) rotate(-55)" font-size="11">${escapeXml(l)}</text>`,
    ),
  );
  for (let i = 0; i < k; i++) {
    const row = matrix[i];
    const total = row.reduce((a, b) => a + b, 0);
    parts.push(
      `<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" font-size="11" text-anchor="end">${escapeXml(labels[i])}</text>`,
    );
    for (let j = 0; j < k; j++) {
      const share = total ? row[j] / total : 0;
      const x = left + j * cell;
      const y = top + i * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${colour(share, i === j)}" stroke="#eee"/>`,
      );
      if (row[j])
        parts.push(
          `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" font-size="${row[j] >= 100000 ? 9 : 10}" text-anchor="middle" fill="${share > 0.55 ? 'white' : '#111'}">${row[j]}</text>`,
        );
    }
  }
  parts.push(
    `<text x="${left}" y="${height - 16}" font-size="10" fill="#555">diagonal (correct) in blue, errors in red; empty cells are 0</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}

/** White → blue on the diagonal, white → red off it; sqrt so small shares still show. */
function colour(share: number, diagonal: boolean): string {
  const s = Math.sqrt(Math.min(1, Math.max(0, share)));
  const [r, g, b] = diagonal ? [33, 102, 172] : [178, 24, 43];
  const mix = (c: number) => Math.round(255 + (c - 255) * s);
  return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
}

/** Training curves (loss and validation scores per epoch) as a small SVG line chart. */
export function curvesSvg(history: HistoryEntry[]): string {
  const series: [MetricName, string, string][] = [
    ['loss', '#b2182b', 'train loss'],
    ['val_loss', '#ef8a62', 'val loss'],
    ['val_entity_f1', '#2166ac', 'val entity F1'],
    ['val_token_accuracy', '#67a9cf', 'val token accuracy'],
  ];
  const w = 560;
  const h = 260;
  const l = 48;
  const t = 30;
  const pw = w - l - 150;
  const ph = h - t - 40;
  const n = history.length;
  const ymax = Math.max(1, ...history.flatMap((r) => series.map(([k]) => r[k] ?? 0)));
  const x = (i: number) => l + (n <= 1 ? pw / 2 : (i / (n - 1)) * pw);
  const y = (v: number) => t + ph - (v / ymax) * ph;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="${FONT_FAMILY}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${l}" y="18" font-size="14" font-weight="bold">Training curves</text>`,
    `<line x1="${l}" y1="${t + ph}" x2="${l + pw}" y2="${t + ph}" stroke="#888"/>`,
    `<line x1="${l}" y1="${t}" x2="${l}" y2="${t + ph}" stroke="#888"/>`,
  ];
  for (const v of [0, ymax / 2, ymax])
    parts.push(`<text x="${l - 6}" y="${y(v) + 4}" font-size="10" text-anchor="end">${v.toFixed(2)}</text>`);
  history.forEach((r, i) =>
    parts.push(`<text x="${x(i)}" y="${t + ph + 14}" font-size="10" text-anchor="middle">${r.epoch ?? i + 1}</text>`),
  );
  parts.push(`<text x="${l + pw / 2}" y="${h - 6}" font-size="11" text-anchor="middle">epoch</text>`);
  series.forEach(([k, c, name], s) => {
    const pts = history
      .map((r, i) => (Number.isFinite(r[k]) ? `${x(i).toFixed(1)},${y(r[k]).toFixed(1)}` : null))
      .filter(Boolean);
    if (pts.length) {
      parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.join(' ')}"/>`);
      for (const p of pts)
        parts.push(`<circle cx="${p!.split(',')[0]}" cy="${p!.split(',')[1]}" r="2.5" fill="${c}"/>`);
    }
    parts.push(
      `<rect x="${l + pw + 16}" y="${t + s * 18}" width="12" height="3" fill="${c}"/><text x="${l + pw + 32}" y="${t + s * 18 + 5}" font-size="11">${name}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

import path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@nerflow/core';
import { svgToPng, vegaLiteToSvg } from '@nerflow/viz';
import type { SplitName } from './split.js';

export interface EdaData {
  lengths: { split: SplitName; length: number; sentences: number }[];
  tags: Record<string, number>;
  /** The same counts per split. */
  tags_by_split?: Record<SplitName, Record<string, number>>;
  entities: { split: SplitName; type: string; count: number }[];
}

async function chart(dir: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const svg = await vegaLiteToSvg({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...spec });
  await writeFileAtomic(path.join(dir, `${name}.svg`), svg);
  await writeFileAtomic(path.join(dir, `${name}.png`), svgToPng(svg, { scale: 2 }));
}

/** eda/lengths, eda/tags, eda/entities as SVG + PNG, and eda.json with the numbers behind them. */
export async function writeEda(dir: string, d: EdaData): Promise<string[]> {
  const edaDir = path.join(dir, 'eda');
  await writeJsonAtomic(path.join(dir, 'eda.json'), d);
  await chart(edaDir, 'lengths', {
    title: 'Sentence length (tokens) by split',
    width: 520,
    height: 220,
    data: { values: d.lengths },
    mark: { type: 'bar', opacity: 0.85 },
    encoding: {
      x: { field: 'length', type: 'quantitative', bin: { step: 4 }, title: 'tokens per sentence' },
      y: { aggregate: 'sum', field: 'sentences', type: 'quantitative', title: 'sentences', stack: true },
      color: { field: 'split', type: 'nominal', sort: ['train', 'val', 'test'] },
    },
  });
  await chart(edaDir, 'tags', {
    title: 'Tag distribution (log scale)',
    width: 520,
    height: 240,
    data: { values: Object.entries(d.tags).map(([tag, count]) => ({ tag, count })) },
    mark: 'bar',
    encoding: {
      x: { field: 'tag', type: 'nominal', sort: '-y', title: null },
      y: { field: 'count', type: 'quantitative', stack: null, scale: { type: 'log' }, title: 'tokens (log)' }, // stack: null — a log scale cannot start bars at 0
      tooltip: [{ field: 'tag' }, { field: 'count' }],
    },
  });
  await chart(edaDir, 'entities', {
    title: 'Entities per type and split',
    width: 160,
    height: 200,
    data: { values: d.entities },
    mark: 'bar',
    encoding: {
      column: { field: 'split', type: 'nominal', sort: ['train', 'val', 'test'], title: null },
      x: { field: 'type', type: 'nominal', title: null },
      y: { field: 'count', type: 'quantitative', stack: null, scale: { type: 'log' }, title: 'entities (log)' },
      color: { field: 'type', type: 'nominal', legend: null },
    },
  });
  return ['lengths', 'tags', 'entities'].flatMap((n) => [`eda/${n}.svg`, `eda/${n}.png`]);
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pngSize, svgToPng } from './png.js';
import { vegaLiteToSvg } from './vega.js';

test('a Vega-Lite bar chart renders to SVG and PNG in Node', async () => {
  const svg = await vegaLiteToSvg({
    data: {
      values: [
        { tag: 'B-geo', n: 37644 },
        { tag: 'I-nat', n: 51 },
      ],
    },
    mark: 'bar',
    encoding: {
      x: { field: 'tag', type: 'nominal' },
      y: { field: 'n', type: 'quantitative', stack: null, scale: { type: 'log' } },
    },
  });
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /B-geo/);
  assert.match(svg, />1,000</, 'the log axis has tick labels (a stacked log bar chart renders an empty axis)');
  assert.doesNotMatch(svg, /NaN/);
  assert.ok(svg.trim().endsWith('</svg>'));
  const size = pngSize(svgToPng(svg));
  assert.ok(size && size.width > 50 && size.height > 50, JSON.stringify(size));
  assert.equal(
    await vegaLiteToSvg({
      data: { values: [{ a: 1 }] },
      mark: 'point',
      encoding: { x: { field: 'a', type: 'quantitative' } },
    }),
    await vegaLiteToSvg({
      data: { values: [{ a: 1 }] },
      mark: 'point',
      encoding: { x: { field: 'a', type: 'quantitative' } },
    }),
    'deterministic',
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pngSize, svgToPng } from './png.js';

test('svgToPng renders text with the bundled font at the SVG size (or scaled)', () => {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="4" y="28" font-size="20">B-geo</text></svg>';
  const png = svgToPng(svg);
  assert.deepEqual(pngSize(png), { width: 120, height: 40 });
  assert.deepEqual(pngSize(svgToPng(svg, { scale: 2 })), { width: 240, height: 80 });
  // text drew something: a blank render compresses to far fewer bytes
  const blank = svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"></svg>');
  assert.ok(png.length > blank.length + 100, `${png.length} vs ${blank.length}`);
});

test('pngSize rejects bytes that are not a PNG', () => {
  assert.equal(pngSize(Buffer.from('not a png at all, really not')), null);
});

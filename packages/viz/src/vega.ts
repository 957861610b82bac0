import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { FONT_FAMILY } from './png.js';

/**
 * Render a Vega-Lite spec to an SVG string in Node (Vega's headless View, no browser, no canvas).
 * The font is set to the bundled one so the PNG made from it (svgToPng) matches.
 */
export async function vegaLiteToSvg(spec: TopLevelSpec | Record<string, unknown>): Promise<string> {
  const withFont = {
    ...spec,
    config: { font: FONT_FAMILY, background: 'white', ...((spec as { config?: object }).config ?? {}) },
  } as TopLevelSpec;
  const runtime = vega.parse(compile(withFont).spec);
  const view = new vega.View(runtime, { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

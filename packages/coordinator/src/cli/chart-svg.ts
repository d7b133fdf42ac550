/**
 * vega-lite specs to SVG text with vega's own SVG renderer (no browser, no canvas: vega estimates
 * text widths). Shared by the scaling charts (bench/charts.ts) and the learning curves (plot.ts).
 * vega and vega-lite are imported on first use, so commands that draw nothing never load them.
 */
import type { TopLevelSpec } from 'vega-lite';

/** One font family everywhere: vega measures text with it, and any browser has it. */
export const CHART_FONT = { font: 'sans-serif', labelFont: 'sans-serif', titleFont: 'sans-serif' } as const;

/** vega-lite -> vega -> SVG text, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [{ compile }, { parse, View }] = await Promise.all([import('vega-lite'), import('vega')]);
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

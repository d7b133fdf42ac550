/**
 * The scaling charts, as vega-lite specs rendered to SVG by chart-svg.ts (vega's own SVG renderer).
 * Loaded lazily by scale.ts, so the other commands never pay for vega. Marks are named (`measured`,
 * `ideal`, `phases`, ...) so that a test can count them in the SVG (vega writes the name into each
 * mark group's class).
 */
import type { TopLevelSpec } from 'vega-lite';
import { CHART_FONT } from '../cli/chart-svg.js';
import type { MachineInfo } from './machine.js';
import type { ScaleRun } from './scale.js';

/** Legend labels of the step phases, in stacking order (bottom first). */
export const PHASE_LABELS = {
  grad: 'gradient compute',
  update: 'reduce + optimizer',
  coord: 'coordination / wait',
  data: 'batch gather',
} as const;

export function seriesName(run: Pick<ScaleRun, 'mode' | 'batchSize' | 'workers'>, weakPerWorker: number): string {
  return run.mode === 'strong' ? `strong, global batch ${run.batchSize}` : `weak, ${weakPerWorker} per worker`;
}

/** Series in the order they were run (strong batches as given, then weak), not alphabetical. */
function seriesOrder(runs: ScaleRun[], weakPerWorker: number): string[] {
  return [...new Set(runs.map((r) => seriesName(r, weakPerWorker)))];
}

/** Samples/s against W per series, with each series' ideal (W x its own W=1 rate) dashed. */
export function throughputSpec(runs: ScaleRun[], weakPerWorker: number, machine: MachineInfo, backend: string): TopLevelSpec {
  const base = new Map<string, number>();
  for (const r of runs) if (r.workers === 1) base.set(seriesName(r, weakPerWorker), r.samplesPerSec);
  const values = runs.map((r) => {
    const series = seriesName(r, weakPerWorker);
    return { series, workers: r.workers, samplesPerSec: r.samplesPerSec, ideal: r.workers * (base.get(series) ?? NaN), speedup: r.speedup };
  });
  const maxW = Math.max(...runs.map((r) => r.workers));
  const x = {
    field: 'workers',
    type: 'quantitative' as const,
    title: 'workers (W)',
    scale: { domain: [1, Math.max(maxW, 2)] },
    axis: { tickMinStep: 1, format: 'd' },
  };
  const color = { field: 'series', type: 'nominal' as const, title: null, sort: seriesOrder(runs, weakPerWorker), legend: { labelLimit: 400 } };
  return {
    title: {
      anchor: 'start',
      text: 'threadfit throughput vs workers',
      subtitle: `${backend}; ${machine.cpus} cpus (${machine.cpuModel}); dashed: ideal linear scaling from W=1`,
    },
    config: { ...CHART_FONT, view: { stroke: null } },
    width: 420,
    height: 280,
    data: { values },
    layer: [
      { name: 'ideal', mark: { type: 'line', strokeDash: [5, 4], opacity: 0.6 }, encoding: { x, y: { field: 'ideal', type: 'quantitative' }, color } },
      { name: 'measured', mark: { type: 'line' }, encoding: { x, y: { field: 'samplesPerSec', type: 'quantitative', title: 'samples/s' }, color } },
      {
        name: 'points',
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x,
          y: { field: 'samplesPerSec', type: 'quantitative' },
          color,
          tooltip: [{ field: 'series' }, { field: 'workers' }, { field: 'samplesPerSec' }, { field: 'speedup' }],
        },
      },
      // Past the core count, workers share cores: the ideal line no longer applies there.
      {
        name: 'cores',
        data: { values: [{ cores: machine.cpus }] },
        mark: { type: 'rule', strokeDash: [2, 2], color: '#888' },
        encoding: { x: { field: 'cores', type: 'quantitative' } },
      },
      {
        name: 'cores_label',
        data: { values: [{ cores: machine.cpus, text: `${machine.cpus} cores` }] },
        mark: { type: 'text', align: 'right', baseline: 'top', dx: -4, dy: 4, color: '#666' },
        encoding: { x: { field: 'cores', type: 'quantitative' }, y: { value: 0 }, text: { field: 'text' } },
      },
    ],
  } as TopLevelSpec;
}

/** Mean ms per step split into its phases, stacked, one panel per series. */
export function breakdownSpec(runs: ScaleRun[], weakPerWorker: number, machine: MachineInfo, backend: string): TopLevelSpec {
  const phases = Object.keys(PHASE_LABELS) as Array<keyof typeof PHASE_LABELS>;
  const values = runs.flatMap((r) =>
    phases.map((p, order) => ({ series: seriesName(r, weakPerWorker), workers: r.workers, phase: PHASE_LABELS[p], order, ms: r.stepMs[p] })),
  );
  return {
    title: { anchor: 'start', text: 'threadfit step time by phase', subtitle: `${backend}; ${machine.cpus} cpus (${machine.cpuModel}); mean ms per step` },
    config: { ...CHART_FONT, view: { stroke: null } },
    data: { values },
    facet: { column: { field: 'series', type: 'nominal', title: null, sort: seriesOrder(runs, weakPerWorker) } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      name: 'phases',
      width: 180,
      height: 240,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'workers', type: 'ordinal', title: 'workers (W)', axis: { labelAngle: 0 } },
        y: { field: 'ms', type: 'quantitative', stack: 'zero', title: 'ms per step' },
        color: { field: 'phase', type: 'nominal', title: 'phase', sort: phases.map((p) => PHASE_LABELS[p]), legend: { labelLimit: 400 } },
        order: { field: 'order', type: 'quantitative' },
        tooltip: [{ field: 'series' }, { field: 'workers' }, { field: 'phase' }, { field: 'ms', format: '.3f' }],
      },
    },
  } as TopLevelSpec;
}

export { renderSvg } from '../cli/chart-svg.js';

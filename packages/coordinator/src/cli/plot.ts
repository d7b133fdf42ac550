/**
 * Learning curves of a training run (`threadfit plot`, `threadfit train --plot`): the loss and each
 * metric per epoch, train and validation, one panel per quantity, as a vega-lite spec rendered to
 * SVG by the same renderer as the scaling charts (chart-svg.ts).
 *
 * Any History keys work: `x` and `val_x` share the panel `x`; `loss` comes first, the others in
 * the report's order. Marks are named `curve_<metric>` and `points_<metric>` so that a test can
 * find them in the SVG (vega writes the name into each mark group's class).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { TopLevelSpec } from 'vega-lite';
import { badData } from '@threadfit/shared';
import { CHART_FONT, renderSvg } from './chart-svg.js';
import type { TrainReport } from './report.js';

/** Per-epoch values by History key (as `model.fit` names them); JSON turns a NaN or an Infinity into null. */
export type EpochHistory = Record<string, Array<number | null>>;

/** What a plot needs from a report: the history; config and test only fill the subtitle. */
export type PlottableReport = { history: EpochHistory } & Partial<Pick<TrainReport, 'config' | 'test'>>;

/** The two series of every panel, and their colours (the first two of vega's default tableau10). */
export const CURVE_SPLITS = { train: '#4c78a8', validation: '#f58518' } as const;

/** Panel titles for Keras' short metric names; any other key is shown as it is. */
const METRIC_TITLES: Record<string, string> = {
  acc: 'accuracy',
  mse: 'mean squared error',
  mae: 'mean absolute error',
  mape: 'mean absolute percentage error',
  msle: 'mean squared logarithmic error',
};

export const metricOf = (key: string): string => (key.startsWith('val_') ? key.slice(4) : key);

/** A History key made safe as a vega mark name (the class of its SVG group). */
export const markName = (metric: string): string => metric.replace(/\W/g, '_');

/** Metrics in panel order: loss first, then as they first appear in the history. */
export function metricsOf(history: EpochHistory): string[] {
  const metrics = [...new Set(Object.keys(history).map(metricOf))];
  return [...metrics.filter((m) => m === 'loss'), ...metrics.filter((m) => m !== 'loss')];
}

/** Number of epochs a history covers (its longest series). */
export const epochCount = (history: EpochHistory): number => Math.max(0, ...Object.values(history).map((v) => v.length));

/** The vega-lite spec of the learning curves: one panel per metric (loss first), train solid, validation dashed. */
export function learningCurvesSpec(report: PlottableReport): TopLevelSpec {
  const { history } = report;
  const epochs = epochCount(history);
  const values = Object.entries(history).flatMap(([key, series]) =>
    series.map((value, i) => ({ metric: metricOf(key), split: key.startsWith('val_') ? 'validation' : 'train', epoch: i + 1, value })),
  );
  const splits = Object.keys(CURVE_SPLITS);
  const panel = (metric: string) => ({
    width: 300,
    height: 220,
    title: { text: METRIC_TITLES[metric] ?? metric, frame: 'group' },
    transform: [{ filter: { field: 'metric', equal: metric } }],
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', scale: { domain: [1, Math.max(2, epochs)] }, axis: { tickMinStep: 1, format: 'd' } },
      // Nothing may stick out above a panel (a point on the top edge, the top tick label), or its
      // title would sit higher than its neighbour's: a padded domain and flush labels.
      y: {
        field: 'value',
        type: 'quantitative',
        title: metric,
        scale: { domain: paddedDomain(values, metric), nice: false, zero: false },
        axis: { labelFlush: true },
      },
      color: {
        field: 'split',
        type: 'nominal',
        title: null,
        scale: { domain: splits, range: Object.values(CURVE_SPLITS) },
        legend: { symbolType: 'stroke', symbolStrokeWidth: 2 },
      },
    },
    layer: [
      // Validation also dashed, so the curves stay apart in grey print.
      {
        name: `curve_${markName(metric)}`,
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          strokeDash: {
            field: 'split',
            type: 'nominal',
            title: null,
            scale: {
              domain: splits,
              range: [
                [1, 0],
                [6, 3],
              ],
            },
          },
        },
      },
      {
        name: `points_${markName(metric)}`,
        mark: { type: 'point', filled: true, size: 40 },
        encoding: { tooltip: [{ field: 'split' }, { field: 'epoch' }, { field: 'value', format: '.4f' }] },
      },
    ],
  });
  const metrics = metricsOf(history);
  return {
    title: { anchor: 'start', offset: 14, text: 'threadfit learning curves', subtitle: subtitleOf(report) ?? '' },
    config: { ...CHART_FONT, view: { stroke: null } },
    data: { values },
    columns: Math.min(metrics.length, 3),
    concat: metrics.map(panel),
  } as TopLevelSpec;
}

/** The range of a metric's finite values, widened by 6% on each side (or by 0.05 around a constant). */
function paddedDomain(values: Array<{ metric: string; value: number | null }>, metric: string): [number, number] {
  const finite = values.filter((v) => v.metric === metric && Number.isFinite(v.value)).map((v) => v.value as number);
  if (finite.length === 0) return [0, 1];
  const [lo, hi] = [Math.min(...finite), Math.max(...finite)];
  const pad = hi > lo ? 0.06 * (hi - lo) : Math.max(0.05, 0.05 * Math.abs(lo));
  return [lo - pad, hi + pad];
}

/** "mnist; 2 workers, global batch 128, lr 0.001, wasm; test acc 0.9643", from what the report has. */
function subtitleOf({ config, test }: PlottableReport): string | undefined {
  const parts: string[] = [];
  if (config !== undefined && typeof config === 'object') {
    const run = [
      typeof config.workers === 'number' ? `${config.workers} workers` : '',
      typeof config.batchSize === 'number' ? `global batch ${config.batchSize}` : '',
      typeof config.learningRate === 'number' ? `lr ${config.learningRate}` : '',
      typeof config.backend === 'string' ? config.backend : '',
    ].filter((s) => s !== '');
    if (typeof config.dataset === 'string') parts.push(config.dataset);
    if (run.length > 0) parts.push(run.join(', '));
  }
  if (test !== undefined && typeof test === 'object') {
    const t = Object.entries(test).filter(([, v]) => typeof v === 'number');
    if (t.length > 0) parts.push(`test ${t.map(([k, v]) => `${k} ${(v as number).toFixed(4)}`).join(', ')}`);
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** Checks that `value` has a plottable history; `source` names it in the error (a file path). */
export function checkPlottable(value: unknown, source: string): PlottableReport {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badData(source, 'not a threadfit report (expected a JSON object)');
  const history = (value as { history?: unknown }).history;
  if (history === null || typeof history !== 'object' || Array.isArray(history)) {
    throw badData(source, 'has no "history" object of per-epoch values (write one with threadfit train --report FILE)');
  }
  for (const [key, series] of Object.entries(history)) {
    if (!Array.isArray(series) || !series.every((v) => v === null || typeof v === 'number')) {
      throw badData(source, `history.${key} must be an array of numbers, one per epoch`);
    }
  }
  if (epochCount(history as EpochHistory) === 0) throw badData(source, 'history is empty: no epoch finished');
  return value as PlottableReport;
}

/** Reads and checks a report file; every failure names the file (ERR_THREADFIT_BAD_DATA). */
export function readReport(file: string): PlottableReport {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a report file' : `cannot be read (${(err as Error).message})`;
    throw badData(`report ${file}`, why);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badData(`report ${file}`, `is not JSON (${(err as Error).message})`);
  }
  return checkPlottable(value, `report ${file}`);
}

/** Renders the learning curves of `report` to an SVG file, written atomically (temporary file + rename). */
export async function writeLearningCurves(report: PlottableReport, file: string): Promise<void> {
  const svg = await renderSvg(learningCurvesSpec(report));
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, svg);
  renameSync(tmp, file);
}

/** The SVG path `threadfit plot` writes when -o is not given: the report's, with .svg. */
export const defaultPlotPath = (reportFile: string): string => reportFile.replace(/(\.json)?$/i, '.svg');

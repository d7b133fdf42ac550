/**
 * Learning curves (`threadfit plot`, `threadfit train --plot`): the SVG's marks carry the report's
 * numbers, and a real headless browser (Debian's chromium) renders it as a picture with two
 * panels and two coloured curves in each. No skipping: without chromium the browser test fails
 * and says how to install it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { learningCurvesSpec, renderSvg } from '@threadfit/coordinator';
import { runCli, tempDir, writeSyntheticIdxSet, type CliResult } from './helpers.js';
import { decodePng, type Image } from './png.js';

const tmp = tempDir('threadfit-plot-');
afterAll(() => tmp.cleanup());

/** A report as `threadfit train --report` writes it (5 epochs of a real MNIST run, rounded). */
const REPORT = {
  threadfit: '0.1.0',
  config: { workers: 2, epochs: 5, batchSize: 128, learningRate: 0.001, seed: 42, backend: 'wasm', dataset: 'mnist' },
  history: {
    loss: [0.2666, 0.11, 0.075, 0.055, 0.041],
    acc: [0.9242, 0.967, 0.978, 0.984, 0.988],
    val_loss: [0.1288, 0.095, 0.081, 0.074, 0.072],
    val_acc: [0.9643, 0.971, 0.975, 0.977, 0.978],
  },
  epochs: [{ epoch: 1, steps: 469, seconds: 3.1, samplesPerSec: 19354 }],
  test: { loss: 0.072, acc: 0.978 },
  weightsSha256: '0'.repeat(64),
};
const TRAIN_RGB = [0x4c, 0x78, 0xa8];
const VALIDATION_RGB = [0xf5, 0x85, 0x18];

/** Mark groups of one named mark (vega writes `<name>_marks` into the group's class). */
const markGroups = (svg: string, mark: string, name: string): string[] =>
  [...svg.matchAll(new RegExp(`<g class="mark-${mark} role-mark ${name}_marks"[^>]*>(.*?)</g>`, 'g'))].map((m) => m[1]);
const ariaLabels = (group: string): string[] => [...group.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]);
const texts = (svg: string, role: string): string[] =>
  [...svg.matchAll(new RegExp(`<g class="mark-text role-${role}[^"]*"[^>]*>(.*?)</g>`, 'g'))].flatMap((g) =>
    [...g[1].matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]),
  );
const svgSize = (svg: string): { width: number; height: number } => {
  const m = /^<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg);
  if (!m) throw new Error(`no width/height on the <svg> root: ${svg.slice(0, 200)}`);
  return { width: Number(m[1]), height: Number(m[2]) };
};

/** Each point's "epoch split value" from its aria label, e.g. "1 train 0.2666". */
function plottedPoints(svg: string, metric: string): string[] {
  return markGroups(svg, 'symbol', `points_${metric}`)
    .flatMap(ariaLabels)
    .map((label) => {
      const f = Object.fromEntries(label.split('; ').map((kv) => kv.split(': ')));
      return `${f.epoch} ${f.split} ${f.value}`;
    })
    .sort();
}
const expectedPoints = (history: Record<string, number[]>, metric: string): string[] =>
  Object.entries(history)
    .filter(([k]) => k === metric || k === `val_${metric}`)
    .flatMap(([k, values]) => values.map((v, i) => `${i + 1} ${k.startsWith('val_') ? 'validation' : 'train'} ${v.toFixed(4)}`))
    .sort();

function chromiumPath(): string {
  const found = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).stdout.trim();
  if (found === '') {
    throw new Error(
      'chromium is not installed, and this test renders the chart in it. Run the set-up as root: ' +
        'apt-get update && apt-get install -y --no-install-recommends chromium (.ci/run does this when chromium is missing)',
    );
  }
  return found;
}

/** Opens `html` in headless chromium at `width` x `height` and returns the decoded screenshot. */
function screenshot(html: string, name: string, width: number, height: number): Image {
  const page = join(tmp.dir, `${name}.html`);
  const png = join(tmp.dir, `${name}.png`);
  writeFileSync(page, html);
  const run = spawnSync(
    chromiumPath(),
    [
      '--headless',
      '--no-sandbox', // the tests run as root in CI, where chromium refuses its sandbox
      '--disable-gpu',
      '--hide-scrollbars',
      `--user-data-dir=${join(tmp.dir, `profile-${name}`)}`,
      `--screenshot=${png}`,
      `--window-size=${width},${height}`,
      pathToFileURL(page).href,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  expect(run.status, `chromium failed: ${run.error ?? ''}\n${run.stderr}`).toBe(0);
  return decodePng(readFileSync(png));
}

const htmlOf = (body: string): string => `<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0;background:#fff">${body}</body></html>`;

/** Pixels in columns [x0, x1) that are not (near) white, and those near each series colour. */
function countPixels(img: Image, x0 = 0, x1 = img.width): { ink: number; train: number; validation: number } {
  const near = (p: number, rgb: number[]) => Math.abs(img.rgba[p] - rgb[0]) + Math.abs(img.rgba[p + 1] - rgb[1]) + Math.abs(img.rgba[p + 2] - rgb[2]) < 60;
  const counts = { ink: 0, train: 0, validation: 0 };
  for (let y = 0; y < img.height; y++) {
    for (let x = x0; x < x1; x++) {
      const p = (y * img.width + x) * 4;
      if (Math.min(img.rgba[p], img.rgba[p + 1], img.rgba[p + 2]) < 235) counts.ink++;
      if (near(p, TRAIN_RGB)) counts.train++;
      if (near(p, VALIDATION_RGB)) counts.validation++;
    }
  }
  return counts;
}

describe('threadfit plot REPORT -o FILE.svg', () => {
  const reportFile = join(tmp.dir, 'report.json');
  const svgFile = join(tmp.dir, 'curves.svg');
  let r: CliResult;
  beforeAll(async () => {
    writeFileSync(reportFile, JSON.stringify(REPORT, null, 2));
    r = await runCli(['plot', reportFile, '-o', svgFile]);
  });

  it('draws loss and accuracy, train and validation, at the report values', () => {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Learning curves written to ${svgFile}\n`);
    const svg = readFileSync(svgFile, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const metric of ['loss', 'acc']) {
      expect(markGroups(svg, 'line', `curve_${metric}`), `${metric}: one line per split`).toHaveLength(2);
      expect(plottedPoints(svg, metric)).toEqual(expectedPoints(REPORT.history, metric));
    }
    expect(texts(svg, 'title-text')).toEqual(expect.arrayContaining(['threadfit learning curves', 'loss', 'accuracy']));
    expect(texts(svg, 'title-subtitle')).toEqual(['mnist; 2 workers, global batch 128, lr 0.001, wasm; test loss 0.0720, acc 0.9780']);
    expect(texts(svg, 'legend-label')).toEqual(['train', 'validation']);
    expect(texts(svg, 'axis-title')).toEqual(expect.arrayContaining(['epoch', 'loss', 'acc']));
  });

  it('renders in headless chromium as two panels, each with a blue train and an orange validation curve', () => {
    chromiumPath(); // first: without chromium, say how to install it
    const svg = readFileSync(svgFile, 'utf8');
    const { width, height } = svgSize(svg);
    const img = screenshot(htmlOf(svg), 'curves', width, height);
    expect([img.width, img.height]).toEqual([width, height]);
    const all = countPixels(img);
    // Two 300x220 panels of lines, points, grid, axes and text: thousands of inked pixels.
    expect(all.ink, 'inked pixels').toBeGreaterThan(5000);
    // The panels sit side by side, the loss panel left of the middle; each must show both colours.
    const mid = Math.floor(width / 2);
    for (const [panel, c] of [
      ['loss (left)', countPixels(img, 0, mid)],
      ['accuracy (right)', countPixels(img, mid, width)],
    ] as const) {
      expect(c.train, `${panel}: pixels of the train colour`).toBeGreaterThan(150);
      expect(c.validation, `${panel}: pixels of the validation colour`).toBeGreaterThan(100);
    }
  });

  it('the check can fail: a page without the chart screenshots as blank', () => {
    const img = screenshot(htmlOf(''), 'blank', 400, 300);
    expect(countPixels(img)).toEqual({ ink: 0, train: 0, validation: 0 });
  });

  it('without -o, writes next to the report with .svg', async () => {
    const dir = join(tmp.dir, 'default-out');
    mkdirSync(dir);
    writeFileSync(join(dir, 'run.json'), JSON.stringify(REPORT));
    const r = await runCli(['plot', join(dir, 'run.json')]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'run.svg'), 'utf8')).toMatch(/^<svg/);
  });

  it.each([
    ['missing.json', null, /report .*missing\.json: no such file/],
    ['a-directory', 'dir', /report .*a-directory: is a directory/],
    ['not-json.json', '{"history": {"loss": [0.5,', /report .*not-json\.json: is not JSON/],
    ['no-history.json', JSON.stringify({ threadfit: '0.1.0', test: { loss: 1 } }), /report .*no-history\.json: has no "history" object/],
    ['empty-history.json', JSON.stringify({ history: { loss: [] } }), /report .*empty-history\.json: history is empty/],
    ['bad-values.json', JSON.stringify({ history: { loss: ['0.5'] } }), /report .*bad-values\.json: history\.loss must be an array of numbers/],
  ])('bad report %s: exit 2, the file named', async (name, content, message) => {
    const file = join(tmp.dir, name);
    if (content === 'dir') mkdirSync(file);
    else if (content !== null) writeFileSync(file, content);
    const r = await runCli(['plot', file, '-o', join(tmp.dir, 'bad.svg')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('Usage: threadfit plot REPORT.json');
  });

  it('no report, or -o into a missing directory: exit 2', async () => {
    const none = await runCli(['plot']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/expected one report file, got none/);
    const badOut = await runCli(['plot', reportFile, '-o', '/nonexistent/dir/c.svg']);
    expect(badOut.code).toBe(2);
    expect(badOut.stderr).toMatch(/-o \/nonexistent\/dir\/c\.svg: directory \/nonexistent\/dir does not exist/);
  });
});

describe('learning curves of any metrics', () => {
  it('one panel per metric (loss first), val_ twins on the same panel, a metric without a twin alone, NaN as a gap', async () => {
    const history = { mse: [0.5, 0.3, 0.2], loss: [0.6, 0.4, 0.25], val_loss: [0.7, null, 0.3], val_mse: [0.55, 0.35, 0.22], lr: [0.01, 0.01, 0.005] };
    const svg = await renderSvg(learningCurvesSpec({ history }));
    const panelTitles = texts(svg, 'title-text').filter((t) => t !== 'threadfit learning curves');
    expect(panelTitles).toEqual(['loss', 'mean squared error', 'lr']);
    expect(markGroups(svg, 'line', 'curve_loss')).toHaveLength(2);
    expect(markGroups(svg, 'line', 'curve_mse')).toHaveLength(2);
    expect(markGroups(svg, 'line', 'curve_lr')).toHaveLength(1);
    expect(plottedPoints(svg, 'loss')).toEqual(['1 train 0.6000', '1 validation 0.7000', '2 train 0.4000', '3 train 0.2500', '3 validation 0.3000']);
  });
});

describe('threadfit train --plot FILE.svg', () => {
  it('a 2-epoch run writes its learning curves, drawn from the same history as its report', async () => {
    const data = join(tmp.dir, 'data');
    mkdirSync(data);
    writeSyntheticIdxSet(data, { train: 256, test: 64 });
    const report = join(tmp.dir, 'train.json');
    const plot = join(tmp.dir, 'train.svg');
    const r = await runCli([
      'train',
      '--data-dir',
      data,
      '--epochs',
      '2',
      '--workers',
      '2',
      '--batch-size',
      '64',
      '--backend',
      'wasm',
      '--report',
      report,
      '--plot',
      plot,
      '--log-level',
      'warn',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Learning curves written to ${plot}`);
    const { history } = JSON.parse(readFileSync(report, 'utf8')) as { history: Record<string, number[]> };
    expect(Object.keys(history)).toEqual(['loss', 'acc', 'val_loss', 'val_acc']);
    const svg = readFileSync(plot, 'utf8');
    for (const metric of ['loss', 'acc']) {
      expect(markGroups(svg, 'line', `curve_${metric}`)).toHaveLength(2);
      expect(plottedPoints(svg, metric)).toEqual(expectedPoints(history, metric));
    }
  });

  it('--plot into a missing directory: exit 2 before any training', async () => {
    const r = await runCli(['train', '--plot', '/nonexistent/dir/c.svg', '--data-dir', '/also/missing']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--plot \/nonexistent\/dir\/c\.svg: directory \/nonexistent\/dir does not exist/);
  });
});

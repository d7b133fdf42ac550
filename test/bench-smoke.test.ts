/**
 * `threadfit bench` and `threadfit scale` end to end, through the real CLI, on a tiny setting
 * (a small synthetic IDX set, a few steps, W = 1 and 2): the JSON, CSV and SVG they write are
 * well-formed and complete. No test here asserts a speed: figures on a shared machine are noise.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeSyntheticIdxSet, type CliResult } from './helpers.js';

const tmp = tempDir('threadfit-bench-');
const dataDir = join(tmp.dir, 'data');
afterAll(() => tmp.cleanup());
beforeAll(() => {
  mkdirSync(dataDir);
  writeSyntheticIdxSet(dataDir, { train: 600, test: 100 });
});

const STEP_KEYS = ['grad', 'update', 'coord', 'data'];
const PHASE_LABELS = ['gradient compute', 'reduce + optimizer', 'coordination / wait', 'batch gather'];

const isRate = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;
const isMs = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** XML-ish well-formedness: one <svg> root, every tag closed in order, nothing after the root. */
function checkWellFormed(svg: string): void {
  expect(svg.startsWith('<svg')).toBe(true);
  const stack: string[] = [];
  let closedRoot = false;
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    expect(closedRoot, `content after the root </svg>: <${close}${name}>`).toBe(false);
    if (close) {
      expect(stack.pop(), `</${name}> closes the wrong element`).toBe(name);
      if (stack.length === 0) closedRoot = true;
    } else if (!selfClose) stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(closedRoot).toBe(true);
}

/** The item elements (one per datum) of every mark group named `name` (vega-lite's `${name}_marks`). */
function markItems(svg: string, name: string): string[] {
  const groups = [...svg.matchAll(new RegExp(`<g class="mark-\\w+ role-mark ${name}_marks"[^>]*>(.*?)</g>`, 'g'))];
  expect(groups.length, `no mark group ${name}_marks`).toBeGreaterThan(0);
  return groups.flatMap((g) => [...g[1].matchAll(/<path [^>]*role="graphics-symbol"[^>]*>/g)].map((p) => p[0]));
}

const ariaLabel = (item: string): string => /aria-label="([^"]*)"/.exec(item)?.[1] ?? '';
const texts = (svg: string, role: string): string[] =>
  [...svg.matchAll(new RegExp(`<g class="mark-text role-${role}[^"]*"[^>]*>(.*?)</g>`, 'g'))].flatMap((g) =>
    [...g[1].matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]),
  );

describe('threadfit bench', () => {
  let run: CliResult;
  const json = join(tmp.dir, 'bench.json');
  beforeAll(async () => {
    // --epochs 1 over 600 rows at batch 128: 5 steps a repeat, the last one partial (88).
    run = await runCli([
      'bench',
      '--data-dir',
      dataDir,
      '--workers',
      '1,2',
      '--gradients',
      'both',
      '--steps-per-execution',
      '1,4',
      '--input',
      'both',
      '--epochs',
      '1',
      '--warmup',
      '1',
      '--repeats',
      '2',
      '--json',
      json,
    ]);
  }, 90_000);

  it('exits 0, prints one table row per configuration, and reports progress on stderr', () => {
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    const header = lines.findIndex((l) => /^name\s+backend\s+gradients\s+input\s+steps\/exec\s+workers\s+batch\s+samples\/s/.test(l));
    expect(header).toBeGreaterThanOrEqual(0);
    const rows = lines.slice(header + 2).filter((l) => /^(tfjs-fit|threadfit)/.test(l));
    // gradients, input, steps/exec, workers: a memory and a dataset row of each.
    const threadfitRows = [1, 2].flatMap((w) =>
      ['tape', 'dense'].flatMap((g) => [1, 4].flatMap((k) => ['memory', 'dataset'].map((i) => `threadfit wasm ${g} ${i} ${k} ${w}`))),
    );
    expect(rows.map((r) => r.split(/\s+/).slice(0, 6).join(' '))).toEqual(['tfjs-fit wasm - - - 1', 'tfjs-fit-fixed wasm - - - 1', ...threadfitRows]);
    // The ratios between threadfit rows at the largest worker count, computed from the table's figures.
    expect(run.stdout).toMatch(/^wasm, 2 workers: dense fast path \/ tape = \d+\.\d\dx$/m);
    expect(run.stdout).toMatch(/^wasm, 2 workers \(dense\): dataset \/ memory = \d+\.\d\dx$/m);
    expect(run.stdout).toMatch(/^wasm, 2 workers \(dense\): 4 steps per execution \/ 1 = \d+\.\d\dx$/m);
    expect(run.stdout).toMatch(/^wasm, 2 workers \(dense, 4 steps per execution\): update \+ coord = \d+\.\d% of the step$/m);
    expect(run.stdout).toContain(`Results written to ${json}`);
    for (let i = 1; i <= 18; i++) expect(run.stderr).toContain(`[bench ${i}/18]`);
    expect(run.stderr).toMatch(/repeat 2\/2: [\d,]+ samples\/s/);
  });

  it('writes the JSON with exactly the documented keys, one result per configuration', () => {
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(Object.keys(report)).toEqual(['machine', 'results']);
    expect(Object.keys(report.machine)).toEqual(['cpus', 'cpuModel', 'node']);
    expect(report.machine.node).toBe(process.version);
    expect(Number.isInteger(report.machine.cpus) && report.machine.cpus >= 1).toBe(true);
    const results = report.results as Array<{
      name: string;
      backend: string;
      workers: number;
      batchSize: number;
      gradients: string | null;
      nativeKernels: string | null;
      stepsPerExecution: number | null;
      input: string | null;
      samplesPerSec: number;
      stepMs: Record<string, number | null>;
      peakRssMb: number;
    }>;
    expect(results.map((r) => [r.name, r.workers, r.gradients, r.stepsPerExecution, r.input])).toEqual([
      ['tfjs-fit', 1, null, null, null],
      ['tfjs-fit-fixed', 1, null, null, null],
      ...[1, 2].flatMap((w) => ['tape', 'dense'].flatMap((g) => [1, 4].flatMap((k) => ['memory', 'dataset'].map((i) => ['threadfit', w, g, k, i])))),
    ]);
    for (const r of results) {
      expect(Object.keys(r)).toEqual([
        'name',
        'backend',
        'workers',
        'batchSize',
        'gradients',
        'nativeKernels',
        'stepsPerExecution',
        'input',
        'samplesPerSec',
        'stepMs',
        'peakRssMb',
      ]);
      expect([r.backend, r.batchSize]).toEqual(['wasm', 128]);
      // The seed is too large for wasm's native step (small chains only): no native kernels.
      expect(r.nativeKernels).toBeNull();
      expect(isRate(r.samplesPerSec), `samplesPerSec ${r.samplesPerSec}`).toBe(true);
      expect(isRate(r.peakRssMb), `peakRssMb ${r.peakRssMb}`).toBe(true);
      expect(Object.keys(r.stepMs)).toEqual(STEP_KEYS);
      // Stock fit is one opaque call: no breakdown. threadfit's phases are measured.
      for (const k of STEP_KEYS) expect(r.name === 'threadfit' ? isMs(r.stepMs[k]) : r.stepMs[k] === null, `${r.name} stepMs.${k} = ${r.stepMs[k]}`).toBe(true);
    }
  });
});

describe('threadfit scale', () => {
  let run: CliResult;
  const out = join(tmp.dir, 'scale-out', 'nested');
  // 2 strong series + 1 weak series, W = 1, 2.
  const series = [
    { mode: 'strong', batch: (_w: number) => 64, name: 'strong, global batch 64' },
    { mode: 'strong', batch: (_w: number) => 128, name: 'strong, global batch 128' },
    { mode: 'weak', batch: (w: number) => 32 * w, name: 'weak, 32 per worker' },
  ];
  const expected = series.flatMap((s) => [1, 2].map((w) => ({ mode: s.mode, batchSize: s.batch(w), workers: w, series: s.name })));
  beforeAll(async () => {
    run = await runCli([
      'scale',
      '--data-dir',
      dataDir,
      '--workers',
      '1,2',
      '--strong-batch-sizes',
      '64,128',
      '--weak-batch-size',
      '32',
      '--steps',
      '2',
      '--warmup',
      '1',
      '--repeats',
      '2',
      '--out',
      out,
    ]);
  }, 90_000);

  it('exits 0, prints the table, and reports progress on stderr', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/mode\s+batch\s+workers\s+samples\/s\s+speed-up\s+efficiency\s+grad\s+update\s+coord\s+data/);
    expect(run.stdout).toContain(`Written to ${out}: scale.csv, scale.json, throughput.svg, breakdown.svg`);
    for (let i = 1; i <= 6; i++) expect(run.stderr).toContain(`[scale ${i}/6]`);
  });

  it('writes scale.json with exactly the documented keys, one run per (series, W)', () => {
    const report = JSON.parse(readFileSync(join(out, 'scale.json'), 'utf8'));
    expect(Object.keys(report)).toEqual(['machine', 'runs']);
    expect(Object.keys(report.machine)).toEqual(['cpus', 'cpuModel', 'node']);
    const runs = report.runs as Array<{
      mode: string;
      batchSize: number;
      workers: number;
      samplesPerSec: number;
      speedup: number;
      efficiency: number;
      stepMs: Record<string, number>;
    }>;
    expect(runs.map((r) => ({ mode: r.mode, batchSize: r.batchSize, workers: r.workers }))).toEqual(expected.map(({ series: _, ...e }) => e));
    for (const r of runs) {
      expect(Object.keys(r)).toEqual(['mode', 'batchSize', 'workers', 'samplesPerSec', 'speedup', 'efficiency', 'stepMs']);
      expect(isRate(r.samplesPerSec)).toBe(true);
      expect(Object.keys(r.stepMs)).toEqual(STEP_KEYS);
      for (const k of STEP_KEYS) expect(isMs(r.stepMs[k]), `stepMs.${k} = ${r.stepMs[k]}`).toBe(true);
      // Definitions, not speeds: speed-up against the same series at W=1, efficiency = speed-up / W.
      const base = runs.find((b) => b.mode === r.mode && b.workers === 1 && (r.mode === 'weak' || b.batchSize === r.batchSize))!;
      expect(r.speedup).toBeCloseTo(r.samplesPerSec / base.samplesPerSec, 2);
      expect(r.efficiency).toBeCloseTo(r.speedup / r.workers, 2);
      if (r.workers === 1) expect([r.speedup, r.efficiency]).toEqual([1, 1]);
    }
  });

  it('writes scale.csv with the same rows as scale.json', () => {
    const report = JSON.parse(readFileSync(join(out, 'scale.json'), 'utf8'));
    const lines = readFileSync(join(out, 'scale.csv'), 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('mode,batchSize,workers,samplesPerSec,speedup,efficiency,gradMs,updateMs,coordMs,dataMs');
    expect(lines).toHaveLength(1 + expected.length);
    lines.slice(1).forEach((line, i) => {
      const r = report.runs[i];
      expect(line.split(',')).toEqual(
        [r.mode, r.batchSize, r.workers, r.samplesPerSec, r.speedup, r.efficiency, ...STEP_KEYS.map((k) => r.stepMs[k])].map(String),
      );
    });
  });

  it('renders throughput.svg: a point per run, a measured and an ideal line per series, the legend', () => {
    const svg = readFileSync(join(out, 'throughput.svg'), 'utf8');
    checkWellFormed(svg);
    const points = markItems(svg, 'points').map(ariaLabel);
    expect(points).toHaveLength(expected.length);
    for (const e of expected)
      expect(
        points.some((p) => p.includes(`series: ${e.series}`) && p.includes(`workers: ${e.workers};`)),
        `${e.series} W=${e.workers}`,
      ).toBe(true);
    expect(svg.match(/class="mark-line role-mark measured_marks"/g)).toHaveLength(series.length);
    expect(svg.match(/class="mark-line role-mark ideal_marks"/g)).toHaveLength(series.length);
    expect(texts(svg, 'legend-label').sort()).toEqual(series.map((s) => s.name).sort());
    expect(texts(svg, 'axis-title')).toEqual(expect.arrayContaining(['workers (W)', 'samples/s']));
  });

  it('renders breakdown.svg: one stacked bar segment per (run, phase), a panel per series', () => {
    const svg = readFileSync(join(out, 'breakdown.svg'), 'utf8');
    checkWellFormed(svg);
    const bars = markItems(svg, 'phases').map(ariaLabel);
    expect(bars).toHaveLength(expected.length * PHASE_LABELS.length);
    for (const e of expected) {
      for (const phase of PHASE_LABELS) {
        expect(
          bars.some((b) => b.includes(`series: ${e.series}`) && b.includes(`workers: ${e.workers};`) && b.includes(`phase: ${phase}`)),
          `${e.series} W=${e.workers} ${phase}`,
        ).toBe(true);
      }
    }
    expect(svg.match(/class="mark-rect role-mark phases_marks"/g)).toHaveLength(series.length);
    expect(texts(svg, 'legend-label')).toEqual(PHASE_LABELS);
  });
});

describe('bench and scale: bad input exits 2 before any measurement', () => {
  it.each([
    [['bench', '--workers', '0'], /flag --workers must be a comma-separated list of integers in 1\.\.\d+, got "0"/],
    [['bench', '--steps', '0'], /flag --steps must be an integer in 1\.\.\d+, got 0/],
    [['bench', '--backend', 'gpu'], /flag --backend must be one of wasm, cpu, tensorflow, got "gpu"/],
    [['bench', '--backend', 'wasm,gpu'], /flag --backend must be one of wasm, cpu, tensorflow, got "gpu"/],
    [['bench', '--gradients', 'maybe'], /flag --gradients must be one of auto, tape, both, got "maybe"/],
    [['scale', '--gradients', 'both'], /flag --gradients must be one of auto, tape, got "both"/],
    [['bench', '--steps-per-execution', '0,32'], /flag --steps-per-execution must be a comma-separated list of integers in 1\.\.1024, got "0,32"/],
    [['scale', '--steps-per-execution', '2000'], /flag --steps-per-execution must be an integer in 1\.\.1024, got 2000/],
    [['bench', '--json', '/nonexistent/dir/b.json'], /--json \/nonexistent\/dir\/b.json: directory \/nonexistent\/dir does not exist/],
    [['scale', '--workers', '2,3'], /flag --workers must include 1/],
    [['bench', '--model', 'resnet'], /flag --model must be one of seed, mnist-cnn, .*got "resnet"/],
    [['bench', '--samples', '64'], /flag --samples is for --model NAME/],
    [['scale', '--strong-batch-sizes', '128,x'], /flag --strong-batch-sizes must be a comma-separated list of integers/],
  ])('%j', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(`Usage: threadfit ${args[0]}`);
    expect(r.stderr).not.toContain('starting');
  });
});

describe('threadfit bench --model (a tfjs-examples model: stock model.fit against parallelFit)', () => {
  let run: CliResult;
  const json = join(tmp.dir, 'zoo.json');
  beforeAll(async () => {
    run = await runCli([
      'bench',
      '--model',
      'jena-simple-rnn',
      '--samples',
      '64',
      '--epochs',
      '1',
      '--batch-size',
      '32',
      '--repeats',
      '1',
      '--backend',
      'wasm',
      '--workers',
      '1,2',
      '--json',
      json,
    ]);
  }, 180_000);

  it('prints a row per configuration (stock fit, with the kernels, parallelFit at each W) and the ratios', () => {
    expect(run.code, run.stderr).toBe(0);
    const rows = run.stdout.split('\n').filter((l) => /^(tfjs-fit|parallelFit)/.test(l));
    expect(rows.map((r) => r.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      'tfjs-fit wasm 1',
      'tfjs-fit-fixed wasm 1',
      'parallelFit wasm 1',
      'parallelFit wasm 2',
    ]);
    expect(run.stdout).toMatch(/x fit \(total\)/);
    expect(run.stderr).toMatch(/\[bench 4\/4\] parallelFit \(wasm, 2 workers\): .* samples\/s after start-up/);
    // Which gradient path each parallelFit row ran (a recurrent net: the tape, with the reason).
    expect(run.stdout).toMatch(/^gradients of parallelFit \(wasm, W=2\): tape \(.+\)$/m);
  });

  it('writes the JSON with the documented keys, start-up apart from the rest', () => {
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(Object.keys(report).sort()).toEqual(['machine', 'model', 'results']);
    expect(report.model).toBe('jena-simple-rnn');
    for (const r of report.results) {
      const keys = ['backend', 'batchSize', 'epochs', 'model', 'name', 'peakRssMb', 'samples', 'samplesPerSec', 'startupSeconds', 'totalSeconds', 'workers'];
      // parallelFit rows also say how the gradients were computed, and what the workers decided.
      expect(Object.keys(r).sort()).toEqual((r.name === 'parallelFit' ? [...keys, 'gradients', 'gradPath', 'notices'] : keys).sort());
      if (r.name === 'parallelFit') {
        expect(r.gradients).toBe('tape');
        expect(r.gradPath).toMatch(/^tape \(.+\)$/);
      }
      expect(isRate(r.samplesPerSec) && isRate(r.totalSeconds)).toBe(true);
      expect([r.samples, r.epochs, r.batchSize]).toEqual([64, 1, 32]);
      // Stock fit has no start-up of its own; parallelFit's is part of its total.
      if (r.name === 'parallelFit') expect(r.startupSeconds).toBeGreaterThan(0);
      else expect(r.startupSeconds).toBe(0);
      expect(r.startupSeconds).toBeLessThan(r.totalSeconds);
    }
  });
});

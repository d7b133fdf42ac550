/** Whole runs through the CLI: real data, real workers, the report as documented. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeSyntheticIdxSet } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface Report {
  threadfit: string;
  config: Record<string, unknown>;
  history: Record<string, number[]>;
  epochs: Array<Record<string, number>>;
  test: { loss: number; acc: number };
  weightsSha256: string;
}

const readReport = (file: string): Report => JSON.parse(readFileSync(file, 'utf8')) as Report;
const version = (JSON.parse(readFileSync(new URL('../packages/coordinator/package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('threadfit train', () => {
  it('one epoch of MNIST on 2 workers reaches >= 0.95 test accuracy and writes the report', async () => {
    const file = join(tmp.dir, 'mnist.json');
    // --backend wasm: with tfjs-node set up (as CI does), auto would pick tensorflow.
    const r = await runCli(['train', '--epochs', '1', '--workers', '2', '--backend', 'wasm', '--report', file, '--log-level', 'warn']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Epoch 1\/1 - .* - loss: [\d.]+ - acc: [\d.]+ - val_loss: [\d.]+ - val_acc: [\d.]+$/m);
    const rep = readReport(file);
    expect(Object.keys(rep)).toEqual(['threadfit', 'config', 'history', 'epochs', 'test', 'weightsSha256']);
    expect(rep.threadfit).toBe(version);
    expect(rep.config).toEqual({ workers: 2, epochs: 1, batchSize: 128, learningRate: 0.001, seed: 42, backend: 'wasm', dataset: 'mnist', gradients: 'dense' });
    expect(Object.keys(rep.history)).toEqual(['loss', 'acc', 'val_loss', 'val_acc']);
    expect(rep.epochs).toHaveLength(1);
    expect(Object.keys(rep.epochs[0])).toEqual(['epoch', 'steps', 'seconds', 'samplesPerSec']);
    expect(rep.epochs[0].steps).toBe(469);
    expect(rep.epochs[0].samplesPerSec).toBeGreaterThan(0);
    expect(rep.test.acc).toBeGreaterThanOrEqual(0.95);
    expect(rep.test.acc).toBe(rep.history.val_acc[0]);
    expect(rep.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('any MNIST-shaped IDX set (gzip) trains on 1 worker; the same seed gives the same weights, another seed not', async () => {
    const dir = join(tmp.dir, 'synthetic');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    writeSyntheticIdxSet(dir, { train: 1500, test: 300, gzip: true });
    const run = async (name: string, seed: number, workers: number) => {
      const file = join(tmp.dir, name);
      const r = await runCli([
        'train',
        '--data-dir',
        dir,
        '--epochs',
        '2',
        '--batch-size',
        '64',
        '--workers',
        String(workers),
        '--seed',
        String(seed),
        '--report',
        file,
        '--quiet',
        '--log-level',
        'warn',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return readReport(file);
    };
    const a = await run('a.json', 7, 1);
    expect(a.config.dataset).toBe(dir);
    expect(a.epochs[0].steps).toBe(Math.ceil(1500 / 64));
    expect(a.test.acc).toBeGreaterThan(0.9); // the classes are separable: it learned
    const b = await run('b.json', 7, 1);
    expect(b.weightsSha256).toBe(a.weightsSha256);
    expect(b.history).toEqual(a.history);
    const c = await run('c.json', 8, 1);
    expect(c.weightsSha256).not.toBe(a.weightsSha256);
    const d1 = await run('d1.json', 7, 2);
    const d2 = await run('d2.json', 7, 2);
    expect(d2.weightsSha256).toBe(d1.weightsSha256);
  });
});

/**
 * scripts/bench-peers.mjs on a tiny setting: Keras 3 on JAX (installed once into .cache/peers from
 * PyPI) and threadfit on the same small MNIST-shaped data in one run, one table with ratios. The
 * only reason to skip: no pip on this machine, so no peer can be installed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNode, tempDir, writeSyntheticIdxSet } from './helpers.js';

const hasPip = spawnSync(process.env.PYTHON ?? 'python3', ['-m', 'pip', '--version'], { stdio: 'ignore' }).status === 0;
const tmp = tempDir('threadfit-peers-');
afterAll(() => tmp.cleanup());

describe('bench-peers', () => {
  it.skipIf(!hasPip)(
    'Keras-JAX and threadfit on the same data in one run: one table, ratios against Keras-JAX (skipped only without pip)',
    async () => {
      const data = join(tmp.dir, 'mnist');
      (await import('node:fs')).mkdirSync(data);
      writeSyntheticIdxSet(data, { train: 1024, test: 128 });
      const json = join(tmp.dir, 'peers.json');
      const script = new URL('../scripts/bench-peers.mjs', import.meta.url).pathname;
      const r = await runNode(script, [
        '--peers',
        'keras-jax',
        '--threads',
        '1',
        '--repeats',
        '1',
        '--backend',
        'wasm',
        '--workers',
        '1',
        '--data-dir',
        data,
        '--json',
        json,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const rows = r.stdout.split('\n').filter((l) => /^(keras-jax|threadfit|tfjs-fit|tfjs-fit-fixed)\s/.test(l));
      expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(['keras-jax', 'tfjs-fit', 'tfjs-fit-fixed', 'threadfit']);
      expect(r.stdout).toMatch(/^threadfit's best \(wasm, W=1\) \/ keras-jax at 1 thread: \d+\.\d\dx$/m);
      const report = JSON.parse(readFileSync(json, 'utf8')) as { rows: Array<{ name: string; samplesPerSec: number }>; skipped: string[] };
      expect(report.skipped).toEqual([]);
      for (const row of report.rows) expect(row.samplesPerSec, row.name).toBeGreaterThan(0);
    },
    600_000,
  );
});

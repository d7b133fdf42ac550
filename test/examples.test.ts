/** The examples in examples/ run as users run them (a real node process), on small settings. */
import { describe, expect, it } from 'vitest';
import { runNode } from './helpers.js';

const run = (file: string, args: string[], env: Record<string, string> = {}) => runNode(new URL(`../examples/${file}`, import.meta.url).pathname, args, env);

const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;

describe('examples', () => {
  it('mnist-mlp.mjs trains the seed model with parallelFit', async () => {
    const r = await run('mnist-mlp.mjs', ['1'], { EXAMPLE_SAMPLES: '6000' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lastJson(r.stdout);
    expect(out.epochs).toBe(1);
    expect(out.testAcc).toBeGreaterThan(0.8);
  });

  it('mnist-dataset.mjs trains the seed model from a tf.data pipeline with parallelFitDataset', async () => {
    const r = await run('mnist-dataset.mjs', ['1'], { EXAMPLE_SAMPLES: '6000' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lastJson(r.stdout);
    expect(out.epochs).toBe(1);
    expect(out.testAcc).toBeGreaterThan(0.8);
  });

  it('spirals-regularized.mjs trains a regularized MLP on another data set', async () => {
    const r = await run('spirals-regularized.mjs', ['8']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lastJson(r.stdout);
    expect(out.lastLoss).toBeLessThan(out.firstLoss);
  });
});

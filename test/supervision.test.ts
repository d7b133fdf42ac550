/**
 * The supervisor through the CLI: an injected fault counts the global step, so it strikes in a
 * resumed run too; past --max-restarts nothing claims the step runs again.
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeSyntheticIdxSet } from './helpers.js';

const tmp = tempDir();
const data = join(tmp.dir, 'data');
const BASE = ['--data-dir', data, '--epochs', '1', '--batch-size', '32', '--workers', '2', '--seed', '5', '--quiet', '--log-format', 'json'];
let cleanSha = '';

const sha = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { weightsSha256: string }).weightsSha256;

beforeAll(async () => {
  mkdirSync(data);
  writeSyntheticIdxSet(data, { train: 960, test: 100 }); // 30 steps per epoch
  const r = await runCli(['train', ...BASE, '--report', join(tmp.dir, 'clean.json')]);
  expect(r.code).toBe(0);
  cleanSha = sha(join(tmp.dir, 'clean.json'));
});
afterAll(() => tmp.cleanup());

describe('--inject-fault counts the global step', () => {
  it('a run stopped past --max-restarts at step 25 and resumed from step 20: crash@step=25 strikes again at step 25, and the weights are a clean run', async () => {
    const dir = join(tmp.dir, 'ckpt');
    const failed = await runCli([
      'train',
      ...BASE,
      '--checkpoint-dir',
      dir,
      '--checkpoint-every',
      '10',
      '--inject-fault',
      'exit@step=25,rank=0',
      '--max-restarts',
      '0',
    ]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/workers failed 1 times \(more than maxRestarts 0\); last: rank 0 at step 25/);
    expect(failed.stderr).not.toMatch(/runs again/);
    const report = join(tmp.dir, 'resumed.json');
    const resumed = await runCli([
      'train',
      ...BASE,
      '--checkpoint-dir',
      dir,
      '--checkpoint-every',
      '10',
      '--resume',
      '--inject-fault',
      'crash@step=25,rank=1',
      '--report',
      report,
    ]);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/"msg":"resuming"/);
    expect(resumed.stderr).toMatch(/"step":25,"rank":1,"cause":"injected crash.*"restart":1.*the step runs again/);
    expect(sha(report)).toBe(cleanSha);
  });
});

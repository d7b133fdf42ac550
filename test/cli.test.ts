/** The CLI as users meet it: a real process, its exit code and what it prints. */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { idxBytes, runCli, tempDir, writeSyntheticIdxSet } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('threadfit train: bad input exits 2 with the usage and the bad value', () => {
  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--workers', '0'], /flag --workers must be an integer in 1\.\.\d+, got 0/],
    [['--workers', '100000'], /flag --workers must be an integer in 1\.\.\d+, got 100000/],
    [['--workers', 'many'], /flag --workers must be an integer in 1\.\.\d+, got "many"/],
    [['--batch-size', 'abc'], /flag --batch-size must be an integer in 1\.\.\d+, got "abc"/],
    [['--epochs', '-1'], /flag --epochs must be an integer in 1\.\.\d+, got -1/],
    [['--epochs', '1.5'], /flag --epochs must be an integer in 1\.\.\d+, got 1\.5/],
    [['--lr', '0'], /flag --lr must be a positive number, got 0/],
    [['--seed', '-3'], /flag --seed must be an integer in 0\.\.4294967295, got -3/],
    [['--backend', 'gpu'], /flag --backend must be one of auto, wasm, cpu, tensorflow, got "gpu"/],
    [['--log-format', 'xml'], /flag --log-format must be one of pretty, json, got "xml"/],
    [['--gradients', 'fast'], /flag --gradients must be one of auto, tape, got "fast"/],
    [['--steps-per-execution', '0'], /flag --steps-per-execution must be an integer in 1\.\.1024, got 0/],
    [['--accumulate', '300'], /--workers x --accumulate must be at most 256 gradient slots, got \d+ x 300 = \d+/],
    [['--micro-batches', '4'], /--micro-batches has no effect without --deterministic/],
    [['--data-dir', '/nonexistent/dir'], /--data-dir \/nonexistent\/dir: no such directory/],
    [['--report', '/nonexistent/dir/r.json'], /--report \/nonexistent\/dir\/r.json: directory \/nonexistent\/dir does not exist/],
    // Issue 17: what used to pass silently.
    [['--workers', ' 2'], /flag --workers must be an integer in 1\.\.\d+ written in plain decimal digits, got " 2"/],
    [['--epochs', '1e0'], /flag --epochs must be an integer in 1\.\.\d+ written in plain decimal digits, got "1e0"/],
    [['junk'], /unexpected argument 'junk': threadfit train takes flags only/],
    [['--inject-fault', 'crash@step=1,rank=99', '--workers', '2'], /flag --inject-fault rank=99 names no worker: there are 2 workers \(ranks 0\.\.1\)/],
    // A flag given twice keeps its last value: the second --epochs is the one refused.
    [['--epochs', '1', '--epochs', '0'], /flag --epochs must be an integer in 1\.\.\d+, got 0/],
  ])('%j', async (args, message) => {
    const r = await runCli(['train', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('Usage: threadfit train');
  });

  it('a data dir with a truncated images file: exit 2, the file named', async () => {
    const dir = join(tmp.dir, 'truncated');
    mkdirSync(dir);
    writeSyntheticIdxSet(dir, { train: 50, test: 10 });
    const bytes = idxBytes([50, 28, 28], new Uint8Array(50 * 784)).subarray(0, 1000);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), bytes);
    const r = await runCli(['train', '--data-dir', dir, '--epochs', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(join(dir, 'train-images-idx3-ubyte'));
    expect(r.stderr).toMatch(/truncated/);
  });

  it('a data dir with a label out of range: exit 2, the label and index named', async () => {
    const dir = join(tmp.dir, 'badlabel');
    mkdirSync(dir);
    writeSyntheticIdxSet(dir, { train: 50, test: 10 });
    const labels = new Uint8Array(10).fill(1);
    labels[4] = 12;
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([10], labels));
    const r = await runCli(['train', '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/label 12 at index 4 is outside 0\.\.9/);
  });

  it('a labels file with the images magic, and a symbolic link loop: exit 2, each named for what it is', async () => {
    const dir = join(tmp.dir, 'mixed');
    mkdirSync(dir);
    writeSyntheticIdxSet(dir, { train: 50, test: 10 });
    const labels = idxBytes([10], new Uint8Array(10), 2051);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels);
    const wrong = await runCli(['train', '--data-dir', dir]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(
      /t10k-labels-idx1-ubyte: is not a labels file: its magic number is 2051 \(0x00000803: uint8, 3 dimensions\), an images file; expected 2049/,
    );
    const images = join(dir, 'train-images-idx3-ubyte');
    rmSync(images);
    symlinkSync(images, images);
    const loop = await runCli(['train', '--data-dir', dir]);
    expect(loop.code).toBe(2);
    expect(loop.stderr).toMatch(/train-images-idx3-ubyte: is a symbolic link loop \(ELOOP/);
  });

  it('a batch larger than the training set: exit 2 naming both numbers, before any thread starts', async () => {
    const dir = join(tmp.dir, 'small');
    mkdirSync(dir);
    writeSyntheticIdxSet(dir, { train: 50, test: 10 });
    const r = await runCli(['train', '--data-dir', dir, '--batch-size', '64', '--log-format', 'json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--batch-size 64 is larger than the training set \(50 samples\): pass --batch-size 50 or less/);
    expect(r.stderr).not.toMatch(/global batch/);
  });

  it.each(['evaluate', 'bench', 'scale'])('threadfit %s junk exits 2 naming the argument', async (command) => {
    const r = await runCli([command, 'junk']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`unexpected argument 'junk': threadfit ${command} takes flags only`));
  });

  it('an unknown command exits 2', async () => {
    const r = await runCli(['trian']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'trian'/);
  });
});

describe('help', () => {
  it('threadfit train --help lists every flag with its default and exits 0', async () => {
    const r = await runCli(['train', '--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--workers',
      '--epochs',
      '--batch-size',
      '--lr',
      '--seed',
      '--backend',
      '--data-dir',
      '--report',
      '--log-level',
      '--log-format',
      '--quiet',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/--epochs N\s+passes over the training set \(default: 10\)/);
    expect(r.stdout).toContain('A flag given twice keeps its last value.');
  });

  it('threadfit --help lists the commands', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/train\s+Train the seed MLP/);
  });
});

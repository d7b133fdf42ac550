/** Small real files and data for tests: IDX writers, temp dirs, the CLI runner. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export function tempDir(prefix = 'threadfit-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An IDX file's bytes: magic (0x08 type, ndim), big-endian dims, data. */
export function idxBytes(dims: number[], data: Uint8Array, magic = 0x0800 + dims.length): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/**
 * Writes a small MNIST-shaped data set (4 IDX files) where the label is readable from the pixels:
 * class c lights a band of rows, plus noise, so a model can learn it in one epoch.
 */
export function writeSyntheticIdxSet(dir: string, opts: { train: number; test: number; gzip?: boolean; seed?: number }): void {
  let s = opts.seed ?? 1;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const make = (n: number) => {
    const images = new Uint8Array(n * 784);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(rand() * 10);
      labels[i] = c;
      for (let p = 0; p < 784; p++) {
        const row = Math.floor(p / 28);
        const lit = row >= c * 2 + 4 && row < c * 2 + 7;
        images[i * 784 + p] = lit ? 200 + Math.floor(rand() * 55) : Math.floor(rand() * 40);
      }
    }
    return { images, labels };
  };
  const write = (name: string, bytes: Buffer) => writeFileSync(join(dir, opts.gzip ? `${name}.gz` : name), opts.gzip ? gzipSync(bytes) : bytes);
  const train = make(opts.train);
  const test = make(opts.test);
  write('train-images-idx3-ubyte', idxBytes([opts.train, 28, 28], train.images));
  write('train-labels-idx1-ubyte', idxBytes([opts.train], train.labels));
  write('t10k-images-idx3-ubyte', idxBytes([opts.test, 28, 28], test.images));
  write('t10k-labels-idx1-ubyte', idxBytes([opts.test], test.labels));
}

export const CLI = new URL('../packages/coordinator/dist/cli/main.js', import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Node script in a child process (a real process: exit codes and stdio are what users see). */
export function runNode(script: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the built `threadfit` CLI. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runNode(CLI, args, env);
}

/**
 * A real, small tmpfs (root only; CI runs as root): a disk that fills up. `unmount()` in afterAll.
 * Throws, naming the command, where mounting is not possible: the tests that need it fail loudly.
 */
export function mountTmpfs(bytes: number, prefix = 'threadfit-tmpfs-'): { dir: string; unmount(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mount -t tmpfs -o size=${bytes} tmpfs ${dir} failed (these tests need root): ${(err as Error).message}`);
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** max|a - b| / max|b| over two arrays of the same length (the scale floored at 1e-12). */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-12;
  for (let k = 0; k < a.length; k++) {
    diff = Math.max(diff, Math.abs(a[k] - b[k]));
    scale = Math.max(scale, Math.abs(b[k]));
  }
  return diff / scale;
}

/** The largest relative difference between two lists of tensors: max over i of max|a_i - b_i| / max|a_i|. */
export function maxRel(a: Array<{ dataSync(): ArrayLike<number> }>, b: Array<{ dataSync(): ArrayLike<number> }>): number {
  return Math.max(0, ...a.map((t, i) => relDiff(b[i].dataSync(), t.dataSync())));
}

/**
 * Runs `fn` with environment variable `name` set to `value` (undefined: unset), then puts back
 * what was there before, also when `fn` throws. Workers and replicas read threadfit's switches
 * when they are created, so `fn` is where they are created.
 */
export async function withEnv<T>(name: string, value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

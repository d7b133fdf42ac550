/**
 * Reliability through the CLI, as a user meets it: checkpoints, stop (SIGINT/SIGTERM/SIGHUP) and resume
 * ending with the same weights as a run never stopped, faults survived, limits reported.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, tempDir, writeSyntheticIdxSet } from './helpers.js';

const tmp = tempDir();
const data = join(tmp.dir, 'data');
const BASE = ['--data-dir', data, '--epochs', '2', '--batch-size', '32', '--workers', '2', '--seed', '5', '--quiet', '--log-format', 'json'];
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

/** Starts a training run and sends `signal` once `trigger` appears on stderr. */
function runUntil(args: string[], trigger: RegExp, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && trigger.test(stderr)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('stop and resume', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    // A closed terminal or a dropped ssh session: handled as SIGTERM, not a death without a checkpoint.
    ['SIGHUP', 129],
  ] as const)('%s mid-epoch: exit %i, checkpoint of committed state; --resume ends with the weights of a run never stopped', async (signal, exitCode) => {
    const dir = join(tmp.dir, `ckpt-${signal}`);
    const stopped = await runUntil(['train', ...BASE, '--checkpoint-dir', dir, '--checkpoint-every', '7'], /checkpoint written/, signal);
    expect(stopped.code).toBe(exitCode);
    expect(stopped.stderr).toMatch(new RegExp(`stopped by ${signal}; the committed state is in .*ckpt-\\d+; resume with the same flags plus --resume`));
    const report = join(tmp.dir, `resumed-${signal}.json`);
    const resumed = await runCli(['train', ...BASE, '--checkpoint-dir', dir, '--checkpoint-every', '7', '--resume', '--report', report]);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/"msg":"resuming"/);
    expect(sha(report)).toBe(cleanSha);
    // The interrupted epoch is recorded once, when the resumed run completes it.
    const epochsOf = (f: string) => (JSON.parse(readFileSync(f, 'utf8')) as { history: { loss: number[] } }).history.loss.length;
    expect(epochsOf(report)).toBe(epochsOf(join(tmp.dir, 'clean.json')));
    // The last K (2) are kept.
    expect(readdirSync(dir).filter((n) => n.startsWith('ckpt-')).length).toBe(2);
  });

  it('a corrupt newest checkpoint is reported and the previous one used; the result is still exact', async () => {
    const dir = join(tmp.dir, 'ckpt-corrupt');
    const first = await runCli(['train', ...BASE, '--epochs', '1', '--checkpoint-dir', dir, '--checkpoint-every', '10']);
    expect(first.code).toBe(0);
    const names = readdirSync(dir)
      .filter((n) => n.startsWith('ckpt-'))
      .sort();
    const newest = join(dir, names[names.length - 1], 'weights.bin');
    const bytes = readFileSync(newest);
    bytes[100] ^= 0xff;
    writeFileSync(newest, bytes);
    const report = join(tmp.dir, 'corrupt.json');
    const r = await runCli(['train', ...BASE, '--checkpoint-dir', dir, '--checkpoint-every', '10', '--resume', '--report', report]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/"level":40.*ckpt-000030/);
    expect(sha(report)).toBe(cleanSha);
  });
});

describe('faults through the CLI', () => {
  it('an injected fault counts the global step: resumed from step 20 after a stop at step 25, crash@step=25 strikes at step 25 again; the weights are a clean run', async () => {
    const dir = join(tmp.dir, 'ckpt-global-step');
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
    // Past --max-restarts nothing claims that the step runs again.
    expect(failed.stderr).not.toMatch(/runs again/);
    const report = join(tmp.dir, 'global-step.json');
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

  it('--inject-fault crash: the step reruns, the restart is logged, the weights are those of a clean run', async () => {
    const report = join(tmp.dir, 'crash.json');
    const r = await runCli(['train', ...BASE, '--inject-fault', 'crash@step=12,rank=1', '--report', report]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/"step":12,"rank":1,"cause":"injected crash.*"restart":1.*the step runs again/);
    expect(sha(report)).toBe(cleanSha);
  });

  it('past --max-restarts: exit 1, a clear error, the last committed state checkpointed', async () => {
    const dir = join(tmp.dir, 'ckpt-fail');
    const r = await runCli(['train', ...BASE, '--inject-fault', 'exit@step=4,rank=0', '--max-restarts', '0', '--checkpoint-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/threadfit train: failed: training stopped: workers failed 1 times \(more than maxRestarts 0\)/);
    expect(readdirSync(dir)).toContain('ckpt-000003');
  });

  it('resuming with another batch size is refused, naming the setting', async () => {
    const dir = join(tmp.dir, 'ckpt-traj');
    expect((await runCli(['train', ...BASE, '--epochs', '1', '--checkpoint-dir', dir])).code).toBe(0);
    const r = await runCli(['train', ...BASE.map((a) => (a === '32' ? '64' : a)), '--checkpoint-dir', dir, '--resume']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/was made with batchSize 32, this run has 64/);
  });

  it('--resume without --checkpoint-dir, a foreign checkpoint dir, a bad fault spec: exit 2', async () => {
    expect((await runCli(['train', ...BASE, '--resume'])).stderr).toMatch(/--resume needs --checkpoint-dir/);
    const foreign = join(tmp.dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    const r = await runCli(['train', ...BASE, '--checkpoint-dir', foreign]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a threadfit checkpoint directory: found notes\.txt/);
    expect(readFileSync(join(foreign, 'notes.txt'), 'utf8')).toBe('mine');
    const f = await runCli(['train', ...BASE, '--inject-fault', 'boom']);
    expect(f.code).toBe(2);
  });
});

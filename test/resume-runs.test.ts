/**
 * One checkpoint directory, several runs, and a disk that fills up, through the CLI as users meet
 * them: a fresh run into another run's directory is refused; the final state is checkpointed
 * whatever --checkpoint-every; a resume of a finished run, or one past --epochs, says so and
 * exits 2; a full disk (a real tmpfs) either makes room from the run's oldest checkpoint or stops
 * with one line naming the checkpoint, the cause and the one to resume from.
 */
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCheckpoint, type CheckpointState } from '@threadfit/coordinator';
import { mountTmpfs, runCli, tempDir, writeSyntheticIdxSet } from './helpers.js';
// @ts-expect-error plain .mjs fixture (also run by a child process)
import { seedModelState } from './fixtures/checkpoint-state.mjs';

const tmp = tempDir();
const data = join(tmp.dir, 'data');
// 960 samples at batch 32: 30 steps per epoch.
const BASE = ['--data-dir', data, '--batch-size', '32', '--workers', '2', '--seed', '5', '--quiet', '--log-format', 'json'];
const ckpts = (dir: string) => readdirSync(dir).sort();
const report = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { epochs: Array<{ steps: number }>; history: { loss: number[] } };

beforeAll(() => {
  mkdirSync(data);
  writeSyntheticIdxSet(data, { train: 960, test: 100 });
});
afterAll(() => tmp.cleanup());

describe('one directory, one run', () => {
  const dir = join(tmp.dir, 'ckpt-run');

  it('the final state is checkpointed although --checkpoint-every 7 does not divide the 60 steps', async () => {
    const r = await runCli(['train', ...BASE, '--epochs', '2', '--checkpoint-dir', dir, '--checkpoint-every', '7']);
    expect(r.code, r.stderr).toBe(0);
    expect(ckpts(dir)).toEqual(['ckpt-000056', 'ckpt-000060']);
  });

  it('a fresh run into that directory is refused with exit 2, naming the directory and its run; nothing is touched', async () => {
    const r = await runCli(['train', ...BASE, '--epochs', '1', '--checkpoint-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(
        `--checkpoint-dir ${dir} holds the checkpoints of another run: ckpt-000056, ckpt-000060 \\(run [0-9a-f]{16}, newest at epoch 2, step 60, of 2 epochs\\); pass --resume to continue it, or give another --checkpoint-dir`,
      ),
    );
    expect(ckpts(dir)).toEqual(['ckpt-000056', 'ckpt-000060']);
  });

  it('--resume of the finished run says it is finished; one past --epochs says so; both exit 2 without training', async () => {
    const finished = await runCli(['train', ...BASE, '--epochs', '2', '--checkpoint-dir', dir, '--resume']);
    expect(finished.code).toBe(2);
    expect(finished.stderr).toMatch(
      /the run in --checkpoint-dir .* is finished: .*ckpt-000060 holds the state after epoch 2 \(step 60\), the last of --epochs 2; nothing to resume \(pass a larger --epochs to train further\)/,
    );
    const past = await runCli(['train', ...BASE, '--epochs', '1', '--checkpoint-dir', dir, '--resume', '--report', join(tmp.dir, 'past.json')]);
    expect(past.code).toBe(2);
    expect(past.stderr).toMatch(
      /ckpt-000060 holds the state after epoch 2 \(step 60\), past --epochs 1: nothing to train \(pass --epochs above 2 to train further/,
    );
    expect(past.stderr).not.toMatch(/"msg":"resuming"/);
    expect(() => readFileSync(join(tmp.dir, 'past.json'))).toThrow();
  });

  it('--resume with more epochs continues at step 60 and trains only the new epoch', async () => {
    const file = join(tmp.dir, 'more.json');
    const r = await runCli(['train', ...BASE, '--epochs', '3', '--checkpoint-dir', dir, '--checkpoint-every', '7', '--resume', '--report', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/"globalStep":60,"msg":"resuming"/);
    expect(report(file).epochs.map((e) => e.steps)).toEqual([30]);
    expect(report(file).history.loss).toHaveLength(3);
    expect(ckpts(dir)).toEqual(['ckpt-000084', 'ckpt-000090']);
  });
});

describe('one directory, two runs', () => {
  it('--resume in a directory holding two runs (put together by hand) is refused, naming both', async () => {
    const dir = join(tmp.dir, 'ckpt-two-runs');
    for (const [step, runId] of [
      [80, 'aaaaaaaaaaaaaaaa'],
      [85, 'aaaaaaaaaaaaaaaa'],
      [45, 'bbbbbbbbbbbbbbbb'],
    ] as const) {
      const { state } = (await seedModelState(step)) as { state: CheckpointState };
      await writeCheckpoint(dir, { ...state, runId }, { keep: 5 });
    }
    const r = await runCli(['train', ...BASE, '--epochs', '1', '--checkpoint-dir', dir, '--resume']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /holds the checkpoints of 2 runs: ckpt-000080, ckpt-000085 \(run a{16}, newest at epoch 10, step 85, of 3 epochs\); ckpt-000045 \(run b{16}, newest at epoch 5, step 45, of 3 epochs\); --resume continues one run: move the others' checkpoints elsewhere/,
    );
    expect(ckpts(dir)).toEqual(['ckpt-000045', 'ckpt-000080', 'ckpt-000085']);
  });
});

describe('a full disk (a real tmpfs; a checkpoint of the seed MLP is 4.7 MiB)', () => {
  const disks: Array<{ unmount(): void }> = [];
  afterAll(() => disks.forEach((d) => d.unmount()));
  const disk = (mib: number) => {
    const d = mountTmpfs(mib * 1024 * 1024);
    disks.push(d);
    return join(d.dir, 'ckpts');
  };

  it('room for one checkpoint: exit 1 with one line naming the checkpoint, ENOSPC, the size and the resume hint; the first checkpoint intact', async () => {
    const dir = disk(6);
    const r = await runCli(['train', ...BASE, '--epochs', '1', '--checkpoint-dir', dir, '--checkpoint-every', '10']);
    expect(r.code).toBe(1);
    const line = r.stderr.split('\n').find((l) => l.startsWith('threadfit train: failed:'));
    expect(line).toMatch(
      new RegExp(
        `^threadfit train: failed: cannot write checkpoint ${dir}/ckpt-000020: ENOSPC: no space left on device, write \\(a checkpoint needs about 4\\.\\d MiB; the directory needs room for two: the newest is kept while the next is written\\); the last complete checkpoint is ${dir}/ckpt-000010 \\(step 10\\): resume from it with --checkpoint-dir ${dir} --resume once the cause is fixed$`,
      ),
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(ckpts(dir)).toEqual(['ckpt-000010']);
  });

  it('room for exactly the 2 kept: the run and its resume keep fitting, the oldest making room', async () => {
    const dir = disk(11);
    const first = await runCli(['train', ...BASE, '--epochs', '1', '--checkpoint-dir', dir, '--checkpoint-every', '10']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/disk full: removed ckpt-000010, this run's oldest checkpoint, to make room/);
    expect(ckpts(dir)).toEqual(['ckpt-000020', 'ckpt-000030']);
    const resumed = await runCli(['train', ...BASE, '--epochs', '2', '--checkpoint-dir', dir, '--checkpoint-every', '10', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(ckpts(dir)).toEqual(['ckpt-000050', 'ckpt-000060']);
  });
});

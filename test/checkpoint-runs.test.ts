/**
 * Checkpoints of several runs in one directory, renamed checkpoints, and a full disk, on real
 * files: pruning deletes only the writing run's checkpoints (by meta.json's step, not the name);
 * a directory renamed to a later step is refused and never wins; a real small tmpfs fills up
 * (ENOSPC): the run's oldest checkpoint makes room, and when nothing can, one clear error with the
 * last complete checkpoint, no temporary directory left, the earlier checkpoints intact. EIO and
 * EDQUOT (not producible on a test machine's disks) come through the writer's afterFile seam.
 */
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '@threadfit/shared';
import { checkpointRecords, coordinatorTf, loadLatestCheckpoint, writeCheckpoint, type CheckpointState } from '@threadfit/coordinator';
import { mountTmpfs, tempDir } from './helpers.js';
// @ts-expect-error plain .mjs fixture (also run by a child process)
import { seedModelState } from './fixtures/checkpoint-state.mjs';

/** The seed MLP with 16 hidden units: 156,775 bytes of files, 160 KiB of tmpfs pages per checkpoint. */
const stateAt = async (step: number, runId?: string): Promise<CheckpointState> => {
  const { state } = (await seedModelState(step)) as { state: CheckpointState };
  return runId === undefined ? state : { ...state, runId };
};
const PAGES_PER_CHECKPOINT = 160 * 1024;

const tmp = tempDir('threadfit-runs-');
let n = 0;
const freshDir = () => join(tmp.dir, `root-${n++}`);
const ckpts = (dir: string) => readdirSync(dir).sort();
beforeAll(async () => {
  await coordinatorTf();
});
afterAll(() => tmp.cleanup());

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as { code?: string; message: string },
  );
  expect(err, 'expected a rejection').not.toBeNull();
  return err!;
}

describe('runs kept apart', () => {
  it("pruning deletes only the writing run's checkpoints: another run's, and ones without a run id, stay", async () => {
    const dir = freshDir();
    for (const step of [80, 85]) await writeCheckpoint(dir, await stateAt(step, 'old-run'));
    await writeCheckpoint(dir, await stateAt(7)); // written before run ids
    for (const step of [45, 50, 55]) await writeCheckpoint(dir, await stateAt(step, 'new-run'));
    expect(ckpts(dir)).toEqual(['ckpt-000007', 'ckpt-000050', 'ckpt-000055', 'ckpt-000080', 'ckpt-000085']);
    const runs = (await checkpointRecords(dir)).map((r) => [r.name, r.meta?.runId]);
    expect(runs).toEqual([
      ['ckpt-000085', 'old-run'],
      ['ckpt-000080', 'old-run'],
      ['ckpt-000055', 'new-run'],
      ['ckpt-000050', 'new-run'],
      ['ckpt-000007', undefined],
    ]);
    expect((await loadLatestCheckpoint(dir)).checkpoint!.runId).toBe('old-run');
  });

  it('a checkpoint renamed to a later step is refused as renamed, the previous one is used, and pruning goes by its real step', async () => {
    const dir = freshDir();
    for (const step of [30, 45]) await writeCheckpoint(dir, await stateAt(step, 'r'));
    renameSync(join(dir, 'ckpt-000030'), join(dir, 'ckpt-000099'));
    const { checkpoint, warnings } = await loadLatestCheckpoint(dir);
    expect(checkpoint!.name).toBe('ckpt-000045');
    expect(checkpoint!.globalStep).toBe(45);
    expect(warnings).toEqual([
      expect.stringMatching(
        /checkpoint ckpt-000099 is unusable: its name says step 99 but its meta\.json says step 30 \(renamed or copied\?\); rename it to ckpt-000030 or remove it; falling back to the previous one/,
      ),
    ]);
    // The stale directory is the run's step-30 checkpoint: the oldest, so the next write prunes it.
    await writeCheckpoint(dir, await stateAt(60, 'r'));
    expect(ckpts(dir)).toEqual(['ckpt-000045', 'ckpt-000060']);
  });
});

describe('a full disk (a real tmpfs)', () => {
  const disks: Array<{ unmount(): void }> = [];
  afterAll(() => disks.forEach((d) => d.unmount()));
  const disk = (bytes: number) => {
    const d = mountTmpfs(bytes);
    disks.push(d);
    return d.dir;
  };

  it('room for exactly the 2 kept: every write succeeds, the oldest making room when the disk is full', async () => {
    const dir = join(disk(2.5 * PAGES_PER_CHECKPOINT), 'ckpts');
    const made: string[][] = [];
    for (const step of [1, 2, 3, 4, 5]) made.push((await writeCheckpoint(dir, await stateAt(step, 'r'), { keep: 2 })).madeRoom);
    expect(made).toEqual([[], [], ['ckpt-000001'], ['ckpt-000002'], ['ckpt-000003']]);
    expect(ckpts(dir)).toEqual(['ckpt-000004', 'ckpt-000005']);
    expect((await loadLatestCheckpoint(dir)).checkpoint!.globalStep).toBe(5);
  });

  it('room for one: ENOSPC is one error naming the checkpoint, the cause, the size and the last complete one; nothing else changes', async () => {
    const dir = join(disk(1.5 * PAGES_PER_CHECKPOINT), 'ckpts');
    const one = await stateAt(1, 'r');
    await writeCheckpoint(dir, one);
    const err = await rejection(writeCheckpoint(dir, await stateAt(2, 'r')));
    expect(err.code).toBe(ErrorCodes.IO);
    expect(err.message).toMatch(
      new RegExp(
        `^cannot write checkpoint ${dir}/ckpt-000002: ENOSPC: no space left on device, write \\(a checkpoint needs about 15\\d\\.\\d KiB; the directory needs room for two: the newest is kept while the next is written\\); the last complete checkpoint is ${dir}/ckpt-000001 \\(step 1\\)$`,
      ),
    );
    // The temporary directory is gone; the earlier checkpoint is intact, to the bit.
    expect(ckpts(dir)).toEqual(['ckpt-000001']);
    const { checkpoint, warnings } = await loadLatestCheckpoint(dir);
    expect(warnings).toEqual([]);
    expect(Buffer.from(checkpoint!.weights[0].buffer).equals(Buffer.from(one.weights[0].buffer))).toBe(true);
  });
});

describe('I/O errors through the writer seam', () => {
  it.each([
    ['EIO', 'i/o error'],
    ['EDQUOT', 'disk quota exceeded'],
  ])('%s while writing: one error naming the checkpoint and the cause, the temporary directory removed', async (code, text) => {
    const dir = freshDir();
    await writeCheckpoint(dir, await stateAt(1, 'r'));
    const fail = (name: string) => {
      if (name === 'optimizer.bin') throw Object.assign(new Error(`${code}: ${text}, write`), { code, syscall: 'write', errno: -5 });
    };
    const err = await rejection(writeCheckpoint(dir, await stateAt(2, 'r'), { afterFile: fail }));
    expect(err.code).toBe(ErrorCodes.IO);
    expect(err.message).toMatch(
      new RegExp(`^cannot write checkpoint ${dir}/ckpt-000002: ${code}: ${text}, write.*; the last complete checkpoint is ${dir}/ckpt-000001 \\(step 1\\)$`),
    );
    expect(err.message.includes('needs room for two')).toBe(code === 'EDQUOT');
    expect(ckpts(dir)).toEqual(['ckpt-000001']);
    expect(existsSync(join(dir, 'ckpt-000001', 'meta.json'))).toBe(true);
  });

  it('EDQUOT with older checkpoints of the run: the oldest makes room and the write is tried again', async () => {
    const dir = freshDir();
    for (const step of [1, 2]) await writeCheckpoint(dir, await stateAt(step, 'r'), { keep: 3 });
    let failures = 0;
    const quota = (name: string) => {
      if (name === 'weights.bin' && failures++ === 0) throw Object.assign(new Error('EDQUOT: disk quota exceeded, write'), { code: 'EDQUOT' });
    };
    const e = await writeCheckpoint(dir, await stateAt(3, 'r'), { keep: 3, afterFile: quota });
    expect(e.madeRoom).toEqual(['ckpt-000001']);
    expect(ckpts(dir)).toEqual(['ckpt-000002', 'ckpt-000003']);
  });
});

/**
 * Checkpoints of a run in a root directory that holds nothing but them:
 *
 *   DIR/ckpt-000469/            one complete checkpoint (format.ts)
 *   DIR/ckpt-000938/
 *   DIR/.tmp-ckpt-001407-<id>/  being written; never read; removed by the next write
 *
 * A write goes to a temporary directory in DIR, every file and the directory are fsynced, and a
 * rename publishes it: a reader sees the whole checkpoint or none of it, and a crash midway leaves
 * the previous ones intact. Then the root is pruned to the newest `keep` OF THE RUN WRITING
 * (meta.json's runId; by meta.json's step, not the name): another run's checkpoints are never
 * deleted. When the disk is full, the run's oldest checkpoints make room (the newest complete one
 * always stays), so a run that fitted once keeps fitting. Loading verifies checksums and falls
 * back from a corrupt newest checkpoint to the previous one, with a warning.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import {
  CHECKPOINT_FILES,
  CHECKPOINT_NAME as CKPT,
  checkStateFinite,
  checkpointName,
  encodeCheckpoint,
  writeCheckpointFiles,
  type CheckpointMeta,
  type CheckpointState,
  type DataShape,
} from './format.js';
import { CorruptCheckpointError, readCheckpointFiles, readCheckpointMeta } from './read.js';
import { checkCompatible } from './compatible.js';

export * from './format.js';
export * from './read.js';
export { checkCompatible } from './compatible.js';

const TMP = /^\.tmp-ckpt-\d+-\w+$/;
/** A checkpoint moved aside while one of the same step replaces it (see commitDir). */
const OLD = /^\.old-(ckpt-\d+)-\w+$/;

export interface CheckpointEntry {
  name: string;
  path: string;
  globalStep: number;
}

export interface WrittenCheckpoint extends CheckpointEntry {
  /** Bytes of the checkpoint's files (what the disk needs per checkpoint). */
  bytes: number;
  /** Checkpoints of this run removed to make room before the write (disk full), oldest first. */
  madeRoom: string[];
}

export interface LoadedCheckpoint extends CheckpointState {
  name: string;
  path: string;
}

/** What the caller's model and data look like, to refuse a checkpoint made for others. */
export interface CheckpointExpectation {
  /** Every weight in model.getWeights() order (names are informative: compared by position). */
  weights?: Array<{ name?: string; shape: number[] }>;
  /** model.toJSON(null, false): layer classes and configs are compared, names and initializers not. */
  topology?: object;
  /** Only the given fields are compared (evaluation needs no trainCount). */
  dataShape?: Partial<DataShape>;
}

export interface WriteCheckpointOptions {
  /** Checkpoints kept after the write, newest by step. Default 2. */
  keep?: number;
  /** Fault-injection seam for tests: called after each file is on disk. */
  afterFile?: (name: string) => void | Promise<void>;
}

/** fsync a directory so that the renames and creations in it are on disk (a no-op where unsupported). */
async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}

async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Refuses a checkpoint root that holds anything but checkpoints, before anything is written.
 * `label` names the value in messages (e.g. the CLI flag).
 */
async function foreignCheck(dir: string, label: string): Promise<string[]> {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label} ${dir}: is not a directory`);
  const names = (await entriesOf(dir)).sort();
  for (const name of names) {
    const ours = (CKPT.test(name) || TMP.test(name) || OLD.test(name)) && statSync(join(dir, name)).isDirectory();
    if (!ours) {
      const hint = (Object.values(CHECKPOINT_FILES) as string[]).includes(name)
        ? ' (this looks like ONE checkpoint; give the directory that holds the ckpt-* directories)'
        : '';
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label} ${dir}: is not a threadfit checkpoint directory: found ${name}${hint}`);
    }
  }
  return names;
}

/** The checkpoints in `dir`, newest first. A missing or empty directory has none. */
export async function listCheckpoints(dir: string, label = 'checkpoint directory'): Promise<CheckpointEntry[]> {
  const names = await foreignCheck(dir, label);
  const found = new Map<string, string>();
  for (const n of names) if (CKPT.test(n)) found.set(n, join(dir, n));
  // A crash between the two renames of a same-step swap leaves only the old one, moved aside.
  for (const n of names) {
    const m = OLD.exec(n);
    if (m && !found.has(m[1])) found.set(m[1], join(dir, n));
  }
  return [...found].map(([name, path]) => ({ name, path, globalStep: Number(CKPT.exec(name)![1]) })).sort((a, b) => b.globalStep - a.globalStep);
}

/**
 * Start-up validation for a checkpoint root to write into: it exists or can be created, it is a
 * directory, it is writable (checked by creating and removing a probe), and it holds nothing
 * but threadfit checkpoints. Creates nothing that stays.
 */
export async function checkCheckpointDir(dir: string, label = 'checkpoint directory'): Promise<void> {
  let existing = resolve(dir);
  while (!existsSync(existing)) existing = dirname(existing);
  const isRoot = existing === resolve(dir);
  if (isRoot) await foreignCheck(dir, label);
  else if (!statSync(existing).isDirectory()) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label} ${dir}: cannot be created, ${existing} is not a directory`);
  }
  try {
    const probe = join(existing, `.tmp-ckpt-0-probe${randomBytes(4).toString('hex')}`);
    await mkdir(probe);
    await rmdir(probe);
  } catch (err) {
    const why = isRoot ? 'is not writable' : `cannot be created (${existing} is not writable)`;
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label} ${dir}: ${why}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** Publishes `tmp` as `target`; a same-step checkpoint is swapped out, then removed. */
async function commitDir(tmp: string, target: string): Promise<void> {
  const root = dirname(target);
  if (existsSync(target)) {
    const old = join(root, `.old-${basename(target)}-${randomBytes(4).toString('hex')}`);
    await rename(target, old);
    await rename(tmp, target);
    await syncDir(root);
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(tmp, target);
  }
  // The rename is durable only once the root directory's entry is on disk.
  await syncDir(root);
}

/** Removes leftovers of interrupted writes: temporary dirs, and moved-aside ones already replaced. */
async function cleanLeftovers(dir: string, names: string[]): Promise<void> {
  const present = new Set(names.filter((n) => CKPT.test(n)));
  for (const n of names) {
    const old = OLD.exec(n);
    if (old && !present.has(old[1])) {
      await rename(join(dir, n), join(dir, old[1]));
      present.add(old[1]);
    } else if (old || TMP.test(n)) await rm(join(dir, n), { recursive: true, force: true });
  }
}

/** A complete checkpoint (it has a meta.json) with its meta.json, or why that is unusable. */
export interface CheckpointRecord extends CheckpointEntry {
  meta?: CheckpointMeta;
  /** Why meta.json could not be used (then the writer is unknown). */
  problem?: string;
}

/**
 * The complete checkpoints in `dir` (newest name first) with their meta.json, read but not the
 * data files. Debris without meta.json is left out. A renamed checkpoint comes with its meta
 * (its step is meta.globalStep, not the name's).
 */
export async function checkpointRecords(dir: string, label = 'checkpoint directory'): Promise<CheckpointRecord[]> {
  const out: CheckpointRecord[] = [];
  for (const e of await listCheckpoints(dir, label)) {
    if (!existsSync(join(e.path, CHECKPOINT_FILES.meta))) continue;
    try {
      out.push({ ...e, meta: await readCheckpointMeta(e.path, e.name, { allowRenamed: true }) });
    } catch (err) {
      if (!(err instanceof CorruptCheckpointError)) throw err;
      out.push({ ...e, problem: err.reason });
    }
  }
  return out;
}

/** The checkpoints of run `runId` (undefined: those written before run ids), newest state first. */
const runRecords = (records: CheckpointRecord[], runId: string | undefined): Array<CheckpointRecord & { meta: CheckpointMeta }> =>
  records
    .filter((r): r is CheckpointRecord & { meta: CheckpointMeta } => r.meta !== undefined && r.meta.runId === runId)
    .sort((a, b) => b.meta.globalStep - a.meta.globalStep || b.globalStep - a.globalStep);

const SPACE_ERRORS = new Set(['ENOSPC', 'EDQUOT']);
const errnoOf = (err: unknown): string | undefined => {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
};
export const formatBytes = (n: number): string =>
  n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`;

/**
 * Writes `state` as DIR/ckpt-<globalStep>, atomically, then keeps the newest `keep` checkpoints
 * of the same run (state.runId): the one just written, then the rest by meta.json's step.
 * Another run's checkpoints, and ones whose meta.json is unreadable, are never deleted.
 * Disk full (ENOSPC, EDQUOT): the temporary directory is removed, the run's oldest checkpoint
 * deleted to make room (never its newest) and the write tried again. A write that still fails is
 * ERR_THREADFIT_IO naming the checkpoint, the cause and the last complete checkpoint.
 * Refuses (ERR_THREADFIT_NON_FINITE) a state with a non-finite weight or optimizer value, and a
 * root holding anything else (ERR_THREADFIT_INVALID_OPTION); in both cases nothing is written.
 */
export async function writeCheckpoint(dir: string, state: CheckpointState, options: WriteCheckpointOptions = {}): Promise<WrittenCheckpoint> {
  const keep = options.keep ?? 2;
  if (!Number.isInteger(keep) || keep < 1) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `checkpoint keep must be a positive integer, got ${keep}`);
  checkStateFinite(state);
  const names = await foreignCheck(dir, 'checkpoint directory');
  const name = checkpointName(state.globalStep);
  const target = join(dir, name);
  const files = encodeCheckpoint(state);
  // meta.json is a few KiB; counted as 4 KiB for the space a checkpoint needs.
  const approxBytes = Object.values(files).reduce((a, b) => a + b.byteLength, 4096);
  // The run's other complete checkpoints: what may make room, the newest never.
  const older = runRecords(await checkpointRecords(dir), state.runId).filter((r) => r.name !== name);
  const madeRoom: string[] = [];
  let bytes: number;
  let prepared = false;
  for (;;) {
    try {
      if (!prepared) {
        await mkdir(dir, { recursive: true });
        await cleanLeftovers(dir, names);
        prepared = true;
      }
      bytes = await writeOnce(dir, name, state, files, options.afterFile);
      break;
    } catch (err) {
      const code = errnoOf(err);
      if (code === undefined) throw err;
      if (SPACE_ERRORS.has(code) && older.length > 1) {
        const victim = older.pop()!;
        await rm(victim.path, { recursive: true, force: true });
        await syncDir(dir);
        madeRoom.push(victim.name);
        continue;
      }
      const last = older[0];
      const space = SPACE_ERRORS.has(code)
        ? ` (a checkpoint needs about ${formatBytes(approxBytes)}; the directory needs room for two: the newest is kept while the next is written)`
        : '';
      throw new ThreadfitError(
        ErrorCodes.IO,
        `cannot write checkpoint ${target}: ${(err as Error).message}${space}; ${
          last ? `the last complete checkpoint is ${last.path} (step ${last.meta.globalStep})` : 'no complete checkpoint of this run was written before'
        }`,
        { cause: err },
      );
    }
  }
  // Prune: debris without meta.json (never published by us: a rename publishes complete ones),
  // then the run's own beyond the newest `keep`, the one just written always kept.
  for (const e of await listCheckpoints(dir))
    if (e.name !== name && !existsSync(join(e.path, CHECKPOINT_FILES.meta))) await rm(e.path, { recursive: true, force: true });
  const own = runRecords(await checkpointRecords(dir), state.runId).filter((r) => r.name !== name);
  for (const stale of own.slice(keep - 1)) await rm(stale.path, { recursive: true, force: true });
  await syncDir(dir);
  return { name, path: target, globalStep: state.globalStep, bytes, madeRoom };
}

/** One attempt: a temporary directory, the files, fsync, the rename; the temporary directory is removed on failure. */
async function writeOnce(
  dir: string,
  name: string,
  state: CheckpointState,
  files: Record<string, Uint8Array>,
  afterFile: WriteCheckpointOptions['afterFile'],
): Promise<number> {
  // mkdir, not mkdtemp: the checkpoint keeps the umask's permissions (mkdtemp makes it 0700).
  const tmp = join(dir, `.tmp-${name}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    const bytes = await writeCheckpointFiles(tmp, state, afterFile, files);
    await syncDir(tmp);
    await commitDir(tmp, join(dir, name));
    return bytes;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Reads one checkpoint directory, verifying its checksums (ERR_THREADFIT_CHECKSUM if corrupt). */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  const name = basename(path).replace(OLD, '$1');
  return { ...(await readCheckpointFiles(path, name)), name, path };
}

export interface LoadResult {
  /** The newest valid checkpoint; undefined when the root holds none (missing or empty). */
  checkpoint?: LoadedCheckpoint;
  /** One line per corrupt checkpoint skipped on the way. */
  warnings: string[];
}

/**
 * The newest valid checkpoint in `dir`. Corrupt ones are skipped with a warning; if every one is
 * corrupt, ERR_THREADFIT_CHECKSUM. A checkpoint made for another model or data shape is refused
 * (ERR_THREADFIT_INVALID_OPTION, naming what differs) rather than skipped: an older one would not fit either.
 */
export async function loadLatestCheckpoint(dir: string, expect?: CheckpointExpectation, label = 'checkpoint directory'): Promise<LoadResult> {
  const warnings: string[] = [];
  const entries = await listCheckpoints(dir, label);
  for (const e of entries) {
    try {
      const ckpt = await loadCheckpoint(e.path);
      if (expect) checkCompatible(ckpt, expect);
      return { checkpoint: ckpt, warnings };
    } catch (err) {
      if (!(err instanceof CorruptCheckpointError)) throw err;
      warnings.push(`${err.message}; ${e === entries.at(-1) ? 'no older checkpoint left' : 'falling back to the previous one'}`);
    }
  }
  if (entries.length > 0) throw new ThreadfitError(ErrorCodes.CHECKSUM, `${label} ${dir}: no valid checkpoint: ${warnings.join('; ')}`);
  return { warnings };
}

/**
 * A group of ranks on several hosts, over one gloo TCP context. The context lives in the addon's
 * process-wide registry: `Group.create` in one thread, `Group.attach(handle, ...)` in any other
 * thread of the same process, one collective at a time per group.
 *
 *   host A: rank 0                host B: rank 1               host C: rank 2
 *   main thread --create-->  registry[handle] = gloo context (TCP pairs to every peer)
 *   worker thread --attach(handle)--> allreduce(Float32Array on shared memory, in place)
 */
import { CommError, CommErrorCodes, describe, invalidOption } from './errors.js';
import { interfaceAddress, pickInterface, soleInterface } from './interface.js';
import { native, type WireArray } from './native.js';
import { validateGroupOptions, validateTimeout, type CallOptions, type GroupOptions } from './options.js';

function timeoutOf(o: CallOptions | undefined, fallback: number): number {
  if (o === undefined || o.timeoutMs === undefined) return fallback;
  return validateTimeout(o.timeoutMs, 'timeoutMs', 'call options');
}

export class Group {
  /** The process-wide handle: pass it to a worker thread and `attach` there. */
  readonly handle: number;
  readonly rank: number;
  readonly size: number;
  /** The group's name in the store and in error messages. */
  readonly prefix: string;
  /** The default timeout of a collective. */
  readonly timeoutMs: number;

  private constructor(handle: number, info: { rank: number; size: number; prefix: string; timeoutMs: number }) {
    this.handle = handle;
    this.rank = info.rank;
    this.size = info.size;
    this.prefix = info.prefix;
    this.timeoutMs = info.timeoutMs;
  }

  /**
   * Rendezvous: every rank calls this with the same `size`, `store` and `prefix`; resolves when
   * this rank is connected to all others. Rejects (`ERR_THREADFIT_COMM`) after `timeoutMs` when a
   * rank does not show up, and (`ERR_THREADFIT_INVALID_OPTION`) on bad options before any I/O.
   */
  static async create(options: GroupOptions): Promise<Group> {
    const o = validateGroupOptions(options);
    const addon = native();
    const where = o.iface !== undefined ? interfaceAddress(o.iface) : o.store.type === 'redis' ? await pickInterface(o.store.host) : soleInterface();
    // The address itself, not the interface name: gloo would take an interface's first address,
    // which may be a link-local IPv6 one.
    const handle = await addon.createGroup({ rank: o.rank, size: o.size, store: o.store, prefix: o.prefix, hostname: where.address, timeoutMs: o.timeoutMs });
    return new Group(handle, addon.groupInfo(handle));
  }

  /**
   * The group `handle` (made by `create` in another thread of this process), from this thread.
   * `rank` and `size` are checked against the group's own.
   */
  static attach(handle: number, rank: number, size: number): Group {
    if (!Number.isInteger(handle) || handle < 1) throw invalidOption('handle', handle, 'a group handle (a positive integer)', 'Group.attach');
    const info = native().groupInfo(handle);
    if (info.rank !== rank || info.size !== size) {
      throw new CommError(
        CommErrorCodes.INVALID_OPTION,
        `Group.attach(${handle}): the group is rank ${info.rank} of ${info.size} (${info.prefix}), got rank ${describe(rank)} of ${describe(size)}`,
      );
    }
    return new Group(handle, info);
  }

  /** Sum over all ranks, in place; every rank ends with the same bits (gloo's ring). */
  async allreduce(data: Float32Array, o?: CallOptions): Promise<void> {
    await native().allreduce(this.handle, data, timeoutOf(o, this.timeoutMs));
  }

  /**
   * Sum over all ranks, in place, of which rank r keeps its own segment: `recvCounts[r]` elements
   * at offset `recvCounts[0] + ... + recvCounts[r-1]`. The other segments hold partial sums.
   */
  async reduceScatter(data: Float32Array, recvCounts: readonly number[], o?: CallOptions): Promise<void> {
    await native().reduceScatter(this.handle, data, [...recvCounts], timeoutOf(o, this.timeoutMs));
  }

  /** `output` = every rank's `input` in rank order; `output.length === size * input.length`. */
  async allgather<T extends WireArray>(input: T, output: T, o?: CallOptions): Promise<void> {
    await native().allgather(this.handle, input, output, timeoutOf(o, this.timeoutMs));
  }

  /** Rank `root`'s `data` into every rank's `data`. */
  async broadcast(data: WireArray, root: number, o?: CallOptions): Promise<void> {
    await native().broadcast(this.handle, data, root, timeoutOf(o, this.timeoutMs));
  }

  /** Resolves once every rank has entered. */
  async barrier(o?: CallOptions): Promise<void> {
    await native().barrier(this.handle, timeoutOf(o, this.timeoutMs));
  }

  /**
   * Closes the group for the whole process (every thread that attached): its connections close
   * once a collective in flight, if any, has finished. Idempotent.
   */
  close(): void {
    native().closeGroup(this.handle);
  }
}

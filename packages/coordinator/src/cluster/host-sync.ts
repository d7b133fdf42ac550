/**
 * A trainer's side of several hosts: each step's share of the global batch and the stop vote that
 * rides on it, recovery after a failed step or collective (re-form the group on the survivors,
 * then take the most advanced host's state), and the host-level gathers and barriers of the fit
 * loop. One host has none of this (Trainer.hosts is 1).
 */
import { Control, ErrorCodes, HostFlag, hasCode, shardRanges, type Logger, type StateLayout, type StateViews } from '@threadfit/shared';
import type { HostGroup } from './host-group.js';
import type { Supervisor } from '../engine/supervisor.js';

/** The epoch-end gather across hosts follows validation, whose time differs per host. */
export const EPOCH_GATHER_TIMEOUT_MS = 120_000;

export class HostSync {
  /** Steps this host completed (committed or skipped), or took from a host ahead: what hosts compare. */
  #completed = 0;
  /** This host was asked to stop; and every host's vote, summed with the last step. */
  #stopRequested = false;
  #stopAgreed = false;

  constructor(
    readonly group: HostGroup,
    private readonly views: StateViews,
    private readonly layout: StateLayout,
    private readonly supervisor: Supervisor,
    private readonly log: Logger,
  ) {}

  get hostRank(): number {
    return this.group.hostRank;
  }
  get hosts(): number {
    return this.group.hosts;
  }
  get stopAgreed(): boolean {
    return this.#stopAgreed;
  }
  requestStop(): void {
    this.#stopRequested = true;
  }

  /**
   * This host's rows of a global batch (its shard: the shards change when the group shrinks),
   * and the factor that makes each slot's weight its share of the GLOBAL batch, so that the sum
   * across hosts is the mean. Writes this host's stop vote for the step's collective.
   */
  shareOf(indices: ArrayLike<number>): { rows: Int32Array; scale: number } {
    const mine = shardRanges(indices.length, this.group.hosts)[this.group.hostRank];
    const rows = Int32Array.from({ length: mine.end - mine.start }, (_, i) => indices[mine.start + i]);
    this.views.hostFlags[HostFlag.STOP] = this.#stopRequested ? 1 : 0;
    return { rows, scale: rows.length / indices.length };
  }

  /** After a released step: count it, and read the stop vote the step's sum carried. */
  afterStep(medianStepMs: number): void {
    this.#completed++;
    this.group.setMedianStep(medianStepMs);
    if (this.views.hostFlags[HostFlag.STOP] > 0) this.#stopAgreed = true;
  }

  /**
   * After a failed step: re-form the host group on the survivors, then make every host's state
   * that of the most advanced one (a peer may have completed the step this host failed: a ring can
   * finish on some ranks and not on others). True when this host's pending step turns out
   * completed elsewhere (it then moves on); false: run the step again.
   */
  async recover(cause: string, err: unknown, phaseTimeoutMs = 0): Promise<boolean> {
    for (;;) {
      this.supervisor.onHostFailure(this.#step + 1, cause, err);
      try {
        await this.group.reform(`step ${this.#step + 1}: ${cause}`, phaseTimeoutMs);
        const ahead = await this.#syncFromMostAdvanced();
        if (ahead) this.log.warn({ step: this.#step }, 'another host had completed this step: taking its result and moving on');
        return ahead;
      } catch (e) {
        // Another host failed during the recovery itself: re-form again. (A lost group is not COMM.)
        if (!hasCode(e, ErrorCodes.COMM)) throw e;
      }
    }
  }

  get #step(): number {
    return Atomics.load(this.views.control, Control.STEP);
  }

  /**
   * Every host takes the committed weights, optimizer state, step and stop vote of the host that
   * completed the most steps (the lowest rank among equals). True when that is ahead of this host.
   * (Non-trainable buffers are refused across hosts, so there are none to send.)
   */
  async #syncFromMostAdvanced(): Promise<boolean> {
    const group = this.group;
    // The stop vote too: a host that completed the step others failed may have read it.
    const rows = await group.allgather([this.#completed, this.#step, this.#stopAgreed ? 1 : 0]);
    if (rows.some((r) => r[2] > 0)) this.#stopAgreed = true;
    const best = Math.max(...rows.map((r) => r[0]));
    const root = rows.findIndex((r) => r[0] === best);
    const { views } = this;
    const c = views.committed;
    // The root sends its committed buffers; the others receive into their UNcommitted ones and flip
    // only when every part has arrived, so a root dying mid-sync leaves nothing half-written.
    const isRoot = group.hostRank === root;
    const into = isRoot ? c : ((1 - c) as 0 | 1);
    await group.broadcast(views.params(into), root);
    for (let s = 0; s < this.layout.state.length; s++) await group.broadcast(views.state(s, into), root);
    if (!isRoot) {
      Atomics.store(views.control, Control.COMMITTED, into);
      Atomics.store(views.control, Control.STEP, rows[root][1]);
    }
    const ahead = best > this.#completed;
    this.#completed = best;
    this.log.info({ generation: group.generation, hostRank: group.hostRank, hosts: group.hosts, from: root, step: rows[root][1] }, 'state synced across hosts');
    return ahead;
  }

  /** Each host's `values`, in host-rank order. A failure re-forms the group and returns this host's own row only. */
  async gather(values: readonly number[]): Promise<number[][]> {
    try {
      // Once an epoch, after work that differs per host (validation): a long timeout.
      return await this.group.allgather(values, EPOCH_GATHER_TIMEOUT_MS);
    } catch (err) {
      if (!hasCode(err, ErrorCodes.COMM)) throw err;
      // Not gathered again: a host may have completed this gather before the failure and moved
      // on to the next step; after the re-form every host is at the same point again.
      await this.recover(`the epoch-end gather failed: ${(err as Error).message}`, err, EPOCH_GATHER_TIMEOUT_MS);
      this.log.warn("a host failed at the epoch end: this epoch's figures are this host's own");
      return [[...values]];
    }
  }

  /** Waits for every host after uneven work (worker start-up, a checkpoint only rank 0 writes). */
  async barrier(timeoutMs: number): Promise<void> {
    try {
      await this.group.barrier(timeoutMs);
    } catch (err) {
      if (!hasCode(err, ErrorCodes.COMM)) throw err;
      // The re-form itself lines the survivors up: the barrier is not tried again (a host may
      // have passed it before the failure).
      await this.recover(`a host barrier failed: ${(err as Error).message}`, err, timeoutMs);
    }
  }
}

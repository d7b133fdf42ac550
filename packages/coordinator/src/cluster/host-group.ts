/**
 * The hosts of a multi-host run, as Gloo groups: one control group (host-level agreement and
 * state sync) and one group per chunk of the parameter vector (the hierarchical step's W rings).
 *
 * Generations. Every rendezvous is a generation g: its groups live under `${job}/g${g}/...` in the
 * store. Generation 0 is every launched host. When a collective fails (a host died, hung or was cut
 * off), every survivor fails the same step; each then runs `reform()`:
 *
 *   1. alive:  set g{n}/alive/{launchRank}; wait the settle window (the comm timeout + 1 s, so a
 *              survivor that only timed out is in time);
 *   2. decide: the candidates whose alive key exists are this host's view; it tries to write them
 *              as g{n}/members. Store keys are write-once (Redis SETNX), so the first writer
 *              decides for everyone and the others read its list: one decision per generation.
 *   3. adopt:  a host missing from the list was too late: it stops (no split brain, no host
 *              training alone beside the group). Fewer than minHosts: training stops.
 *   4. groups: new control and chunk groups under g{n} (a member dying now: generation n+1); the
 *              caller then syncs the state from the most advanced host (a peer may have completed
 *              the step others failed).
 *
 * Hosts never join a running group: this is shrink-only elasticity, down to `minHosts`.
 */
import { ErrorCodes, ThreadfitError, type CommGroup, type CommModule, type CommStore, type Logger } from '@threadfit/shared';
import type { ClusterSpec } from './env.js';

export interface JoinOptions {
  /** Chunk groups to create: the worker count, equal on every host. */
  chunks: number;
  /** The settings every host must share (workers, batch, seed, data, model...), compared at join. */
  settings: Record<string, unknown>;
  iface: { name: string; address: string };
  log: Logger;
  /** How long the first rendezvous waits for every host (they start at different times). */
  joinTimeoutMs?: number;
}

const dec = new TextDecoder();

/** The longest a re-form waits for the other hosts after a phase with uneven work. */
const MAX_SETTLE_MS = 120_000;
/** How often a re-form looks for the other hosts' alive keys. */
const SETTLE_POLL_MS = 100;

/** A write-once store key that another host wrote first (Redis SETNX; the file store's link()). */
export function isKeyTaken(err: unknown): boolean {
  return /already set|already exists/.test((err as Error | undefined)?.message ?? '');
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Default per-collective timeout: max(5 s, 10 x the median step). */
export function commTimeoutFor(medianStepMs: number | undefined, fixed?: number): number {
  if (fixed !== undefined) return fixed;
  return Math.max(5000, 10 * (medianStepMs ?? 0));
}

export class HostGroup {
  #generation = 0;
  #members: number[];
  #control!: CommGroup;
  #chunks: CommGroup[] = [];
  #commTimeoutMs: number;
  #dropped = false;

  private constructor(
    readonly spec: ClusterSpec,
    private readonly comm: CommModule,
    private readonly store: CommStore,
    private readonly opts: JoinOptions,
  ) {
    this.#members = Array.from({ length: spec.worldSize }, (_, i) => i);
    this.#commTimeoutMs = commTimeoutFor(undefined, spec.commTimeoutMs);
  }

  /** Generation 0: every launched host, with the same settings, in launch-rank order. */
  static async join(spec: ClusterSpec, comm: CommModule, opts: JoinOptions): Promise<HostGroup> {
    const store = await comm.Store.open(spec.store, spec.job);
    const g = new HostGroup(spec, comm, store, opts);
    const joinMs = opts.joinTimeoutMs ?? 300_000;
    const mine = JSON.stringify(opts.settings);
    try {
      await store.set(`g0/settings/${spec.launchRank}`, mine);
    } catch (err) {
      // Rendezvous keys are write-once: a job name that an earlier run used cannot meet again.
      if (!isKeyTaken(err)) throw err;
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `job '${spec.job}' was already used in this rendezvous store (a run with this --job has met there before): give every run a new --job (or THREADFIT_JOB), or empty the store`,
        { cause: err },
      );
    }
    for (let r = 0; r < spec.worldSize; r++) {
      if (r === spec.launchRank) continue;
      let theirs: string;
      try {
        theirs = dec.decode(await store.get(`g0/settings/${r}`, joinMs));
      } catch (err) {
        throw new ThreadfitError(
          ErrorCodes.COMM,
          `rendezvous (job ${spec.job}): host ${r} of ${spec.worldSize} did not arrive within ${Math.round(joinMs / 1000)} s: ${(err as Error).message}`,
          { cause: err },
        );
      }
      if (theirs !== mine) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, settingsMismatch(r, JSON.parse(theirs), opts.settings));
    }
    await g.#createGroups(joinMs);
    opts.log.info(
      { job: spec.job, hosts: spec.worldSize, hostRank: spec.launchRank, iface: opts.iface.name, address: opts.iface.address, source: spec.source },
      `joined ${spec.worldSize} hosts (rank ${spec.launchRank}, ${opts.chunks} Gloo rings)`,
    );
    return g;
  }

  get generation(): number {
    return this.#generation;
  }
  /** This host's rank in the current generation (0 writes checkpoints and the report). */
  get hostRank(): number {
    return this.#members.indexOf(this.spec.launchRank);
  }
  get hosts(): number {
    return this.#members.length;
  }
  /** Launch ranks of the current members, in rank order. */
  get members(): readonly number[] {
    return this.#members;
  }
  get commTimeoutMs(): number {
    return this.#commTimeoutMs;
  }
  /** Follows the step clock (unless --comm-timeout fixed it). */
  setMedianStep(ms: number): void {
    this.#commTimeoutMs = commTimeoutFor(ms, this.spec.commTimeoutMs);
  }
  chunkGroup(c: number): CommGroup {
    return this.#chunks[c];
  }
  get control(): CommGroup {
    return this.#control;
  }

  async #createGroups(timeoutMs: number): Promise<void> {
    const base = `${this.spec.job}/g${this.#generation}`;
    const make = (name: string) =>
      this.comm.Group.create({
        rank: this.hostRank,
        size: this.hosts,
        store: this.spec.store,
        prefix: `${base}/${name}`,
        iface: this.opts.iface.name,
        timeoutMs,
      });
    try {
      // One at a time: every host creates them in the same order, each a full mesh through the store.
      this.#control = await make('ctl');
      this.#chunks = [];
      for (let c = 0; c < this.opts.chunks; c++) this.#chunks.push(await make(`c${c}`));
    } catch (err) {
      this.#closeGroups();
      throw new ThreadfitError(ErrorCodes.COMM, `connecting the Gloo groups of generation ${this.#generation} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  #closeGroups(): void {
    for (const g of [this.#control, ...this.#chunks]) {
      try {
        g?.close();
      } catch {
        // already closed
      }
    }
    this.#chunks = [];
  }

  /**
   * A new generation of the survivors (see the file comment). Throws when this host was dropped
   * by the others, or fewer than minHosts are left.
   */
  async reform(cause: string, phaseTimeoutMs = 0): Promise<void> {
    const { log } = this.opts;
    const me = this.spec.launchRank;
    this.#closeGroups();
    let candidates = [...this.#members];
    // How long to wait for the others to arrive: they fail this same collective at most a comm
    // timeout later; after a phase with uneven work (a checkpoint, validation) as long as that
    // phase may take, up to MAX_SETTLE_MS. Cut short as soon as every candidate has arrived.
    const settleMs = Math.max(this.#commTimeoutMs + 1000, Math.min(phaseTimeoutMs, MAX_SETTLE_MS));
    for (let attempt = 0; attempt < 5; attempt++) {
      const gen = await this.#nextGeneration();
      this.#generation = gen;
      log.warn({ generation: gen, cause, candidates }, 'a collective failed: re-forming the host group');
      await this.store.set(`g${gen}/alive/${me}`, '1');
      const alive = async () => {
        const view: number[] = [];
        for (const r of candidates) if (r === me || (await this.store.check([`g${gen}/alive/${r}`]))) view.push(r);
        return view;
      };
      const deadline = performance.now() + settleMs;
      let view = await alive();
      while (view.length < candidates.length && performance.now() < deadline && !(await this.store.check([`g${gen}/members`]))) {
        await sleep(SETTLE_POLL_MS);
        view = await alive();
      }
      // ONE decision per generation: store keys are write-once (Redis SETNX; the file store links
      // atomically), so the first host to write the member list decides for everyone.
      try {
        await this.store.set(`g${gen}/members`, JSON.stringify(view));
      } catch (err) {
        if (!isKeyTaken(err)) throw err;
      }
      const decided = JSON.parse(dec.decode(await this.store.get(`g${gen}/members`, settleMs))) as number[];
      if (!decided.includes(me)) this.#drop(gen, settleMs);
      const lost = this.#members.filter((r) => !decided.includes(r));
      // The new ranks hold even when training stops below (rank 0 of the survivors checkpoints).
      this.#members = decided;
      if (decided.length < this.spec.minHosts) {
        throw new ThreadfitError(
          ErrorCodes.HOST_GROUP_LOST,
          `only ${decided.length} of ${this.spec.worldSize} hosts are left (hosts ${decided.join(', ')}), fewer than the minimum ${this.spec.minHosts}: ${cause}`,
        );
      }
      try {
        await this.#createGroups(settleMs * 2);
      } catch (err) {
        // A member died between the decision and the connection: one more generation.
        log.warn({ generation: gen, cause: (err as Error).message }, 'connecting the new generation failed');
        candidates = decided;
        continue;
      }
      log.warn({ generation: gen, hosts: decided.length, lost, hostRank: this.hostRank }, `continuing with ${decided.length} hosts`);
      return;
    }
    throw new ThreadfitError(ErrorCodes.HOST_GROUP_LOST, `the hosts could not re-form after 5 generations: ${cause}`);
  }

  /**
   * The generation to re-form under: one past this host's, past any the others already decided
   * (a host that fell behind catches up instead of waiting alone in an old generation). A decided
   * generation that left this host out means it was dropped.
   */
  async #nextGeneration(): Promise<number> {
    let gen = this.#generation + 1;
    while (await this.store.check([`g${gen}/members`])) {
      const members = JSON.parse(dec.decode(await this.store.get(`g${gen}/members`, this.#commTimeoutMs))) as number[];
      if (!members.includes(this.spec.launchRank)) this.#drop(gen, 0);
      gen++;
    }
    return gen;
  }

  #drop(gen: number, settleMs: number): never {
    this.#dropped = true;
    this.#members = [];
    throw new ThreadfitError(
      ErrorCodes.HOST_GROUP_LOST,
      `host ${this.spec.launchRank} was dropped from the group at generation ${gen} (the others did not hear from it${settleMs > 0 ? ` within the settle window of ${settleMs} ms` : ' in time'}); it stops here, the others go on`,
    );
  }

  /** True once the others re-formed without this host: it must stop (and not checkpoint). */
  get dropped(): boolean {
    return this.#dropped;
  }

  /** Waits for every host (after uneven work: worker start-up, a checkpoint only rank 0 writes). */
  async barrier(timeoutMs: number): Promise<void> {
    await this.#control.barrier({ timeoutMs: Math.max(timeoutMs, this.#commTimeoutMs) });
  }

  /**
   * Each host's `values`, in rank order (float64, exact): epoch sums, step timings. Bytes travel
   * through an allgather, so the sum is the same on every host.
   */
  async allgather(values: readonly number[], timeoutMs = this.#commTimeoutMs): Promise<number[][]> {
    const mine = new Float64Array(values);
    const out = new Float64Array(values.length * this.hosts);
    await this.#control.allgather(new Uint8Array(mine.buffer), new Uint8Array(out.buffer), { timeoutMs: Math.max(timeoutMs, this.#commTimeoutMs) });
    return Array.from({ length: this.hosts }, (_, h) => Array.from(out.subarray(h * values.length, (h + 1) * values.length)));
  }

  /** `a` of host `root` into `a` of every host, in place. */
  async broadcast(a: Float32Array | Int32Array | Uint8Array, root: number): Promise<void> {
    if (a.length === 0) return;
    await this.#control.broadcast(a, root, { timeoutMs: this.#commTimeoutMs });
  }

  close(): void {
    this.#closeGroups();
    this.store.close();
  }
}

/** "host 1 was launched with batchSize 64, this host with 128" for every setting that differs. */
export function settingsMismatch(rank: number, theirs: Record<string, unknown>, mine: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(theirs), ...Object.keys(mine)])];
  const diffs = keys
    .filter((k) => JSON.stringify(theirs[k]) !== JSON.stringify(mine[k]))
    .map((k) => `${k} ${JSON.stringify(theirs[k])} there, ${JSON.stringify(mine[k])} here`);
  const resume =
    JSON.stringify(theirs.resumedFrom) !== JSON.stringify(mine.resumedFrom)
      ? '; with --resume every host must load the same checkpoint: put --checkpoint-dir on storage every host sees (host rank 0 writes it)'
      : '';
  return `host ${rank} was started with other settings than this host (${diffs.join('; ')}): every host must run the same command${resume}`;
}

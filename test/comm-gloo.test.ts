/**
 * @threadfit/comm-gloo across real hosts: three network namespaces on one bridge (test/netns.ts),
 * Redis on host 0, one Node process per rank running a fixture from
 * packages/comm-gloo/test/fixtures. Needs root (CI runs as root); without it every test fails
 * with a message saying so. The addon is built first by scripts/setup-gloo.mjs (a no-op when up
 * to date).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Group, Store, loadError, pickInterface } from '../packages/comm-gloo/src/index.js';
import { createLab, type Lab, type NsProcess } from './netns.js';
import { ensureGlooAddon } from './gloo-setup.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'packages/comm-gloo/test/fixtures');
const SIZE = 3;

let lab: Lab;
let procs: NsProcess[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'threadfit-gloo-'));

type Line = { event: string; rank: number; step?: number; ms?: number; code?: string; message?: string; [k: string]: unknown };
const parse = (line: string) => JSON.parse(line) as Line;
const event = (name: string) => (line: string) => line.startsWith('{') && parse(line).event === name;

/** Starts `fixture` as every rank in `hosts` (rank = position), each with `cfg` + its rank. */
function startRanks(fixture: string, cfg: Record<string, unknown>, hosts: number[] = [0, 1, 2]): NsProcess[] {
  const started = hosts.map((host, rank) =>
    lab.node(host, join(FIXTURES, fixture), [JSON.stringify({ rank, size: hosts.length, store: { type: 'redis', ...lab.redis }, timeoutMs: 5000, ...cfg })]),
  );
  procs.push(...started);
  return started;
}
const waitAll = (ps: NsProcess[], name: string, timeoutMs = 20_000) => Promise.all(ps.map((p) => p.waitForLine(event(name), timeoutMs).then(parse)));

beforeAll(async () => {
  await ensureGlooAddon();
  lab = await createLab({ hosts: SIZE, bare: true });
}, 300_000);

afterEach(() => {
  for (const p of procs) p.kill('SIGKILL');
  procs = [];
});

afterAll(() => {
  lab?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

describe('collectives at 3 hosts', () => {
  it('sums exactly on a SharedArrayBuffer and on a shared WebAssembly.Memory; reduceScatter, allgather, broadcast, barrier', async () => {
    const results = await waitAll(startRanks('rank.mjs', { mode: 'collectives', prefix: `${lab.run}/collectives` }), 'collectives');
    // rank r holds r*100 + i: the sum is 0+100+200 + 3i = 300 + 3i.
    const sums = Array.from({ length: 12 }, (_, i) => 300 + 3 * i);
    for (const r of results) {
      expect(r.sab).toEqual(sums);
      expect(r.wasm).toEqual(sums);
      expect(r.canaries).toEqual([-7, -9]); // the floats either side of the view are untouched
      expect(r.bigMismatches).toBe(0); // 2^20+3 integers, 3*(i%1000) + 3
      expect(r.agI).toEqual([0, 0, 1, 10, 2, 20]);
      expect(r.agF).toEqual([0.25, 1.25, 2.25]);
      expect(r.agU).toEqual([0, 255, 7, 1, 255, 7, 2, 255, 7]);
      expect(r.bF).toEqual([2.5, -2]); // root 2's [r+0.5, -r]
      expect(r.bI).toEqual([0, 0]); // root 0's [r, -1000r]
      expect(r.bU).toEqual([2, 2, 2, 2]); // root 1's fill(r+1)
      expect(r.badArray).toMatchObject({ code: 'ERR_THREADFIT_INVALID_OPTION', message: expect.stringContaining('Float32Array, got a Float64Array') });
    }
    // reduceScatter: rank r held (r+1)(i+1), so the sum is 6(i+1); counts 2,3,4 -> offsets 0,2,5.
    expect(results.map((r) => r.rsOwn)).toEqual([
      [6, 12],
      [18, 24, 30],
      [36, 42, 48, 54],
    ]);
    // 100,003 random floats of mixed magnitudes: the same bits on every rank.
    expect(new Set(results.map((r) => r.randSha)).size).toBe(1);
  });

  it('a group created in the main thread is used from a worker thread via attach', async () => {
    const results = await waitAll(startRanks('attach.mjs', { prefix: `${lab.run}/attach` }), 'attach');
    for (const r of results) {
      const reply = r.reply as { sum: number[]; wrongRank: { code: string; message: string } };
      expect(reply.sum).toEqual(new Array(8).fill(6)); // 1+2+3, summed in the worker
      expect(r.mainSees).toEqual(reply.sum); // in place, on the shared buffer
      expect(reply.wrongRank.code).toBe('ERR_THREADFIT_INVALID_OPTION');
      expect(reply.wrongRank.message).toMatch(/the group is rank \d of 3 .*got rank \d of 4/);
    }
  });

  it('rendezvous also works through a file store (a directory all hosts share)', async () => {
    const store = { type: 'file', path: mkdtempSync(join(scratch, 'store-')) };
    const results = await waitAll(startRanks('rank.mjs', { mode: 'collectives', prefix: 'file/collectives', store }), 'collectives');
    for (const r of results) expect(r.sab).toEqual(Array.from({ length: 12 }, (_, i) => 300 + 3 * i));
  });
});

describe('faults', () => {
  const failure = expect.stringMatching(/^allreduce on group .+ \(rank [0-2] of 3\) failed: /);

  it('kill -9 of one host mid-loop: the others reject with ERR_THREADFIT_COMM well within the timeout', async () => {
    const timeoutMs = 10_000;
    const ranks = startRanks('rank.mjs', { mode: 'loop', prefix: `${lab.run}/kill`, timeoutMs });
    await Promise.all(ranks.map((p) => p.waitForLine((l) => event('step')(l) && (parse(l).step ?? 0) >= 10)));
    const t0 = performance.now();
    ranks[2].kill('SIGKILL');
    const fails = await Promise.all(
      ranks.slice(0, 2).map((p) => p.waitForLine(event('fail'), timeoutMs + 5000).then((l) => ({ ...parse(l), after: performance.now() - t0 }))),
    );
    console.log(`kill -9: survivors rejected after ${fails.map((f) => `${f.after.toFixed(0)} ms`).join(', ')} (timeout ${timeoutMs} ms): ${fails[0].message}`);
    for (const f of fails) {
      expect(f.code).toBe('ERR_THREADFIT_COMM');
      expect(f.message).toEqual(failure);
      expect(f.after).toBeLessThan(timeoutMs / 4);
    }
  });

  it('SIGSTOP of one host: the others reject after about timeoutMs', async () => {
    const timeoutMs = 2000;
    const ranks = startRanks('rank.mjs', { mode: 'loop', prefix: `${lab.run}/stop`, timeoutMs });
    await Promise.all(ranks.map((p) => p.waitForLine((l) => event('step')(l) && (parse(l).step ?? 0) >= 10)));
    const t0 = performance.now();
    ranks[2].kill('SIGSTOP');
    const fails = await Promise.all(
      ranks.slice(0, 2).map((p) => p.waitForLine(event('fail'), timeoutMs + 10_000).then((l) => ({ ...parse(l), after: performance.now() - t0 }))),
    );
    console.log(
      `SIGSTOP: the others rejected ${fails.map((f) => `${f.after.toFixed(0)} ms after the stop (${f.ms} ms into the step)`).join(', ')}: ${fails[0].message}`,
    );
    for (const f of fails) {
      expect(f.code).toBe('ERR_THREADFIT_COMM');
      expect(f.message).toEqual(failure);
      expect(f.ms).toBeGreaterThanOrEqual(timeoutMs * 0.9);
      expect(f.after).toBeLessThan(timeoutMs + 3000);
    }
  });

  it('link down: every rank, the cut-off one included, times out at the same step', async () => {
    const timeoutMs = 2000;
    const ranks = startRanks('rank.mjs', { mode: 'gated', pre: 5, prefix: `${lab.run}/link`, timeoutMs });
    // All ranks finished steps 0-4 and are idle: the cut falls between steps, never inside one.
    await waitAll(ranks, 'paused');
    lab.linkDown(2);
    try {
      for (const p of ranks) p.send('go');
      const fails = await waitAll(ranks, 'fail', timeoutMs + 10_000);
      console.log(`link down: ${fails.map((f) => `rank ${f.rank} failed at step ${f.step} after ${f.ms} ms`).join('; ')}`);
      for (const f of fails) {
        expect(f.code).toBe('ERR_THREADFIT_COMM');
        expect(f.message).toEqual(failure);
        expect(f.step).toBe(5);
        expect(f.ms).toBeGreaterThanOrEqual(timeoutMs * 0.9);
        expect(f.ms).toBeLessThan(timeoutMs + 3000);
      }
    } finally {
      lab.linkUp(2);
    }
  });

  it('the Redis host cut off mid-run: a store call fails after the 10 s command timeout instead of hanging', async () => {
    const p = lab.node(1, join(FIXTURES, 'store.mjs'), [JSON.stringify({ store: { type: 'redis', ...lab.redis }, prefix: `${lab.run}/cut` })]);
    procs.push(p);
    await p.waitForLine(event('ready'), 20_000);
    lab.linkDown(1);
    try {
      p.send('go');
      const r = parse(await p.waitForLine(event('store'), 60_000));
      console.log(`store call with the Redis host cut off: failed after ${r.ms} ms: ${r.message}`);
      expect(r.code).toBe('ERR_THREADFIT_COMM');
      expect(r.ms).toBeGreaterThanOrEqual(9_000);
      expect(r.ms).toBeLessThan(20_000);
    } finally {
      lab.linkUp(1);
    }
  }, 60_000);

  it('a rank that never shows up: the rendezvous rejects after timeoutMs', async () => {
    const [only] = startRanks('rank.mjs', { mode: 'loop', prefix: `${lab.run}/absent`, size: 2, timeoutMs: 1000 }, [1]);
    const f = parse(await only.waitForLine(event('fail')));
    expect(f).toMatchObject({ step: -1, code: 'ERR_THREADFIT_COMM' });
    expect(f.message).toMatch(/^createGroup on group .+\/absent \(rank 0 of 2\) .*failed: .*Wait timeout for key\(s\)/);
    expect(f.ms).toBeGreaterThanOrEqual(900);
    expect(f.ms).toBeLessThan(4000);
  });
});

describe('addresses', () => {
  it('every host advertises its 10.77 address, never 127.x; a host with only lo has no interface to offer', async () => {
    const pick = (where: number | string) => {
      const p = lab.node(where, join(FIXTURES, 'pick.mjs'), [lab.redis.host]);
      procs.push(p);
      return p.waitForLine(() => true).then(parse);
    };
    const picks = await Promise.all([0, 1, 2].map(pick));
    // Host 0 runs Redis itself (the kernel routes its own address via lo): still eth0.
    expect(picks).toEqual(lab.addresses.map((address) => ({ event: 'pick', name: 'eth0', address })));
    const bare = await pick(lab.bareNs);
    expect(bare).toMatchObject({ event: 'error', code: 'ERR_THREADFIT_COMM', message: expect.stringContaining('no interface routes to rendezvous host') });
  });

  it('refuses loopback rendezvous hosts and interfaces', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      await expect(pickInterface(host)).rejects.toMatchObject({
        code: 'ERR_THREADFIT_INVALID_OPTION',
        message: expect.stringMatching(/non-loopback rendezvous address/),
      });
    }
    const base = { rank: 0, size: 2, prefix: 'x', timeoutMs: 1000 };
    await expect(Group.create({ ...base, store: { type: 'redis', host: '127.0.0.1', port: 6379 } })).rejects.toThrow(
      /rendezvous host "127.0.0.1" resolves to 127.0.0.1: .*use a non-loopback rendezvous address or set options.iface/,
    );
    await expect(Group.create({ ...base, store: { type: 'file', path: scratch }, iface: 'lo' })).rejects.toThrow(/options.iface "lo" is a loopback interface/);
  });
});

describe('options and stores', () => {
  it('the addon loads', () => {
    expect(loadError()).toBeUndefined();
  });

  it('bad options give clear errors before any I/O', async () => {
    const ok = { rank: 0, size: 3, store: { type: 'redis', host: '10.77.0.1', port: 6379 }, prefix: 'p', timeoutMs: 1000 } as const;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ rank: 3 }, /options.rank must be an integer in 0..2 \(size is 3\), got 3/],
      [{ rank: -1 }, /options.rank must be an integer in 0..2 \(size is 3\), got -1/],
      [{ size: 0 }, /options.size must be an integer >= 1, got 0/],
      [{ timeoutMs: 0 }, /options.timeoutMs must be a positive integer \(milliseconds.*got 0/],
      [{ timeoutMs: 1.5 }, /options.timeoutMs must be a positive integer .*got 1.5/],
      [{ prefix: '' }, /options.prefix must be a non-empty string, got ""/],
      [{ store: { type: 'zk' } }, /options.store.type must be 'redis' or 'file', got "zk"/],
      [{ store: { type: 'redis', host: 'h', port: 0 } }, /options.store.port must be an integer in 1..65535, got 0/],
      [{ store: { type: 'file', path: '/tmp', host: 'h' } }, /options.store has unknown key\(s\) host/],
      [{ ranks: 1 }, /options has unknown key\(s\) ranks/],
      [{ iface: 'nope0' }, /options.iface must name a local interface, got "nope0"/],
    ];
    for (const [change, message] of cases) {
      const err = await Group.create({ ...ok, ...change } as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(change)).toMatchObject({ code: 'ERR_THREADFIT_INVALID_OPTION', message: expect.stringMatching(message) });
    }
    expect(() => Group.attach(987_654, 0, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_THREADFIT_COMM', message: expect.stringMatching(/no open group with handle 987654/) }),
    );
  });

  it('a file store: set once, get, check, wait with a timeout', async () => {
    const store = await Store.open({ type: 'file', path: mkdtempSync(join(scratch, 'kv-')) }, 'job/meta');
    try {
      await store.set('a', 'hello');
      await store.set('b', Uint8Array.of(1, 2, 3));
      expect(Buffer.from(await store.get('a', 1000)).toString()).toBe('hello');
      expect(Array.from(await store.get('b', 1000))).toEqual([1, 2, 3]);
      expect(await store.check(['a', 'b'])).toBe(true);
      expect(await store.check(['a', 'c'])).toBe(false);
      const t0 = performance.now();
      await expect(store.wait(['c'], 200)).rejects.toMatchObject({
        code: 'ERR_THREADFIT_COMM',
        message: expect.stringMatching(/storeWait .* failed: Wait timeout for key\(s\): \[c\] after 200ms/),
      });
      expect(performance.now() - t0).toBeLessThan(1500);
      await expect(store.set('a', 'again')).rejects.toMatchObject({ code: 'ERR_THREADFIT_COMM', message: expect.stringContaining("storeSet of key 'a'") });
    } finally {
      store.close();
    }
  });

  it('a key is write-once even when many writers race (file store: link(), like Redis SETNX): exactly one wins, and everyone reads its value', async () => {
    const dir = mkdtempSync(join(scratch, 'race-'));
    const stores = await Promise.all(Array.from({ length: 16 }, () => Store.open({ type: 'file', path: dir }, 'job/g1')));
    try {
      const results = await Promise.allSettled(stores.map((s, i) => s.set('members', `writer ${i}`)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect((r.reason as Error).message).toMatch(/already set/);
      const read = await Promise.all(stores.map(async (s) => Buffer.from(await s.get('members', 1000)).toString()));
      expect(new Set(read)).toEqual(new Set([`writer ${won[0]}`]));
    } finally {
      for (const s of stores) s.close();
    }
  });
});

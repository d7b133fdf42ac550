/**
 * @threadfit/comm-gloo's own threads: every blocking call runs on a thread the addon owns, never
 * on libuv's pool (process-wide, 4 threads, not resizable from an ESM program). Two network
 * namespaces (test/netns.ts), Redis on host 0, fixtures from packages/comm-gloo/test/fixtures.
 * Needs root, like test/comm-gloo.test.ts.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab, type NsProcess } from './netns.js';
import { ensureGlooAddon } from './gloo-setup.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'packages/comm-gloo/test/fixtures');

let lab: Lab;
let procs: NsProcess[] = [];

type Line = { event: string; rank: number; [k: string]: unknown };
const parse = (line: string) => JSON.parse(line) as Line;
const event = (name: string) => (line: string) => line.startsWith('{') && parse(line).event === name;

function start(fixture: string, cfg: Record<string, unknown>): NsProcess[] {
  const started = [0, 1].map((rank) =>
    lab.node(rank, join(FIXTURES, fixture), [JSON.stringify({ rank, size: 2, store: { type: 'redis', ...lab.redis }, ...cfg })]),
  );
  procs.push(...started);
  return started;
}

beforeAll(async () => {
  await ensureGlooAddon();
  lab = await createLab({ hosts: 2 });
}, 300_000);

afterEach(() => {
  for (const p of procs) p.kill('SIGKILL');
  procs = [];
});

afterAll(() => lab?.cleanup());

describe("the addon's threads", () => {
  it('8 groups in flight at once per process, with libuv’s pool blocked: every rendezvous and allreduce completes, exact sums', async () => {
    const timeoutMs = 10_000;
    const G = 8;
    const steps = 20;
    const n = 65_536;
    const ranks = start('threads.mjs', { prefix: `${lab.run}/threads`, timeoutMs, groups: G, steps, n });
    const results = await Promise.all(ranks.map((p) => p.waitForLine(event('threads'), 60_000).then(parse)));
    const exits = await Promise.all(ranks.map((p) => p.exit));
    for (const r of results) {
      const workers = r.workers as { k: number; mismatches: number; steps: number; totalMs: number; maxStepMs: number }[];
      console.log(
        `rank ${r.rank}, libuv's ${r.poolSize} pool threads blocked: store open/set/get in ${r.storeMs} ms; ${G} rendezvous at once in ${r.createMs} ms; ${G} workers x ${steps} allreduces of ${n} floats in ${r.workersMs} ms ` +
          `(slowest step ${Math.max(...workers.map((w) => w.maxStepMs))} ms); ${G} at once from the main thread in ${r.mainMs} ms`,
      );
      expect(r.probe).toBe('queued'); // the pool really was full: an fs.stat waited behind the FIFOs
      expect(r.stillBlocked).toBe('blocked'); // ... and still was when the collectives had finished
      expect(r.fsAfter).toBe('ran');
      expect(r.fifoReads).toBe(r.poolSize);
      expect(r.peerSays).toBe(`hello from ${1 - r.rank}`);
      expect(r.storeMs as number).toBeLessThan(timeoutMs / 2);
      expect(workers.map((w) => w.k)).toEqual(Array.from({ length: G }, (_, k) => k));
      for (const w of workers) expect(w).toMatchObject({ mismatches: 0, steps });
      expect(r.mainMismatches).toBe(0);
      expect(r.createMs as number).toBeLessThan(timeoutMs / 2);
      for (const w of workers) expect(w.maxStepMs).toBeLessThan(timeoutMs / 2);
      expect(r.mainMs as number).toBeLessThan(timeoutMs / 2);
    }
    for (const [i, e] of exits.entries()) expect(e, ranks[i].stderr()).toEqual({ code: 0, signal: null });
  }, 90_000);

  it('worker.terminate() and process.exit() while ops are blocked: no crash, the ops fail at their timeout, the process exits cleanly', async () => {
    const timeoutMs = 2000;
    const [r0, r1] = start('terminate.mjs', { prefix: `${lab.run}/terminate`, timeoutMs });
    await Promise.all([r0, r1].map((p) => p.waitForLine(event('ready'), 20_000)));
    const t = parse(await r0.waitForLine(event('terminated'), 20_000));
    const [sharedMs, plainMs] = t.terminateMs as number[];
    console.log(
      `terminate: ${sharedMs} ms with the op on a SharedArrayBuffer, ${plainMs} ms on a plain ArrayBuffer (waits for the op: its memory dies with the thread); ` +
        `then from the main thread: ${(t.after as { message: string }[])[0].message}`,
    );
    // Shared memory outlives the thread: terminate does not wait for the op.
    expect(sharedMs).toBeLessThan(timeoutMs / 2);
    // A plain ArrayBuffer dies with the thread's heap: terminate waits until the op has given up.
    expect(plainMs).toBeGreaterThanOrEqual(timeoutMs - 300 - 200);
    expect(plainMs).toBeLessThan(timeoutMs + 2000);
    for (const a of t.after as { code: string; message: string }[]) {
      expect(a.code).toBe('ERR_THREADFIT_COMM');
      expect(a.message).toMatch(/unusable after an earlier failure \(.*Timed out waiting 2000ms/);
    }
    await r0.waitForLine(event('exiting'));
    const t0 = performance.now();
    const exit = await r0.exit;
    const exitMs = performance.now() - t0;
    console.log(`process.exit(0) with an allreduce in flight: gone after ${exitMs.toFixed(0)} ms`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(200 + timeoutMs / 2);
    expect(r0.stderr()).toBe('');
  }, 60_000);
});

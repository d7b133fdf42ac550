/**
 * `threadfit train` across hosts: real processes in network namespaces (test/netns.ts), Redis on
 * host 0, Gloo between them. Each case runs the CLI as a user would on each host, with a small
 * synthetic data set on storage every namespace sees.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, tempDir, writeSyntheticIdxSet } from './helpers.js';
import { createLab, type Lab, type NsProcess } from './netns.js';
import { ensureGlooAddon } from './gloo-setup.js';

const tmp = tempDir('threadfit-hosts-');
const data = join(tmp.dir, 'data');
let lab: Lab;
let procs: NsProcess[] = [];
let jobs = 0;

interface Report {
  weightsSha256: string;
  history: Record<string, number[]>;
  test: { acc: number };
  epochs: Array<{ hosts?: Array<{ hostRank: number; samplesPerSec: number; stepMs: Record<string, number> }> }>;
  cluster?: { hosts: number; members: number[]; generation: number; hostsAtLaunch: number };
}
const readReport = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Report;

/** The same training flags on every host: 640 rows, batch 32, 1 worker per host, wasm. */
const common = (epochs: number, workers = 1) => [
  '--workers',
  String(workers),
  '--batch-size',
  '32',
  '--epochs',
  String(epochs),
  '--backend',
  'wasm',
  '--data-dir',
  data,
  '--seed',
  '7',
  '--quiet',
  '--log-format',
  'json',
];

/** Starts `threadfit train` on each of `hosts` (host k gets launch rank k) under a fresh job name. */
function startHosts(
  hosts: number,
  epochs: number,
  extra: (k: number) => string[] = () => [],
  rendezvous = () => `redis://${lab.redis.host}:${lab.redis.port}`,
): { ps: NsProcess[]; reports: string[] } {
  const job = `${lab.run}-job${++jobs}`;
  const reports = Array.from({ length: hosts }, (_, k) => join(tmp.dir, `${job}-host${k}.json`));
  const ps = Array.from({ length: hosts }, (_, k) =>
    lab.node(k, CLI, [
      'train',
      ...common(epochs),
      '--hosts',
      String(hosts),
      '--host-rank',
      String(k),
      '--rendezvous',
      rendezvous(),
      '--job',
      job,
      '--comm-timeout',
      '3000',
      '--report',
      reports[k],
      ...extra(k),
    ]),
  );
  procs.push(...ps);
  return { ps, reports };
}

/** Resolves when `p`'s log has an epoch line (training is under way). */
async function epochLogged(p: NsProcess, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!/"msg":"epoch"/.test(p.stderr())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`no epoch line within ${timeoutMs} ms:\n${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The weightsSha256 a host logged at its end ('training done on this host'). */
function hostSha(p: NsProcess): string {
  const line = p
    .stderr()
    .split('\n')
    .find((l) => l.includes('"msg":"training done on this host"'));
  if (line === undefined) throw new Error(`no 'training done' line:\n${p.stderr()}`);
  return (JSON.parse(line) as { weightsSha256: string }).weightsSha256;
}

const exitOk = async (p: NsProcess) => {
  const { code } = await p.exit;
  if (code !== 0) throw new Error(`host exited ${code}:\n${p.stderr()}`);
};

let twoHostSha: string;

beforeAll(async () => {
  await ensureGlooAddon();
  mkdirSync(data);
  writeSyntheticIdxSet(data, { train: 640, test: 128 });
  lab = await createLab({ hosts: 3 });
}, 300_000);

afterEach(() => {
  for (const p of procs) p.kill('SIGKILL');
  procs = [];
});

afterAll(() => {
  lab?.cleanup();
  tmp.cleanup();
});

describe('threadfit train across hosts', () => {
  it('2 hosts x 1 worker give the same weights, bit for bit, as 1 host x 2 workers; rank 0 reports the hosts', async () => {
    const ckpt = (k: number) => join(tmp.dir, `ckpt-host${k}`);
    const { ps, reports } = startHosts(2, 2, (k) => ['--checkpoint-dir', ckpt(k)]);
    const single = runCli(['train', ...common(2, 2), '--report', join(tmp.dir, 'single.json')]);
    await Promise.all(ps.map(exitOk));
    const one = await single;
    expect(one.code, one.stderr).toBe(0);
    const multi = readReport(reports[0]);
    const local = readReport(join(tmp.dir, 'single.json'));
    expect(multi.weightsSha256).toBe(local.weightsSha256);
    expect(ps.map(hostSha)).toEqual([multi.weightsSha256, multi.weightsSha256]);
    twoHostSha = multi.weightsSha256;
    // Epoch means are over both hosts' samples: the same as one host's over all of them.
    for (let e = 0; e < 2; e++) expect(multi.history.loss[e]).toBeCloseTo(local.history.loss[e], 5);
    expect(multi.cluster).toMatchObject({ hosts: 2, hostsAtLaunch: 2, members: [0, 1], generation: 0 });
    expect(multi.epochs[0].hosts!.map((h) => h.hostRank)).toEqual([0, 1]);
    expect(multi.epochs[0].hosts![1].stepMs.comm).toBeGreaterThan(0);
    // Every host holds the same state: only host rank 0 writes the report and checkpoints.
    expect(() => readFileSync(reports[1])).toThrow();
    expect(readdirSync(ckpt(0)).filter((f) => f.startsWith('ckpt-'))).toHaveLength(2);
    expect(existsSync(ckpt(1)) ? readdirSync(ckpt(1)).filter((f) => f.startsWith('ckpt-')) : []).toEqual([]);
  }, 240_000);

  it('a worker that dies on one host: every host re-forms (same members) and reruns the step, same bits as a clean run', async () => {
    const { ps, reports } = startHosts(2, 2, (k) => (k === 1 ? ['--inject-fault', 'exit@step=5,rank=0'] : []));
    await Promise.all(ps.map(exitOk));
    const r = readReport(reports[0]);
    expect(r.cluster).toMatchObject({ hosts: 2, members: [0, 1] });
    expect(r.cluster!.generation).toBeGreaterThanOrEqual(1);
    expect(r.weightsSha256).toBe(twoHostSha);
  }, 240_000);

  it('kill -9 of one host of 3: the other two re-form, re-shard the batch and finish', async () => {
    const { ps, reports } = startHosts(3, 3);
    await epochLogged(ps[2]);
    ps[2].kill('SIGKILL');
    await Promise.all([exitOk(ps[0]), exitOk(ps[1])]);
    const r = readReport(reports[0]);
    expect(r.cluster).toMatchObject({ hostsAtLaunch: 3, hosts: 2, members: [0, 1] });
    expect(hostSha(ps[1])).toBe(r.weightsSha256);
    expect(r.history.loss).toHaveLength(3);
    expect(r.epochs.at(-1)!.hosts).toHaveLength(2);
    expect(r.test.acc).toBeGreaterThan(0.5);
    expect(ps[0].stderr()).toMatch(/re-forming the host group/);
  }, 240_000);

  it('with a file store (a shared directory) instead of Redis: kill -9 of one host of 3, the others re-form and finish', async () => {
    const dir = join(tmp.dir, 'rdzv-files');
    mkdirSync(dir);
    const { ps, reports } = startHosts(
      3,
      2,
      () => [],
      () => `file://${dir}`,
    );
    await epochLogged(ps[1]);
    ps[1].kill('SIGKILL');
    await Promise.all([exitOk(ps[0]), exitOk(ps[2])]);
    expect(readReport(reports[0]).cluster).toMatchObject({ hostsAtLaunch: 3, hosts: 2, members: [0, 2] });
    expect(hostSha(ps[2])).toBe(readReport(reports[0]).weightsSha256);
  }, 240_000);

  it('a hung host (SIGSTOP) is dropped at the comm timeout; when it wakes up it learns so and stops with exit 1', async () => {
    const { ps, reports } = startHosts(3, 3);
    await epochLogged(ps[1]);
    ps[1].kill('SIGSTOP');
    await Promise.all([exitOk(ps[0]), exitOk(ps[2])]);
    expect(readReport(reports[0]).cluster).toMatchObject({ hosts: 2, members: [0, 2] });
    expect(hostSha(ps[2])).toBe(readReport(reports[0]).weightsSha256);
    ps[1].kill('SIGCONT');
    const { code } = await ps[1].exit;
    expect(code).toBe(1);
    expect(ps[1].stderr()).toMatch(/host 1 was dropped from the group/);
  }, 240_000);

  it('2 hosts x 2 workers (two Gloo rings per step) train like 1 host x 4 workers, the same weights on both hosts', async () => {
    const { ps, reports } = startHosts(2, 1, () => ['--workers', '2']);
    const single = runCli(['train', ...common(1, 4), '--report', join(tmp.dir, 'single4.json')]);
    await Promise.all(ps.map(exitOk));
    expect((await single).code).toBe(0);
    const multi = readReport(reports[0]);
    const local = readReport(join(tmp.dir, 'single4.json'));
    // Summed in another order (per host, then across hosts): equal up to float rounding.
    expect(multi.history.loss[0]).toBeCloseTo(local.history.loss[0], 4);
    expect(multi.test.acc).toBeCloseTo(local.test.acc, 2);
    expect(ps.map(hostSha)).toEqual([multi.weightsSha256, multi.weightsSha256]);
  }, 240_000);

  it('Ctrl-C on one host stops every host after the same step (exit 130 there, 143 on the others)', async () => {
    const { ps, reports } = startHosts(2, 4, (k) => ['--checkpoint-dir', join(tmp.dir, `ckpt-stop-${k}`)]);
    await epochLogged(ps[1]);
    ps[1].kill('SIGINT');
    const codes = await Promise.all(ps.map((p) => p.exit));
    expect(codes.map((c) => c.code)).toEqual([143, 130]);
    expect(ps[0].stderr()).toMatch(/another host was asked to stop/);
    expect(hostSha(ps[0])).toBe(hostSha(ps[1]));
    expect(readReport(reports[0]).history.loss.length).toBeLessThan(4);
    expect(readdirSync(join(tmp.dir, 'ckpt-stop-0')).some((f) => f.startsWith('ckpt-'))).toBe(true);
  }, 240_000);

  it('--resume across hosts from a checkpoint directory they share ends with the bits of an uninterrupted run; a host without it is refused', async () => {
    const shared = join(tmp.dir, 'ckpt-shared');
    const first = startHosts(2, 1, () => ['--checkpoint-dir', shared]);
    await Promise.all(first.ps.map(exitOk));
    const resumed = startHosts(2, 2, () => ['--checkpoint-dir', shared, '--resume']);
    await Promise.all(resumed.ps.map(exitOk));
    const straight = startHosts(2, 2);
    await Promise.all(straight.ps.map(exitOk));
    expect(readReport(resumed.reports[0]).weightsSha256).toBe(readReport(straight.reports[0]).weightsSha256);
    expect(readReport(resumed.reports[0]).history.loss).toHaveLength(2);
    // Host 1 looking at a directory of its own finds nothing to resume: refused before any step.
    const split = startHosts(2, 3, (k) => ['--checkpoint-dir', k === 0 ? shared : join(tmp.dir, 'ckpt-elsewhere'), '--resume']);
    const codes = await Promise.all(split.ps.map((p) => p.exit));
    expect(codes.map((c) => c.code)).toEqual([2, 2]);
    expect(split.ps[0].stderr()).toMatch(/resumedFrom .* there, .* here.*put --checkpoint-dir on storage every host sees/);
  }, 240_000);

  it('hosts started with different settings are refused before any step, naming the setting', async () => {
    const { ps } = startHosts(2, 1, (k) => (k === 1 ? ['--lr', '0.01'] : []));
    const codes = await Promise.all(ps.map((p) => p.exit));
    expect(codes.map((c) => c.code)).toEqual([2, 2]);
    expect(ps[0].stderr()).toMatch(/host 1 was started with other settings than this host \(learningRate 0\.01 there, 0\.001 here;/);
  });

  it('a job name that an earlier run used is refused with exit 2, naming it', async () => {
    const job = `${lab.run}-reused`;
    const run = () =>
      Promise.all(
        [0, 1].map((k) =>
          lab.node(k, CLI, [
            'train',
            ...common(1),
            '--batch-size',
            '640',
            '--hosts',
            '2',
            '--host-rank',
            String(k),
            '--rendezvous',
            `redis://${lab.redis.host}:${lab.redis.port}`,
            '--job',
            job,
          ]),
        ),
      );
    const first = await run();
    procs.push(...first);
    await Promise.all(first.map(exitOk));
    const again = await run();
    procs.push(...again);
    expect((await again[0].exit).code).toBe(2);
    expect(again[0].stderr()).toMatch(new RegExp(`job '${job}' was already used in this rendezvous store`));
  }, 120_000);

  it('refuses a loopback rendezvous (peers could not reach the address it would advertise) with exit 2', async () => {
    const r = await runCli(['train', ...common(1), '--hosts', '2', '--host-rank', '0', '--rendezvous', 'redis://127.0.0.1:6399', '--job', 'loop']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/loopback/);
  });
});

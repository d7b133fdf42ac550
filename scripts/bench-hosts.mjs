#!/usr/bin/env node
/**
 * What the cross-host sum costs a training run: `threadfit train` (seed MLP, MNIST, 1 epoch) on
 * 1 host x 2 workers, then 2 hosts x 1 worker as network namespaces on this machine, uncapped and
 * with tbf caps at 1 Gbit/s and 200 Mbit/s, with and without --accumulate. Every configuration
 * uses the same 2 cores, so the rows compare the step's parts, not two machines' throughput.
 * Needs root and a built addon (npm run setup:gloo).
 *
 *   node scripts/bench-hosts.mjs [--epochs 1] [--json FILE]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab } from '../packages/comm-gloo/test/netns.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const EPOCHS = opt('--epochs', '1');
const JSON_OUT = opt('--json', undefined);
const CLI = new URL('../packages/coordinator/dist/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'threadfit-bench-hosts-'));
const base = (workers, accumulate) => [
  'train',
  '--workers',
  String(workers),
  '--epochs',
  EPOCHS,
  '--backend',
  'wasm',
  '--quiet',
  '--log-level',
  'warn',
  '--accumulate',
  String(accumulate),
];

function local(workers, accumulate, report) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...base(workers, accumulate), '--report', report], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}: ${err}`))));
  });
}

const rows = [];
const lab = await createLab({ hosts: 2 });
let job = 0;
try {
  for (const accumulate of [1, 4]) {
    const report = join(dir, `local-${accumulate}.json`);
    await local(2, accumulate, report);
    const r = JSON.parse(readFileSync(report, 'utf8'));
    rows.push({ config: '1 host x 2 workers', link: '-', accumulate, samplesPerSec: r.epochs.at(-1).samplesPerSec, stepMs: undefined });
    for (const cap of [undefined, '1gbit', '200mbit']) {
      for (let k = 0; k < 2; k++) {
        if (cap) lab.capBandwidth(k, cap);
        else lab.uncap(k);
      }
      const name = `${lab.run}-bench${++job}`;
      const reports = [0, 1].map((k) => join(dir, `${name}-${k}.json`));
      const ps = [0, 1].map((k) =>
        lab.node(k, CLI, [
          ...base(1, accumulate),
          '--hosts',
          '2',
          '--host-rank',
          String(k),
          '--rendezvous',
          `redis://${lab.redis.host}:${lab.redis.port}`,
          '--job',
          name,
          '--report',
          reports[k],
        ]),
      );
      const exits = await Promise.all(ps.map((p) => p.exit));
      if (exits.some((e) => e.code !== 0)) throw new Error(`a host failed: ${ps.map((p) => p.stderr()).join('\n')}`);
      const r = JSON.parse(readFileSync(reports[0], 'utf8'));
      const last = r.epochs.at(-1);
      const slowest = last.hosts.reduce((a, h) => (h.samplesPerSec < a.samplesPerSec ? h : a));
      rows.push({ config: '2 hosts x 1 worker', link: cap ?? 'uncapped', accumulate, samplesPerSec: last.samplesPerSec, stepMs: slowest.stepMs });
    }
  }
} finally {
  lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
const f = (x) => (x === undefined ? '-' : x.toFixed(2)).padStart(7);
console.log(`${'config'.padEnd(20)} ${'link'.padEnd(9)} accum  samples/s     grad  update    comm   coord    data  (ms per step, slowest host)`);
for (const r of rows) {
  const s = r.stepMs ?? {};
  console.log(
    `${r.config.padEnd(20)} ${r.link.padEnd(9)} ${String(r.accumulate).padStart(5)} ${String(r.samplesPerSec).padStart(10)}  ${f(s.grad)} ${f(s.update)} ${f(s.comm)} ${f(s.coord)} ${f(s.data)}`,
  );
}
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ epochs: Number(EPOCHS), rows }, null, 2) + '\n');

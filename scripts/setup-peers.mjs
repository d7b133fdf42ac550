#!/usr/bin/env node
/**
 * The Python peers `threadfit bench --peers` measures threadfit against, installed once into
 * .cache/peers (nothing global but Debian's PyTorch):
 *
 *   keras-jax          a venv (.cache/peers/venv) with keras and jax[cpu] from PyPI
 *   keras-tensorflow   the same venv with keras and tensorflow-cpu from PyPI
 *   torch              Debian's python3-torch (PyPI's Linux torch wheels pull the CUDA libraries,
 *                      gigabytes), run by Debian's /usr/bin/python3
 *
 *   node scripts/setup-peers.mjs [--peers keras-jax,keras-tensorflow,torch]
 *
 * Prints one JSON line: per peer, { ready, python } or { ready: false, why }.
 *
 * Each part is skipped when already there; a part that cannot be installed (no pip, not root for
 * apt) is reported, not fatal: the bench runs the peers that are ready and names the others.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = process.cwd();
const DIR = join(ROOT, '.cache', 'peers');
const VENV = join(DIR, 'venv');
const VENV_PY = join(VENV, 'bin', 'python');
const DEBIAN_PY = '/usr/bin/python3';
const PEERS = { 'keras-jax': ['keras', 'jax'], 'keras-tensorflow': ['keras', 'tensorflow'], torch: ['torch'] };
const PIP_NAMES = { keras: 'keras', jax: 'jax[cpu]', tensorflow: 'tensorflow-cpu' };
const listArg = process.argv.includes('--peers') ? process.argv[process.argv.indexOf('--peers') + 1] : Object.keys(PEERS).join(',');
const wanted = listArg.split(',').filter((p) => p.length > 0);
for (const p of wanted) {
  if (!(p in PEERS)) {
    console.error(`setup-peers: unknown peer ${p}; the peers: ${Object.keys(PEERS).join(', ')}`);
    process.exit(2);
  }
}

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
const log = (line) => process.stderr.write(`setup-peers: ${line}\n`);

function importable(python, modules) {
  if (!existsSync(python)) return false;
  // Keras imports its backend's package at import time: the one this peer runs on (jax or tensorflow).
  const backend = modules.find((m) => m === 'jax' || m === 'tensorflow');
  const env = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', ...(backend !== undefined && { KERAS_BACKEND: backend }) };
  return run(python, ['-c', `import ${modules.join(', ')}`], { env }).status === 0;
}

/** A Keras peer: the venv with keras and its backend's package. */
function keras(modules) {
  if (importable(VENV_PY, modules)) return { ready: true, python: VENV_PY };
  const python = process.env.PYTHON ?? 'python3';
  if (run(python, ['-m', 'pip', '--version']).status !== 0) return { ready: false, why: `no pip (${python} -m pip)` };
  mkdirSync(DIR, { recursive: true });
  if (!existsSync(VENV_PY)) {
    log(`python venv in ${VENV}`);
    const v = run(python, ['-m', 'venv', VENV]);
    if (v.status !== 0) return { ready: false, why: `python -m venv failed: ${(v.stderr || '').trim().split('\n').at(-1)}` };
  }
  const names = modules.map((m) => PIP_NAMES[m]);
  log(`pip install ${names.join(' ')} into ${VENV} (once)`);
  const p = run(VENV_PY, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...names], { stdio: ['ignore', 'inherit', 'pipe'] });
  if (p.status !== 0) return { ready: false, why: `pip install ${names.join(' ')} failed: ${(p.stderr || '').trim().split('\n').at(-1)}` };
  return importable(VENV_PY, modules) ? { ready: true, python: VENV_PY } : { ready: false, why: `${modules.join(', ')} do not import after pip install` };
}

function torch() {
  if (importable(DEBIAN_PY, ['torch', 'numpy'])) return { ready: true, python: DEBIAN_PY };
  if (process.getuid?.() !== 0) return { ready: false, why: "Debian's python3-torch needs root to install (apt-get install python3-torch)" };
  log('apt-get install python3-torch python3-numpy (once)');
  run('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  const a = run('apt-get', ['install', '-y', '-qq', 'python3-torch', 'python3-numpy'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (a.status !== 0) return { ready: false, why: `apt-get install python3-torch failed: ${(a.stderr || '').trim().split('\n').at(-1)}` };
  return importable(DEBIAN_PY, ['torch', 'numpy']) ? { ready: true, python: DEBIAN_PY } : { ready: false, why: 'torch does not import after apt-get install' };
}

const out = {};
for (const p of wanted) out[p] = p === 'torch' ? torch() : keras(PEERS[p]);
mkdirSync(DIR, { recursive: true });
console.log(JSON.stringify(out));

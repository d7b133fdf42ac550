#!/usr/bin/env node
/**
 * Run by `npm ci` / `npm install` (the `prepare` script, after the build): sets up the tensorflow
 * backend (scripts/setup-tensorflow.mjs) when this machine can build it, and says in one line
 * which backend `npm run train` will use and why. Never fails the install: without pip, a C++
 * compiler or make, or when the build fails, training uses wasm (the default backend) and the
 * line names the one command that adds tensorflow. The build's own output goes to
 * .cache/tensorflow/setup.log.
 *
 *   THREADFIT_SKIP_TENSORFLOW=1 npm ci     skip it (wasm); `npm run setup:tensorflow` adds it later
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = process.cwd();
const LOG = join(ROOT, '.cache', 'tensorflow', 'setup.log');
const ADD = 'npm run setup:tensorflow';
const say = (line) => console.log(`threadfit: ${line}`);

function has(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

function main() {
  if (process.env.THREADFIT_SKIP_TENSORFLOW) return say(`npm run train will use wasm: THREADFIT_SKIP_TENSORFLOW is set (${ADD} adds the tensorflow backend)`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return say(`npm run train will use wasm: the tensorflow backend is built for linux-x64 only (this is ${process.platform}-${process.arch})`);
  }
  const python = process.env.PYTHON ?? 'python3';
  const missing = [
    has(python, ['-m', 'pip', '--version']) ? undefined : `pip (${python} -m pip)`,
    has('g++', ['--version']) ? undefined : 'g++',
    has('make', ['--version']) ? undefined : 'make',
  ].filter(Boolean);
  if (missing.length > 0) {
    return say(
      `npm run train will use wasm: building the tensorflow backend needs ${missing.join(', ')}; install ${missing.length > 1 ? 'them' : 'it'}, then ${ADD}`,
    );
  }
  mkdirSync(join(ROOT, '.cache', 'tensorflow'), { recursive: true });
  const fd = openSync(LOG, 'w');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'setup-tensorflow.mjs')], { cwd: ROOT, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const seconds = ((performance.now() - t0) / 1000).toFixed(0);
  if (r.status === 0) {
    return say(
      `npm run train will use tensorflow (@tensorflow/tfjs-node on tensorflow-cpu's libtensorflow, set up in ${seconds} s; --backend wasm for the other)`,
    );
  }
  const lines = readFileSync(LOG, 'utf8').split('\n');
  const why = lines.find((l) => l.startsWith('✗'))?.replace(/^✗\s*/, '') ?? `exit code ${r.status}`;
  say(`npm run train will use wasm: the tensorflow backend did not build (${why}); log: ${LOG}; retry: ${ADD}`);
}

try {
  main();
} catch (err) {
  // The optional backend never fails the install.
  say(`npm run train will use wasm: setting up tensorflow failed (${err?.message ?? err}); retry: ${ADD}`);
}

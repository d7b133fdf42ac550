#!/usr/bin/env node
/**
 * The Debian packages the test suite needs beyond Node, installed when missing (run by `npm test`
 * and by .ci/run, so that `npm ci && npm test` works on a fresh Debian machine):
 *
 *   chromium                       test/plot.test.ts renders the learning curves in it
 *   libgloo-dev libhiredis-dev     the Gloo addon (packages/comm-gloo, npm run setup:gloo)
 *   redis-server iproute2          the multi-host tests: Redis for rendezvous, network namespaces
 *
 * Installing needs root and apt-get (CI runs as root). Without them it only says what is missing
 * and exits 0: the tests that need a package then fail with their own message naming it.
 *
 *   node scripts/setup-system.mjs [--check]     --check: report, never install
 */
import { spawnSync } from 'node:child_process';

const PACKAGES = ['chromium', 'libgloo-dev', 'libhiredis-dev', 'redis-server', 'iproute2'];
const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--check') {
    console.error(`setup-system: unknown option ${a} (known: --check)`);
    process.exit(2);
  }
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
if (!has('dpkg') || !has('apt-get')) {
  console.log(`setup-system: not a Debian system (no dpkg/apt-get); the tests need: ${PACKAGES.join(', ')}`);
  process.exit(0);
}
const missing = PACKAGES.filter((p) => spawnSync('dpkg', ['-s', p], { stdio: 'ignore' }).status !== 0);
if (missing.length === 0) process.exit(0);
const line = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
if (args.includes('--check') || process.getuid?.() !== 0) {
  console.log(`setup-system: missing Debian packages ${missing.join(', ')}; as root: apt-get update && ${line}`);
  process.exit(0);
}
console.log(`setup-system: installing ${missing.join(', ')} (once)`);
const t0 = performance.now();
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const cmd of ['apt-get update', line]) {
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (r.status !== 0) {
    console.error(`setup-system: \`${cmd}\` failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
console.log(`setup-system: installed in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

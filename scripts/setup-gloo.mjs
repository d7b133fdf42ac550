#!/usr/bin/env node
/**
 * Builds @threadfit/comm-gloo: the Node-API addon over Debian's Gloo and the package's TypeScript.
 * The package is not an npm workspace (so `npm ci` never compiles C++); run this instead:
 *
 *   node scripts/setup-gloo.mjs            run from the repository root (npm run setup:gloo)
 *   node scripts/setup-gloo.mjs --force    rebuild even when up to date
 *   options: --jobs N (compiler jobs, default 2), --help
 *
 * Steps, each skipped when already up to date:
 *  1. checks the tools: g++, make, python3 (node-gyp runs gyp with it), Gloo's and hiredis's
 *     headers and libgloo.so, Node's own headers on disk (node-gyp must not download them) and
 *     npm's bundled node-gyp;
 *  2. builds packages/comm-gloo/native/build/Release/comm_gloo.node (node-gyp rebuild --nodedir,
 *     -j N); a stamp in native/build records the sources' sha256, so an unchanged tree is skipped;
 *  3. compiles the package's TypeScript (node_modules/.bin/tsc -p packages/comm-gloo);
 *  4. loads the addon in the main thread and in 2 worker threads at once.
 *
 * Node built-ins only. Exit code 0 on success, 1 with a message naming what is missing.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const t0 = performance.now();
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 21)
      .join('\n'),
  );
  process.exit(0);
}
const FORCE = args.includes('--force');
const jobsAt = args.indexOf('--jobs');
const JOBS = jobsAt >= 0 ? Number(args[jobsAt + 1]) : 2;
for (const [i, a] of args.entries()) {
  if (a.startsWith('-') && !['--force', '--jobs', '--help', '-h'].includes(a)) fail(`unknown option ${a} (see --help)`);
  if (!a.startsWith('-') && args[i - 1] !== '--jobs') fail(`unexpected argument ${a} (see --help)`);
}
if (!Number.isInteger(JOBS) || JOBS < 1) fail('--jobs needs a positive integer');

const ROOT = process.cwd();
const PKG = join(ROOT, 'packages', 'comm-gloo');
const NATIVE = join(PKG, 'native');
const ADDON = join(NATIVE, 'build', 'Release', 'comm_gloo.node');
const STAMP = join(NATIVE, 'build', 'threadfit-stamp.json');
const APT_ALL = 'apt-get install g++ make python3 libgloo-dev libhiredis-dev';
const timings = [];
const tools = {};
let stepNo = 0;
const STEPS = 4;

class SetupError extends Error {
  constructor(message, hint) {
    super(message);
    this.hint = hint;
  }
}
function fail(message, hint) {
  console.error(`\n✗ setup-gloo failed: ${message}`);
  if (hint) console.error(`  ${hint.split('\n').join('\n  ')}`);
  console.error(`  (after ${secs(performance.now() - t0)})`);
  process.exit(1);
}
function secs(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}
function info(msg) {
  console.log(`    ${msg}`);
}
async function step(title, fn) {
  stepNo++;
  console.log(`\n[${stepNo}/${STEPS}] ${title}`);
  const s = performance.now();
  try {
    const note = await fn();
    const ms = performance.now() - s;
    timings.push([title, ms]);
    console.log(`    ✓ ${note ?? 'done'} (${secs(ms)})`);
  } catch (err) {
    if (err instanceof SetupError) fail(`${title}: ${err.message}`, err.hint);
    fail(`${title}: ${err?.stack ?? err}`);
  }
}
function tryRun(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout}${r.stderr}`.trim() : undefined;
}
/** Runs a command with its output shown; throws SetupError when it fails. */
function run(cmd, cmdArgs, opts = {}) {
  info(`$ ${[cmd, ...cmdArgs].join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.error) throw new SetupError(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new SetupError(`\`${[cmd, ...cmdArgs].join(' ')}\` exited with ${r.status ?? r.signal}`);
}
function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? d.path, d.name))
    .sort();
}
function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

if (!existsSync(join(PKG, 'package.json'))) fail(`no packages/comm-gloo in ${ROOT}`, 'run it from the repository root: node scripts/setup-gloo.mjs');
console.log(`setup-gloo: the @threadfit/comm-gloo addon over Debian's Gloo, in ${ROOT}`);

// ---- 1. tools --------------------------------------------------------------------------------
await step('check tools and headers (g++, make, python3, Gloo, hiredis, Node headers, node-gyp)', () => {
  if (process.platform !== 'linux') throw new SetupError(`only Linux is supported (this is ${process.platform})`, 'Gloo comes from Debian/Ubuntu packages');
  const missing = [];
  for (const [tool, flag, pkg] of [
    ['g++', '--version', 'g++'],
    ['make', '--version', 'make'],
    ['python3', '--version', 'python3'],
  ]) {
    const v = tryRun(tool, [flag]);
    if (v) info(`${tool}: ${v.split('\n')[0]}`);
    else missing.push([`${tool} (not on PATH)`, pkg]);
  }
  const headers = [
    ['/usr/include/gloo/rendezvous/context.h', 'libgloo-dev'],
    ['/usr/include/gloo/transport/tcp/device.h', 'libgloo-dev'],
    ['/usr/include/gloo/rendezvous/redis_store.h', 'libgloo-dev'],
    ['/usr/include/hiredis/hiredis.h', 'libhiredis-dev'],
  ];
  for (const [file, pkg] of headers) if (!existsSync(file)) missing.push([file, pkg]);
  const libDirs = ['/usr/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/local/lib'];
  const libgloo = libDirs.map((d) => join(d, 'libgloo.so')).find((f) => existsSync(f));
  if (!libgloo) missing.push([`libgloo.so (looked in ${libDirs.join(', ')})`, 'libgloo-dev']);
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, p]) => p))];
    throw new SetupError(
      `missing: ${missing.map(([what]) => what).join('; ')}`,
      `install with: apt-get install ${pkgs.join(' ')}\n(everything this build needs: ${APT_ALL})`,
    );
  }
  const gloo = readFileSync('/usr/include/gloo/config.h', 'utf8');
  const ver = ['MAJOR', 'MINOR', 'PATCH'].map((k) => gloo.match(new RegExp(`#define GLOO_VERSION_${k} (\\d+)`))?.[1]).join('.');
  if (!/#define GLOO_USE_REDIS 1/.test(gloo)) throw new SetupError('this libgloo-dev was built without Redis support (GLOO_USE_REDIS is not 1)');
  info(`Gloo ${ver} (${libgloo}; Redis store: yes)`);

  // Node's headers, already on disk: node-gyp's --nodedir wants the folder holding include/node.
  const candidates = [process.env.THREADFIT_NODEDIR, process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..'), '/usr/local', '/usr'].filter(
    Boolean,
  );
  tools.nodedir = candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')) && existsSync(join(d, 'include', 'node', 'common.gypi')));
  if (!tools.nodedir) {
    throw new SetupError(
      `Node's C headers not found (looked for include/node/node_api.h and common.gypi under ${candidates.join(', ')})`,
      'install them (Debian: apt-get install libnode-dev, or NodeSource nodejs which ships /usr/include/node),\n' +
        'or unpack node-v<version>-headers.tar.gz and set THREADFIT_NODEDIR to the folder that holds include/',
    );
  }
  info(`Node headers: ${tools.nodedir}/include/node (running node ${process.version})`);

  const gypCandidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const npmRoot = tryRun('npm', ['root', '-g']);
  if (npmRoot) gypCandidates.push(join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  tools.nodeGyp = gypCandidates.filter(Boolean).find((p) => existsSync(p));
  if (!tools.nodeGyp) throw new SetupError('node-gyp not found (npm normally bundles it)', 'set npm_config_node_gyp to its bin/node-gyp.js');
  info(`node-gyp: ${tools.nodeGyp} (${tryRun(process.execPath, [tools.nodeGyp, '--version']) ?? '?'})`);

  tools.tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  if (!existsSync(tools.tsc)) throw new SetupError(`${tools.tsc} not found`, 'run `npm ci` at the repository root first');
  return 'all found';
});

// ---- 2. addon --------------------------------------------------------------------------------
await step(`build the addon (node-gyp rebuild, -j ${JOBS}, --nodedir=${tools.nodedir})`, () => {
  const sources = [join(NATIVE, 'binding.gyp'), ...listFiles(join(NATIVE, 'src'))];
  const h = createHash('sha256');
  for (const f of sources) h.update(f.slice(NATIVE.length)).update(readFileSync(f));
  const want = { v: 1, sources: h.digest('hex'), nodedir: tools.nodedir, glooConfig: statSync('/usr/include/gloo/config.h').mtimeMs };
  const have = readJson(STAMP);
  if (!FORCE && existsSync(ADDON) && have && Object.entries(want).every(([k, v]) => have[k] === v)) {
    return `up to date: ${ADDON} (--force rebuilds it)`;
  }
  run(process.execPath, [tools.nodeGyp, 'rebuild', `--nodedir=${tools.nodedir}`, '-j', String(JOBS)], {
    cwd: NATIVE,
    env: { ...process.env, npm_config_nodedir: tools.nodedir },
  });
  if (!existsSync(ADDON)) throw new SetupError(`the build finished but ${ADDON} is missing`);
  const ldd = tryRun('ldd', [ADDON]);
  if (ldd && /not found/.test(ldd)) throw new SetupError(`the addon has unresolved libraries:\n${ldd}`, `apt-get install libgloo0 libhiredis0.14`);
  writeFileSync(STAMP, JSON.stringify(want, null, 2));
  return `built ${ADDON}`;
});

// ---- 3. TypeScript ---------------------------------------------------------------------------
await step('compile the TypeScript (tsc -p packages/comm-gloo)', () => {
  const srcs = listFiles(join(PKG, 'src')).concat(join(PKG, 'tsconfig.json'), join(ROOT, 'tsconfig.base.json'));
  const newestSrc = Math.max(...srcs.map((f) => statSync(f).mtimeMs));
  const outputs = listFiles(join(PKG, 'src'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(PKG, 'dist', f.slice(join(PKG, 'src').length).replace(/\.ts$/, '.js')));
  const oldestOut = outputs.every((f) => existsSync(f)) ? Math.min(...outputs.map((f) => statSync(f).mtimeMs)) : -1;
  if (!FORCE && oldestOut >= newestSrc) return 'up to date: packages/comm-gloo/dist';
  run(tools.tsc, ['-p', PKG], { cwd: ROOT });
  return `compiled ${outputs.length} files into packages/comm-gloo/dist`;
});

// ---- 4. verify -------------------------------------------------------------------------------
await step('verify: load the addon in the main thread and in 2 worker threads at once', () => {
  const index = pathToFileURL(join(PKG, 'dist', 'index.js')).href;
  const code = `
import { Worker } from 'node:worker_threads';
const m = await import(${JSON.stringify(index)});
if (m.loadError()) throw m.loadError();
const src = 'const m = await import(' + JSON.stringify(${JSON.stringify(index)}) + ');' +
  'const e = m.loadError(); if (e) throw e; (await import("node:worker_threads")).parentPort.postMessage("ok");';
const url = new URL('data:text/javascript,' + encodeURIComponent(src));
const replies = await Promise.all([0, 1].map(() => new Promise((res, rej) => {
  const w = new Worker(url);
  w.once('message', (v) => { res(v); void w.terminate(); });
  w.once('error', rej);
})));
console.log('    main thread + ' + replies.length + ' workers: ' + replies.join(', '));
`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' });
  process.stdout.write(r.stdout ?? '');
  if (r.status !== 0) {
    throw new SetupError(
      `the addon does not load (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').split('\n').slice(-15).join('\n')}`,
      'run again with --force',
    );
  }
  return 'loads in every thread';
});

const total = performance.now() - t0;
console.log('\nsetup-gloo: done. Times:');
for (const [title, ms] of timings) console.log(`  ${secs(ms).padStart(8)}  ${title}`);
console.log(`  ${secs(total).padStart(8)}  total`);

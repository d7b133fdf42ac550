// @ts-check
/**
 * A lab of network namespaces on one machine: N "hosts" on one bridge, a Redis server on host 0,
 * processes started inside the hosts, and faults (link down, bandwidth caps). Plain ESM so that
 * both vitest (test/netns.ts re-exports it with types) and scripts/bench-gloo.mjs can use it.
 *
 *   ns <run>-br: bridge br0 ── vh0 ═ eth0 (ns <run>-h0: 10.77.0.1/24, redis-server)
 *                           ── vh1 ═ eth0 (ns <run>-h1: 10.77.0.2/24)
 *                           ── vh2 ═ eth0 (ns <run>-h2: 10.77.0.3/24)
 *   ns <run>-bare: lo only
 *
 * Interface names live inside the namespaces, so parallel runs never collide; namespace names
 * carry the owning pid, so a later run deletes what a crashed run left behind. Needs root and
 * iproute2 (`ip netns`, `tc`); anything else throws a message saying so.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

export const NS_PREFIX = 'tfgloo-';

/** @param {string[]} args @param {{ allowFail?: boolean }} [o] */
function ip(args, o = {}) {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`could not run ip ${args.join(' ')}: ${r.error.message} (install iproute2)`);
  if (r.status !== 0 && !o.allowFail) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r;
}

/** @param {string} ns @param {string[]} args */
function tc(ns, args) {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'tc', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tc ${args.join(' ')} in ${ns} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM';
  }
}

/** Kills every process in a namespace and deletes it. @param {string} ns */
function destroyNamespace(ns) {
  const pids = ip(['netns', 'pids', ns], { allowFail: true }).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  ip(['netns', 'del', ns], { allowFail: true });
}

/** Deletes namespaces left by runs whose process is gone. @returns {string[]} the names deleted */
export function cleanStaleNamespaces() {
  const names = ip(['netns', 'list'], { allowFail: true })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(NS_PREFIX));
  const stale = names.filter((n) => {
    const pid = Number(n.slice(NS_PREFIX.length).split('-')[0]);
    return !Number.isInteger(pid) || !alive(pid);
  });
  stale.forEach(destroyNamespace);
  return stale;
}

/** Throws a clear error when this process cannot make namespaces. */
export function assertCanUseNetns() {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) throw new Error(`the network-namespace harness needs root (ip netns add, veth, tc); running as uid ${uid}`);
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`\`ip netns\` is unavailable (${(r.error?.message ?? r.stderr).trim()}); install iproute2 (apt-get install iproute2)`);
  }
}

/**
 * A process started in a namespace.
 * @typedef {object} NsProcess
 * @property {number} pid
 * @property {string} ns
 * @property {string[]} lines  stdout lines so far
 * @property {() => string} stderr  stderr so far
 * @property {Promise<{ code: number | null, signal: NodeJS.Signals | null }>} exit
 * @property {(pred: (line: string) => boolean, timeoutMs?: number) => Promise<string>} waitForLine
 * @property {(line: string) => void} send  writes a line to its stdin
 * @property {(signal?: NodeJS.Signals) => void} kill
 */

/**
 * @param {{ hosts: number, redisPort?: number, bare?: boolean }} opts
 */
export async function createLab(opts) {
  assertCanUseNetns();
  cleanStaleNamespaces();
  const run = `${NS_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  const bridgeNs = `${run}-br`;
  const hostNs = Array.from({ length: opts.hosts }, (_, k) => `${run}-h${k}`);
  const bareNs = `${run}-bare`;
  const addresses = hostNs.map((_, k) => `10.77.0.${k + 1}`);
  /** @type {string[]} */
  const namespaces = [];
  /** @type {Set<import('node:child_process').ChildProcess>} */
  const children = new Set();
  let cleaned = false;

  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const child of children) {
      try {
        child.kill('SIGKILL'); // works on a SIGSTOPped process too
      } catch {
        /* gone */
      }
    }
    for (const ns of namespaces) destroyNamespace(ns);
  };
  // Last resort when the test runner exits without running afterAll.
  process.once('exit', cleanup);

  /** @param {string} ns */
  const addNs = (ns) => {
    ip(['netns', 'add', ns]);
    namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  };
  try {
    addNs(bridgeNs);
    ip(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    hostNs.forEach((ns, k) => {
      addNs(ns);
      ip(['-n', bridgeNs, 'link', 'add', `vh${k}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', bridgeNs, 'link', 'set', `vh${k}`, 'master', 'br0', 'up']);
      ip(['-n', ns, 'addr', 'add', `${addresses[k]}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    });
    if (opts.bare) addNs(bareNs);
  } catch (err) {
    cleanup();
    throw err;
  }

  /**
   * Starts `cmd args` inside namespace `ns` (a host index or a namespace name).
   * @param {number | string} where @param {string} cmd @param {string[]} args
   * @param {{ env?: Record<string, string> }} [o]
   * @returns {NsProcess}
   */
  const exec = (where, cmd, args, o = {}) => {
    const ns = typeof where === 'number' ? hostNs[where] : where;
    // `ip netns exec` execs the command itself: the child's pid is the command's pid.
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
    children.add(child);
    /** @type {string[]} */
    const lines = [];
    let stderr = '';
    /** @type {Set<() => void>} */
    const listeners = new Set();
    createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', (line) => {
      lines.push(line);
      for (const l of [...listeners]) l();
    });
    child.stderr?.on('data', (d) => (stderr += d.toString()));
    child.stdin?.on('error', () => {}); // the process may be gone when we write
    const exit = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
        for (const l of [...listeners]) l();
      });
    });
    let exited = false;
    void exit.then(() => (exited = true));
    /** @type {NsProcess['waitForLine']} */
    const waitForLine = (pred, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < lines.length; seen++) {
            if (pred(lines[seen])) {
              done();
              resolve(lines[seen]);
              return;
            }
          }
          if (exited || child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${cmd} in ${ns} exited (${child.exitCode ?? child.signalCode}) before the expected line; stderr:\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a line from ${cmd} in ${ns}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    if (child.pid === undefined) throw new Error(`could not start ${cmd} in ${ns}`);
    return {
      pid: child.pid,
      ns,
      lines,
      stderr: () => stderr,
      exit,
      waitForLine,
      send: (line) => child.stdin?.write(`${line}\n`),
      kill: (signal = 'SIGKILL') => child.kill(signal),
    };
  };

  /** @type {NsProcess | undefined} */
  let redis;
  const redisPort = opts.redisPort ?? 6379;
  try {
    redis = exec(0, 'redis-server', ['--save', '', '--appendonly', 'no', '--bind', addresses[0], '--port', String(redisPort), '--protected-mode', 'no']);
    await redis.waitForLine((l) => /Ready to accept connections/.test(l), 10_000);
  } catch (err) {
    cleanup();
    throw new Error(`redis-server did not start in ${hostNs[0]} (apt-get install redis-server): ${/** @type {Error} */ (err).message}`);
  }

  /** @param {number} k */
  const bridgePort = (k) => `vh${k}`;
  return {
    run,
    hostNs,
    bareNs,
    addresses,
    redis: { host: addresses[0], port: redisPort },
    exec,
    /** Starts `node script args` in a host. @param {number | string} where @param {string} script @param {string[]} args @param {{ env?: Record<string, string> }} [o] */
    node: (where, script, args, o) => exec(where, process.execPath, [script, ...args], o),
    /** Cuts host k off the bridge (its peer end goes down; packets vanish, no reset). @param {number} k */
    linkDown: (k) => void ip(['-n', bridgeNs, 'link', 'set', bridgePort(k), 'down']),
    /** @param {number} k */
    linkUp: (k) => void ip(['-n', bridgeNs, 'link', 'set', bridgePort(k), 'up']),
    /**
     * Caps host k's bandwidth both ways with tbf (no netem on this kernel): egress of its eth0,
     * and egress of its bridge port (= its ingress). @param {number} k @param {string} rate e.g. '200mbit'
     */
    capBandwidth: (k, rate) => {
      const bits = parseRate(rate);
      const burst = Math.max(64 * 1024, Math.ceil(bits / 8 / 500)); // >= 2 ms at the rate
      const args = ['root', 'tbf', 'rate', rate, 'burst', String(burst), 'latency', '100ms'];
      tc(hostNs[k], ['qdisc', 'replace', 'dev', 'eth0', ...args]);
      tc(bridgeNs, ['qdisc', 'replace', 'dev', bridgePort(k), ...args]);
    },
    /** @param {number} k */
    uncap: (k) => {
      spawnSync('ip', ['netns', 'exec', hostNs[k], 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
      spawnSync('ip', ['netns', 'exec', bridgeNs, 'tc', 'qdisc', 'del', 'dev', bridgePort(k), 'root']);
    },
    /** Kills every process started here and deletes every namespace. Idempotent. */
    cleanup,
  };
}

/** '200mbit' -> 2e8 bits/s. @param {string} rate */
export function parseRate(rate) {
  const m = /^(\d+(?:\.\d+)?)(kbit|mbit|gbit)$/.exec(rate);
  if (!m) throw new Error(`rate must look like 200mbit or 1gbit, got ${rate}`);
  return Number(m[1]) * { kbit: 1e3, mbit: 1e6, gbit: 1e9 }[/** @type {'kbit' | 'mbit' | 'gbit'} */ (m[2])];
}

/** @typedef {Awaited<ReturnType<typeof createLab>>} Lab */

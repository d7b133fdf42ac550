/**
 * Loads the optional @threadfit/comm-gloo package (built by `npm run setup:gloo`, never by npm ci)
 * by URL, so that single-host installs neither depend on nor compile it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { networkInterfaces } from 'node:os';
import { ErrorCodes, ThreadfitError, type CommModule } from '@threadfit/shared';
import type { ClusterSpec } from './env.js';

/** packages/comm-gloo/dist/index.js, from packages/coordinator/dist/cluster/. */
export const commModuleUrl = new URL('../../../comm-gloo/dist/index.js', import.meta.url);

export async function loadComm(): Promise<CommModule> {
  if (!existsSync(fileURLToPath(commModuleUrl))) {
    throw new ThreadfitError(
      ErrorCodes.BACKEND,
      `a multi-host run needs @threadfit/comm-gloo, which is not built (${fileURLToPath(commModuleUrl)} is missing): run \`npm run setup:gloo\` (needs Debian's libgloo-dev; see docs/MULTI-HOST.md)`,
    );
  }
  const comm = (await import(commModuleUrl.href)) as CommModule;
  const err = comm.loadError();
  if (err !== undefined) throw new ThreadfitError(ErrorCodes.BACKEND, `@threadfit/comm-gloo does not load: ${err.message}`, { cause: err });
  return comm;
}

/**
 * The interface this host advertises to its peers: the flag or variable if given; else the one
 * that routes to the Redis host; with a file store, the only non-loopback IPv4 interface. Never
 * loopback: peers on other hosts could not reach it.
 */
export async function chooseInterface(spec: ClusterSpec, comm: CommModule): Promise<{ name: string; address: string }> {
  const nets = networkInterfaces();
  if (spec.iface !== undefined) {
    const addr = nets[spec.iface]?.find((a) => a.family === 'IPv4') ?? nets[spec.iface]?.[0];
    if (addr === undefined) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `--iface ${spec.iface}: no such interface with an address here (have: ${Object.keys(nets).join(', ')})`,
      );
    }
    if (addr.internal)
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `--iface ${spec.iface} is a loopback interface: peers on other hosts cannot reach it`);
    return { name: spec.iface, address: addr.address };
  }
  if (spec.store.type === 'redis') {
    try {
      return await comm.pickInterface(spec.storeHost);
    } catch (err) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, (err as Error).message, { cause: err });
    }
  }
  const candidates = Object.entries(nets).flatMap(([name, addrs]) =>
    (addrs ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => ({ name, address: a.address })),
  );
  if (candidates.length !== 1) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `with a file store, threadfit cannot tell which interface peers reach this host on (non-loopback IPv4: ${candidates.map((c) => c.name).join(', ') || 'none'}): pass --iface NAME`,
    );
  }
  return candidates[0];
}

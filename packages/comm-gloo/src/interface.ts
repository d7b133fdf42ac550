/**
 * Which local address a rank advertises to its peers. Never loopback: a peer on another host that
 * dialled 127.0.0.1 would reach itself, and the failure would show up later as a baffling timeout.
 */
import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { promisify } from 'node:util';
import { CommError, CommErrorCodes } from './errors.js';

const execFileAsync = promisify(execFile);

/** A local interface and the address on it that peers will dial. */
export interface InterfaceChoice {
  /** The interface name, e.g. `eth0`. */
  name: string;
  /** Its address, IPv4 when it has one. */
  address: string;
}

/** 127.0.0.0/8, ::1 and ::ffff:127.x. */
export function isLoopbackAddress(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address);
}

function invalid(message: string): CommError {
  return new CommError(CommErrorCodes.INVALID_OPTION, message);
}

/** The address to advertise on a named interface (IPv4 first, then a global IPv6). */
function usableAddress(infos: NetworkInterfaceInfo[]): NetworkInterfaceInfo | undefined {
  return infos.find((i) => i.family === 'IPv4' && !i.internal) ?? infos.find((i) => i.family === 'IPv6' && !i.internal && !/^fe80:/i.test(i.address));
}

/**
 * The explicit `iface`, checked: it must exist, must not be loopback and must have an address.
 */
export function interfaceAddress(iface: string): InterfaceChoice {
  const all = networkInterfaces();
  const infos = all[iface];
  if (!infos) throw invalid(`options.iface must name a local interface, got ${JSON.stringify(iface)} (have: ${Object.keys(all).join(', ')})`);
  if (infos.some((i) => i.internal) || iface === 'lo') {
    throw invalid(`options.iface ${JSON.stringify(iface)} is a loopback interface: peers on other hosts cannot reach it; name a non-loopback interface`);
  }
  const info = usableAddress(infos);
  if (!info) throw invalid(`options.iface ${JSON.stringify(iface)} has no IPv4 or global IPv6 address`);
  return { name: iface, address: info.address };
}

/** The only non-loopback interface with an address (for a file store, where no host routes). */
export function soleInterface(): InterfaceChoice {
  const found = Object.entries(networkInterfaces()).flatMap(([name, infos]) => {
    const info = usableAddress(infos ?? []);
    return info ? [{ name, address: info.address }] : [];
  });
  if (found.length !== 1) {
    const names = found.map((f) => `${f.name} (${f.address})`).join(', ') || 'none besides loopback';
    throw invalid(`options.iface is needed with a file store on this host: cannot pick one interface to advertise among ${names}`);
  }
  return found[0];
}

/** The interface that owns `address`, if it is one of ours. */
function ownerOf(address: string): InterfaceChoice | undefined {
  for (const [name, infos] of Object.entries(networkInterfaces())) {
    if (infos?.some((i) => i.address === address)) return { name, address };
  }
  return undefined;
}

/** `ip -j route get`: the device and source address the kernel would use for `target`. */
async function kernelRoute(target: string): Promise<{ dev: string; prefsrc?: string } | undefined> {
  try {
    const { stdout } = await execFileAsync('ip', ['-j', 'route', 'get', target], { timeout: 5000 });
    const routes = JSON.parse(stdout) as { dev?: string; prefsrc?: string }[];
    return routes[0]?.dev ? { dev: routes[0].dev, prefsrc: routes[0].prefsrc } : undefined;
  } catch {
    return undefined; // no iproute2, or no route
  }
}

function loopbackRefusal(host: string, detail: string): CommError {
  return invalid(
    `rendezvous host ${JSON.stringify(host)} ${detail}: this rank would advertise a loopback address that peers on other hosts ` +
      `cannot reach; use a non-loopback rendezvous address or set options.iface explicitly`,
  );
}

/**
 * The interface whose address routes to the rendezvous host: the one the kernel would send from
 * (`ip -j route get`), or the host's own interface when the rendezvous server runs here. Refuses
 * loopback (a host that resolves to 127.x or ::1, or a route via `lo`).
 */
export async function pickInterface(rendezvousHost: string): Promise<InterfaceChoice> {
  let target: string;
  try {
    target = (await lookup(rendezvousHost)).address;
  } catch (err) {
    throw new CommError(CommErrorCodes.COMM, `cannot resolve rendezvous host ${JSON.stringify(rendezvousHost)}: ${(err as Error).message}`, { cause: err });
  }
  if (isLoopbackAddress(target)) throw loopbackRefusal(rendezvousHost, `resolves to ${target}`);
  // The rendezvous server may run on this very host: its address is then one of ours (the kernel
  // would route it via lo, but the address itself is what peers dial).
  const own = ownerOf(target);
  if (own) {
    if (own.name === 'lo' || isLoopbackAddress(own.address)) throw loopbackRefusal(rendezvousHost, `is an address of the loopback interface (${target})`);
    return own;
  }
  const route = await kernelRoute(target);
  if (route) {
    if (route.dev === 'lo') throw loopbackRefusal(rendezvousHost, `(${target}) is routed via lo`);
    const infos = networkInterfaces()[route.dev] ?? [];
    const address = route.prefsrc ?? usableAddress(infos)?.address;
    if (address && !isLoopbackAddress(address)) return { name: route.dev, address };
  }
  throw new CommError(
    CommErrorCodes.COMM,
    `no interface routes to rendezvous host ${JSON.stringify(rendezvousHost)} (${target}); check the network or set options.iface explicitly`,
  );
}

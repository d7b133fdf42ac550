/** The options of a group and a store, and the one validator each. */
import { CommError, CommErrorCodes, describe, invalidOption } from './errors.js';

/** Where ranks meet: a Redis server, or a directory every rank can read and write. */
export type StoreSpec = { type: 'redis'; host: string; port: number } | { type: 'file'; path: string };

/** Options of {@link Group.create}. */
export interface GroupOptions {
  /** This process's rank, 0..size-1. */
  rank: number;
  /** How many ranks the group has, >= 1. */
  size: number;
  /** The rendezvous store. */
  store: StoreSpec;
  /**
   * Names the group in the store and in error messages, e.g. `job/gen0/c1`. Must be new for every
   * group formed: the keys a rendezvous writes are write-once.
   */
  prefix: string;
  /**
   * The interface to advertise to peers. Default: the one that routes to the Redis host (for a
   * file store: the only non-loopback interface). Loopback is refused.
   */
  iface?: string;
  /** Rendezvous timeout, and the default timeout of every collective. */
  timeoutMs: number;
}

/** Per-call options of a collective. */
export interface CallOptions {
  /** Default: the group's `timeoutMs`. */
  timeoutMs?: number;
}

const GROUP_KEYS = new Set(['rank', 'size', 'store', 'prefix', 'iface', 'timeoutMs']);

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function validateTimeout(v: unknown, name = 'timeoutMs', source = 'options'): number {
  if (!isInt(v) || v <= 0 || v > MAX_TIMEOUT_MS) throw invalidOption(name, v, `a positive integer (milliseconds, at most ${MAX_TIMEOUT_MS})`, source);
  return v;
}

export function validateStoreSpec(spec: unknown, source = 'options.store'): StoreSpec {
  if (typeof spec !== 'object' || spec === null) {
    throw new CommError(CommErrorCodes.INVALID_OPTION, `${source} must be {type:'redis', host, port} or {type:'file', path}, got ${describe(spec)}`);
  }
  const s = spec as Record<string, unknown>;
  const allowed = s.type === 'redis' ? ['type', 'host', 'port'] : s.type === 'file' ? ['type', 'path'] : undefined;
  if (!allowed) throw invalidOption('type', s.type, "'redis' or 'file'", source);
  const unknown = Object.keys(s).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new CommError(CommErrorCodes.INVALID_OPTION, `${source} has unknown key(s) ${unknown.join(', ')} for type '${s.type}'`);
  if (s.type === 'redis') {
    if (typeof s.host !== 'string' || s.host === '') throw invalidOption('host', s.host, 'a non-empty host name or address', source);
    if (!isInt(s.port) || s.port < 1 || s.port > 65535) throw invalidOption('port', s.port, 'an integer in 1..65535', source);
    return { type: 'redis', host: s.host, port: s.port };
  }
  if (typeof s.path !== 'string' || s.path === '') throw invalidOption('path', s.path, 'a non-empty directory path', source);
  return { type: 'file', path: s.path };
}

export function validatePrefix(prefix: unknown, source = 'options'): string {
  if (typeof prefix !== 'string' || prefix === '') throw invalidOption('prefix', prefix, 'a non-empty string', source);
  return prefix;
}

/** Checks every option before any socket opens; rejects unknown keys. */
export function validateGroupOptions(o: unknown): GroupOptions {
  if (typeof o !== 'object' || o === null) throw new CommError(CommErrorCodes.INVALID_OPTION, `Group.create needs an options object, got ${describe(o)}`);
  const g = o as Record<string, unknown>;
  const unknown = Object.keys(g).filter((k) => !GROUP_KEYS.has(k));
  if (unknown.length) {
    throw new CommError(CommErrorCodes.INVALID_OPTION, `options has unknown key(s) ${unknown.join(', ')} (known: ${[...GROUP_KEYS].join(', ')})`);
  }
  if (!isInt(g.size) || g.size < 1) throw invalidOption('size', g.size, 'an integer >= 1');
  if (!isInt(g.rank) || g.rank < 0 || g.rank >= g.size) throw invalidOption('rank', g.rank, `an integer in 0..${g.size - 1} (size is ${g.size})`);
  const store = validateStoreSpec(g.store);
  const prefix = validatePrefix(g.prefix);
  const timeoutMs = validateTimeout(g.timeoutMs);
  if (g.iface !== undefined && (typeof g.iface !== 'string' || g.iface === '')) throw invalidOption('iface', g.iface, 'a non-empty interface name');
  return { rank: g.rank, size: g.size, store, prefix, timeoutMs, ...(g.iface !== undefined ? { iface: g.iface as string } : {}) };
}

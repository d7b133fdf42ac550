/**
 * The network-namespace lab for tests that need several hosts: N namespaces on one bridge with
 * 10.77.0.x/24 addresses, Redis on host 0, processes started inside, link-down and bandwidth caps,
 * cleanup of everything (and of what a crashed earlier run left). The implementation is plain ESM
 * in packages/comm-gloo/test/netns.mjs so that scripts/bench-gloo.mjs shares it; this file gives
 * it types.
 */
import * as impl from '../packages/comm-gloo/test/netns.mjs';

export interface NsProcess {
  pid: number;
  ns: string;
  /** stdout lines so far */
  lines: string[];
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line (past or future) that matches. */
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Writes a line to its stdin. */
  send(line: string): void;
  kill(signal?: NodeJS.Signals): void;
}

export interface Lab {
  run: string;
  hostNs: string[];
  bareNs: string;
  /** 10.77.0.(k+1) for host k */
  addresses: string[];
  redis: { host: string; port: number };
  exec(where: number | string, cmd: string, args: string[], o?: { env?: Record<string, string> }): NsProcess;
  node(where: number | string, script: string, args: string[], o?: { env?: Record<string, string> }): NsProcess;
  linkDown(k: number): void;
  linkUp(k: number): void;
  capBandwidth(k: number, rate: string): void;
  uncap(k: number): void;
  cleanup(): void;
}

export const createLab = impl.createLab as (opts: { hosts: number; redisPort?: number; bare?: boolean }) => Promise<Lab>;
export const assertCanUseNetns: () => void = impl.assertCanUseNetns;
export const cleanStaleNamespaces: () => string[] = impl.cleanStaleNamespaces;
export const parseRate: (rate: string) => number = impl.parseRate;

/**
 * Loads the addon (`native/build/Release/comm_gloo.node`, built by `npm run setup:gloo`) on first
 * use, in whichever thread asks: it is context-aware, so every worker thread may load it.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CommError, CommErrorCodes } from './errors.js';

/** A store as the addon takes it. */
export type NativeStoreSpec = { type: 'redis'; host: string; port: number } | { type: 'file'; path: string };

/** Typed arrays that broadcast and allgather move (bytes: the element type only fixes the count). */
export type WireArray = Float32Array | Int32Array | Uint8Array;

/** The functions the addon exports; every handle is a process-wide integer. */
export interface NativeBinding {
  createGroup(o: { rank: number; size: number; store: NativeStoreSpec; prefix: string; iface?: string; hostname?: string; timeoutMs: number }): Promise<number>;
  groupInfo(handle: number): { rank: number; size: number; prefix: string; timeoutMs: number };
  closeGroup(handle: number): boolean;
  allreduce(handle: number, data: Float32Array, timeoutMs?: number): Promise<void>;
  reduceScatter(handle: number, data: Float32Array, recvCounts: number[], timeoutMs?: number): Promise<void>;
  allgather(handle: number, input: WireArray, output: WireArray, timeoutMs?: number): Promise<void>;
  broadcast(handle: number, data: WireArray, root: number, timeoutMs?: number): Promise<void>;
  barrier(handle: number, timeoutMs?: number): Promise<void>;
  storeOpen(spec: NativeStoreSpec, prefix: string): Promise<number>;
  storeSet(handle: number, key: string, value: Uint8Array | string): Promise<void>;
  storeGet(handle: number, key: string, timeoutMs: number): Promise<Uint8Array>;
  storeWait(handle: number, keys: string[], timeoutMs: number): Promise<void>;
  storeCheck(handle: number, keys: string[]): Promise<boolean>;
  storeClose(handle: number): boolean;
}

/** Where the addon is expected (the same path from `src/` under vitest and from `dist/`). */
export const ADDON_PATH = fileURLToPath(new URL('../native/build/Release/comm_gloo.node', import.meta.url));

let binding: NativeBinding | undefined;
let failure: Error | undefined;

function load(): void {
  if (binding || failure) return;
  try {
    binding = createRequire(import.meta.url)(ADDON_PATH) as NativeBinding;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    failure = new CommError(
      CommErrorCodes.UNAVAILABLE,
      `the Gloo addon is not available: run \`npm run setup:gloo\` (it builds ${ADDON_PATH} against Debian's libgloo-dev); loading it said: ${why}`,
      { cause: err },
    );
  }
}

/** The addon, or the error saying how to build it. */
export function native(): NativeBinding {
  load();
  if (!binding) throw failure;
  return binding;
}

/**
 * `undefined` when the addon loads in this thread; otherwise an error (code
 * `ERR_THREADFIT_COMM_UNAVAILABLE`) that says to run `npm run setup:gloo` and quotes the
 * underlying dlopen message.
 */
export function loadError(): Error | undefined {
  load();
  return failure;
}

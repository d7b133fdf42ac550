/** gloo's rendezvous store (Redis or a shared directory) under a key prefix, for small metadata. */
import { invalidOption } from './errors.js';
import { native } from './native.js';
import { validatePrefix, validateStoreSpec, validateTimeout, type StoreSpec } from './options.js';

function validateKeys(keys: unknown): string[] {
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')) throw invalidOption('keys', keys, 'an array of non-empty strings', 'Store');
  return keys as string[];
}

export class Store {
  readonly handle: number;

  private constructor(handle: number) {
    this.handle = handle;
  }

  /** Connects (Redis: 2 s connect timeout) or opens the directory; every key gets `prefix/`. */
  static async open(spec: StoreSpec, prefix: string): Promise<Store> {
    const s = validateStoreSpec(spec, 'store');
    const p = validatePrefix(prefix, 'Store.open');
    return new Store(await native().storeOpen(s, p));
  }

  /** Writes a key once: gloo's stores refuse to overwrite (Redis SETNX, an existing file). */
  async set(key: string, value: Uint8Array | string): Promise<void> {
    await native().storeSet(this.handle, key, value);
  }

  /** Waits up to `timeoutMs` for the key, then reads it. */
  async get(key: string, timeoutMs: number): Promise<Uint8Array> {
    return native().storeGet(this.handle, key, validateTimeout(timeoutMs, 'timeoutMs', 'Store.get'));
  }

  /** Resolves when every key exists; rejects (`ERR_THREADFIT_COMM`) after `timeoutMs`. */
  async wait(keys: readonly string[], timeoutMs: number): Promise<void> {
    await native().storeWait(this.handle, validateKeys(keys), validateTimeout(timeoutMs, 'timeoutMs', 'Store.wait'));
  }

  /** Whether every key exists now (one round trip, no waiting). */
  async check(keys: readonly string[]): Promise<boolean> {
    return native().storeCheck(this.handle, validateKeys(keys));
  }

  /** Closes the connection once calls in flight have finished. Idempotent. */
  close(): void {
    native().storeClose(this.handle);
  }
}

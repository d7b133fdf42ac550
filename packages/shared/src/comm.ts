/**
 * What threadfit needs of @threadfit/comm-gloo, as a structural type: the coordinator and the
 * workers import that optional package by URL at run time (single-host users never build it), so
 * no package here depends on it. packages/comm-gloo/src/index.ts is the implementation.
 */

export type StoreSpec = { type: 'redis'; host: string; port: number } | { type: 'file'; path: string };

export interface CollectiveOptions {
  timeoutMs?: number;
}

/** A Gloo group (one rendezvous prefix); its native context lives process-wide, by handle. */
export interface CommGroup {
  readonly handle: number;
  readonly rank: number;
  readonly size: number;
  allreduce(a: Float32Array, o?: CollectiveOptions): Promise<void>;
  allgather(input: Float32Array | Int32Array | Uint8Array, output: Float32Array | Int32Array | Uint8Array, o?: CollectiveOptions): Promise<void>;
  broadcast(a: Float32Array | Int32Array | Uint8Array, root: number, o?: CollectiveOptions): Promise<void>;
  barrier(o?: CollectiveOptions): Promise<void>;
  close(): void;
}

export interface CommStore {
  set(key: string, value: Uint8Array | string): Promise<void>;
  get(key: string, timeoutMs: number): Promise<Uint8Array>;
  wait(keys: string[], timeoutMs: number): Promise<void>;
  check(keys: string[]): Promise<boolean>;
  close(): void;
}

export interface CommModule {
  Group: {
    create(o: { rank: number; size: number; store: StoreSpec; prefix: string; iface?: string; timeoutMs: number }): Promise<CommGroup>;
    attach(handle: number, rank: number, size: number): CommGroup;
  };
  Store: { open(spec: StoreSpec, prefix: string): Promise<CommStore> };
  loadError(): Error | undefined;
  pickInterface(rendezvousHost: string): { name: string; address: string } | Promise<{ name: string; address: string }>;
}

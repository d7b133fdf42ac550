// The lab's exports, untyped here: test/netns.ts re-exports them with their types.
export declare const NS_PREFIX: string;
export declare function createLab(opts: unknown): Promise<unknown>;
export declare function assertCanUseNetns(): void;
export declare function cleanStaleNamespaces(): string[];
export declare function parseRate(rate: string): number;

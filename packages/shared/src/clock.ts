/**
 * Wall-clock milliseconds comparable across threads: each thread's performance.now() has its own
 * origin, so step end times written by a worker and read by the coordinator need timeOrigin added.
 */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/**
 * Everything @threadfit/shared has except the logger: what the worker threads import
 * (`@threadfit/shared/core`). Workers log nothing, and pino with its dependencies costs each
 * worker ~15 ms of start-up (docs/PERFORMANCE.md, "Session 10").
 */
export * from './errors.js';
export * from './clock.js';
export * from './layout.js';
export * from './kernels.js';
export * from './transpose.js';
export * from './dense-step-kernels.js';
export * from './optimizers.js';
export * from './optimizer-references.js';
export * from './rng.js';
export * from './shard.js';
export * from './idx.js';
export * from './protocol.js';
export * from './comm.js';
export * from './switches.js';

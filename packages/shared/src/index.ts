export * from './errors.js';
export * from './layout.js';
export * from './kernels.js';
export * from './rng.js';
export * from './shard.js';
export * from './idx.js';
export * from './logger.js';
export * from './protocol.js';

/** Checkpoints as one unit: the on-disk format, reading and writing, optimizer state, the run-time policy. */
export * from './store.js';
export { checkpointWeightSpecs, readOptimizerSlots, restoreOptimizerState } from './optimizer-state.js';
export { checkpointIOHandler } from './io-handler.js';

/** The whole package: the core (core.ts) and the pino logger factory, for the coordinator. */
export * from './core.js';
export * from './logger.js';

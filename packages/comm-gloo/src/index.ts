/**
 * @threadfit/comm-gloo: collectives across hosts over Debian's Gloo, from any worker thread.
 * Build the addon first: `npm run setup:gloo`.
 */
export { Group } from './group.js';
export { Store } from './store.js';
export { loadError, ADDON_PATH, type WireArray } from './native.js';
export { pickInterface, interfaceAddress, isLoopbackAddress, type InterfaceChoice } from './interface.js';
export { validateGroupOptions, type GroupOptions, type StoreSpec, type CallOptions } from './options.js';
export { CommError, CommErrorCodes, type CommErrorCode } from './errors.js';

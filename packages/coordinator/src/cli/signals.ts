/**
 * Ctrl-C, SIGTERM and SIGHUP during training: the first asks the fit loop to stop after the step
 * in flight (so a checkpoint of committed state can be written); the second exits at once, which
 * corrupts nothing because every checkpoint write is atomic. SIGHUP (a closed terminal, a dropped
 * ssh session) is handled as SIGTERM: Node's default for it is to die on the spot.
 */
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** 128 + the signal's number, as a shell reports a process the signal killed. */
export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

export interface StopRequest {
  readonly signal: StopSignal | undefined;
  dispose(): void;
}

const ignore = () => {};

export function onStopSignals(onFirst: (signal: StopSignal) => void): StopRequest {
  let received: StopSignal | undefined;
  const handlers = new Map<StopSignal, () => void>();
  for (const signal of Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]) {
    handlers.set(signal, () => {
      if (received !== undefined) process.exit(SIGNAL_EXIT_CODES[signal]);
      received = signal;
      // The terminal is gone: writing progress to it fails (EIO, EPIPE), which must not kill the
      // run before its checkpoint is written.
      if (signal === 'SIGHUP') for (const s of [process.stdout, process.stderr]) s.on('error', ignore);
      onFirst(signal);
    });
  }
  for (const [signal, h] of handlers) process.on(signal, h);
  return {
    get signal() {
      return received;
    },
    dispose() {
      for (const [signal, h] of handlers) process.off(signal, h);
    },
  };
}

/**
 * Ctrl-C and SIGTERM during training: the first asks the fit loop to stop after the step in
 * flight (so a checkpoint of committed state can be written); the second exits at once, which
 * corrupts nothing because every checkpoint write is atomic.
 */
export type StopSignal = 'SIGINT' | 'SIGTERM';

export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export interface StopRequest {
  readonly signal: StopSignal | undefined;
  dispose(): void;
}

export function onStopSignals(onFirst: (signal: StopSignal) => void): StopRequest {
  let received: StopSignal | undefined;
  const handler = (signal: StopSignal) => {
    if (received !== undefined) process.exit(SIGNAL_EXIT_CODES[signal]);
    received = signal;
    onFirst(signal);
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    get signal() {
      return received;
    },
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

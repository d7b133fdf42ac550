/** The driver's side of a measurement: fork child.ts, send one config, relay progress, await the result. */
import { fork } from 'node:child_process';
import { ErrorCodes, ThreadfitError, deserializeError } from '@threadfit/shared';
import { ChildMessageTypes, type ChildMessage, type Measurement, type RunConfig } from './protocol.js';

const CHILD = new URL('./child.js', import.meta.url);

export function measureInChild(cfg: RunConfig, onProgress: (text: string) => void): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    // The child's stdout goes to our stderr: stdout carries only the results table.
    const child = fork(CHILD, [], { stdio: ['ignore', 2, 2, 'ipc'], serialization: 'advanced' });
    let settled = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    child.on('message', (m: ChildMessage) => {
      if (m.type === ChildMessageTypes.PROGRESS) onProgress(m.text);
      else if (m.type === ChildMessageTypes.RESULT) settle(() => resolve(m.measurement));
      else settle(() => reject(deserializeError(m.error)));
    });
    child.on('error', (err) => settle(() => reject(err)));
    child.on('exit', (code, signal) =>
      settle(() =>
        reject(new ThreadfitError(ErrorCodes.WORKER_EXITED, `the measuring child process exited (${signal ?? `code ${code}`}) before it sent a result`)),
      ),
    );
    child.send(cfg);
  });
}

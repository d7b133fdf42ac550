/**
 * threadfit's performance switches: environment variables that turn one fast path off, for
 * comparisons (the bench's before/after) and as a workaround should a path misbehave on some
 * machine. Declared here, in one place; read where they act (in the workers, which share the
 * process environment); checked by the coordinator before any worker starts, so a mistyped value
 * is an error naming the variable and the values it takes rather than a silent default.
 */
import { ErrorCodes, ThreadfitError } from './errors.js';

export const SWITCHES = {
  /** The Dense chain's native step (tensorflow's addons, wasm's SIMD kernels for small chains): 0 = the dense fast path on tfjs kernels; graph = the TF graph even where the AVX-512 kernels run (tensorflow only; wasm keeps its step). */
  THREADFIT_NATIVE_STEP: ['0', 'graph'],
  /** 0 = the WebAssembly reduce + Adam instead of the AVX-512 one. */
  THREADFIT_NATIVE_UPDATE: ['0'],
  /** 0 = tape models on tensorflow stay on the tape (no traced graph step). */
  THREADFIT_TRACED_STEP: ['0'],
  /** 0 = tfjs's own Relu gradient on tensorflow instead of TensorFlow's ReluGrad. */
  THREADFIT_TF_RELU_GRAD: ['0'],
} as const;

export type SwitchName = keyof typeof SWITCHES;

/** The switch's value when it is set to one of its values; undefined when unset, empty or 1 (the default: on). */
export function switchValue<N extends SwitchName>(name: N, env: NodeJS.ProcessEnv = process.env): (typeof SWITCHES)[N][number] | undefined {
  const v = env[name];
  if (v === undefined || v === '' || v === '1') return undefined;
  if ((SWITCHES[name] as readonly string[]).includes(v)) return v as (typeof SWITCHES)[N][number];
  throw new ThreadfitError(
    ErrorCodes.INVALID_OPTION,
    `environment variable ${name}=${JSON.stringify(v)} is not one of its values: ${['1 (default)', ...SWITCHES[name]].join(', ')}`,
  );
}

/** Throws for the first switch set to a value it does not take (see switchValue). */
export function checkSwitches(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of Object.keys(SWITCHES) as SwitchName[]) switchValue(name, env);
}

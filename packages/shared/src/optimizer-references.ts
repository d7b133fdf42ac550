/**
 * Plain-JS references of the optimizer kernels (assembly/optimizers.ts): the same float32
 * operations in the same order, one element at a time. Tests only, and the spec of the maths;
 * never on the training path (a JS loop costs 9-16 ns per parameter, DESIGN.md).
 */
import { BACKEND_EPSILON, adamaxStepScale, referenceAdam } from './kernels.js';
import type { OptimizerSpec } from './optimizers.js';

const f = Math.fround;

/**
 * One step of `spec` on [start, end) in place: g is the reduced gradient, p the weights, state the
 * slots in stateSlotsOf order; `step` is 1-based (Adam and Adamax use it).
 */
export function referenceUpdate(spec: OptimizerSpec, g: Float32Array, p: Float32Array, state: Float32Array[], step: number, start: number, end: number): void {
  switch (spec.kind) {
    case 'adam':
      return referenceAdam(g, p, state[0], state[1], spec, step, start, end);
    case 'sgd': {
      const c = f(-spec.learningRate);
      for (let i = start; i < end; i++) p[i] = f(f(c * g[i]) + p[i]);
      return;
    }
    case 'momentum': {
      const c = f(-spec.learningRate),
        m = f(spec.momentum);
      const [acc] = state;
      for (let i = start; i < end; i++) {
        const a = f(f(m * acc[i]) + g[i]);
        const dir = spec.useNesterov ? f(g[i] + f(a * m)) : a;
        p[i] = f(f(c * dir) + p[i]);
        acc[i] = a;
      }
      return;
    }
    case 'rmsprop': {
      const lr = f(spec.learningRate),
        d = f(spec.decay),
        c = f(1 - spec.decay),
        mu = f(spec.momentum),
        eps = f(spec.epsilon);
      const [ms, mom, mg] = state;
      for (let i = start; i < end; i++) {
        const msi = f(f(ms[i] * d) + f(f(g[i] * g[i]) * c));
        let denom: number;
        if (spec.centered) {
          const mgi = f(f(mg[i] * d) + f(g[i] * c));
          // tfjs's formula as written: eps is subtracted (NaN where ms' - mg'^2 < eps).
          denom = f(Math.sqrt(f(msi - f(f(mgi * mgi) + eps))));
          mg[i] = mgi;
        } else {
          denom = f(Math.sqrt(f(msi + eps)));
        }
        const momi = f(f(mom[i] * mu) + f(f(g[i] * lr) / denom));
        p[i] = f(p[i] - momi);
        ms[i] = msi;
        mom[i] = momi;
      }
      return;
    }
    case 'adagrad': {
      const c = f(-spec.learningRate),
        eps = f(BACKEND_EPSILON);
      const [acc] = state;
      for (let i = start; i < end; i++) {
        const a = f(acc[i] + f(g[i] * g[i]));
        p[i] = f(f(f(g[i] / f(Math.sqrt(f(a + eps)))) * c) + p[i]);
        acc[i] = a;
      }
      return;
    }
    case 'adadelta': {
      const c = f(-spec.learningRate),
        rho = f(spec.rho),
        k = f(1 - spec.rho),
        eps = f(spec.epsilon);
      const [ag, au] = state;
      for (let i = start; i < end; i++) {
        const agi = f(f(ag[i] * rho) + f(f(g[i] * g[i]) * k));
        // The OLD accum_grad in the denominator, as tfjs does.
        const u = f(f(f(Math.sqrt(f(au[i] + eps))) / f(Math.sqrt(f(ag[i] + eps)))) * g[i]);
        au[i] = f(f(au[i] * rho) + f(f(u * u) * k));
        ag[i] = agi;
        p[i] = f(f(u * c) + p[i]);
      }
      return;
    }
    case 'adamax': {
      const b1 = f(spec.beta1),
        b2 = f(spec.beta2),
        c1 = f(1 - spec.beta1),
        eps = f(spec.epsilon);
      const k = adamaxStepScale(step, spec);
      const [m, v] = state;
      for (let i = start; i < end; i++) {
        const mi = f(f(m[i] * b1) + f(g[i] * c1));
        const vi = Math.max(f(v[i] * b2), Math.abs(g[i]));
        p[i] = f(f(k * f(mi / f(vi + eps))) + p[i]);
        m[i] = mi;
        v[i] = vi;
      }
      return;
    }
  }
}

/**
 * tfjs draws the seed of an unseeded random op (dropout, random initializers) from Math.random().
 * Running a function with Math.random replaced by a seeded generator makes those draws a pure
 * function of the seed. Synchronous only: the original is restored before returning.
 */
import { Rng } from '@threadfit/shared/core';

export function withSeededMathRandom<T>(seed: number, fn: () => T): T {
  const original = Math.random;
  const rng = new Rng(seed);
  Math.random = () => rng.next();
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

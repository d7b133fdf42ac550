/**
 * The two halves of one step inside a worker, as execution.ts drives them: a rank's gradients
 * (Replica.grad) and its chunk's reduce + optimizer (ChunkUpdater). Plain data between modules of
 * one thread; what crosses threads is in @threadfit/shared's protocol.ts.
 */
import type { CommTask, MicroBatch } from '@threadfit/shared/core';

/** A rank's share of one step: one micro-batch normally; several in deterministic or accumulation mode. */
export interface GradRequest {
  rank: number;
  micro: MicroBatch[];
  /** Committed optimizer step the weights come from (cache key) and the buffer that holds them. */
  step: number;
  from: 0 | 1;
}

export interface GradResult {
  rank: number;
  count: number;
  /** Sum over the slice's samples of the loss (mean loss x count) and of each metric. */
  lossSum: number;
  metricSums: number[];
  /** Time in the worker: gathering rows, loading weights + forward/backward, copying out. */
  ms: { gather: number; compute: number; copy: number };
}

/** Reduce the step's gradient slots over one chunk and apply the optimizer into the other buffer. */
export interface UpdateRequest {
  chunk: number;
  chunks: number;
  /** Gradient slots holding this step's micro-batch gradients (slots 0..slots-1). */
  slots: number;
  /** The learning rate of this step (a schedule may change it); default: the optimizer's. */
  learningRate?: number;
  from: 0 | 1;
  /** The step being made (1-based: committed step + 1). */
  step: number;
  /** Several hosts: sum this chunk across the hosts before the optimizer reads it. */
  comm?: CommTask;
}

export interface UpdateResult {
  chunk: number;
  nonFinite: number;
  /** Reduce + optimizer time in the worker (the cross-host sum excluded). */
  ms: number;
  /** Time in the cross-host sum (multi-host only). */
  commMs?: number;
}

import type { StateViews } from '@threadfit/shared/core';

/**
 * Non-trainable weights at commit (the committing rank of execution.ts calls this once every
 * slot's copy is written): each micro-batch's copy after its forward pass, averaged with the
 * slots' sample weights into the uncommitted buffer. For BatchNormalization's moving mean this is
 * the update with the global batch mean; for the moving variance, the mean of the per-rank
 * variances (as DDP without SyncBatchNorm). A value no rank changed (a frozen layer) is copied
 * as it is, so it stays bit-exact. Small (Q values), so plain JS. Returns the non-finite count.
 */
export function averageBuffers(views: StateViews, from: 0 | 1, slots: number): number {
  let bad = 0;
  const src = views.buffers(from);
  const dst = views.buffers((1 - from) as 0 | 1);
  const copies = Array.from({ length: slots }, (_, s) => views.bufferSlot(s));
  const w = views.slotWeights;
  for (let i = 0; i < src.length; i++) {
    const old = src[i];
    let changed = false;
    for (let s = 0; s < slots; s++) if (copies[s][i] !== old) changed = true;
    if (!changed) {
      dst[i] = old;
      continue;
    }
    let sum = 0;
    for (let s = 0; s < slots; s++) sum += copies[s][i] * w[s];
    dst[i] = sum;
    if (!Number.isFinite(dst[i])) bad++;
  }
  return bad;
}

#!/usr/bin/env node
/**
 * Times a Gloo ring allreduce of the seed MLP's gradient (407,050 float32 = 1.6 MB) between
 * network namespaces on this machine, at 2 and 3 hosts, uncapped and with tbf caps, next to the
 * ring bound 2(N-1)/N x bytes / bandwidth. Needs root and a built addon (npm run setup:gloo).
 *
 *   node scripts/bench-gloo.mjs [--reps 10] [--warmup 3] [--caps none,1gbit,200mbit] [--json FILE]
 *
 * Figures: the median over reps of each rank's allreduce time, then the slowest rank. Every
 * namespace shares this machine's cores, so "uncapped" measures memory copies and the loopback-
 * speed veth path, not a real NIC.
 */
import { writeFileSync } from 'node:fs';
import { createLab, parseRate } from '../packages/comm-gloo/test/netns.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const REPS = Number(opt('--reps', 10));
const WARMUP = Number(opt('--warmup', 3));
const JSON_OUT = opt('--json', undefined);
// Link caps to measure (tbf rates); 'none' = uncapped veth.
const CAPS = opt('--caps', 'none,1gbit,200mbit')
  .split(',')
  .map((c) => (c === 'none' ? undefined : c));
const FLOATS = 784 * 512 + 512 + 512 * 10 + 10; // 407,050
const BYTES = FLOATS * 4;
const FIXTURE = new URL('../packages/comm-gloo/test/fixtures/rank.mjs', import.meta.url).pathname;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const lab = await createLab({ hosts: 3 });
const rows = [];
try {
  for (const cap of CAPS) {
    for (const size of [2, 3]) {
      for (let k = 0; k < 3; k++) {
        if (cap) lab.capBandwidth(k, cap);
        else lab.uncap(k);
      }
      const prefix = `${lab.run}/bench-${size}-${cap ?? 'uncapped'}`;
      const ranks = Array.from({ length: size }, (_, rank) =>
        lab.node(rank, FIXTURE, [
          JSON.stringify({
            mode: 'bench',
            rank,
            size,
            store: { type: 'redis', ...lab.redis },
            prefix,
            timeoutMs: 30_000,
            n: FLOATS,
            reps: REPS,
            warmup: WARMUP,
          }),
        ]),
      );
      const results = await Promise.all(ranks.map((p) => p.waitForLine((l) => l.includes('"bench"'), 120_000).then((l) => JSON.parse(l))));
      await Promise.all(ranks.map((p) => p.exit));
      const ms = Math.max(...results.map((r) => median(r.ms)));
      const boundMs = cap ? ((2 * (size - 1)) / size) * ((BYTES * 8) / parseRate(cap)) * 1000 : undefined;
      const row = { hosts: size, link: cap ?? 'uncapped', medianMs: Number(ms.toFixed(2)), ringBoundMs: boundMs && Number(boundMs.toFixed(1)) };
      rows.push(row);
      console.log(
        `${String(size).padStart(2)} hosts  ${row.link.padEnd(9)}  allreduce ${ms.toFixed(1).padStart(7)} ms` +
          (boundMs ? `   ring bound ${boundMs.toFixed(1).padStart(6)} ms  (${((boundMs / ms) * 100).toFixed(0)}% of line rate)` : ''),
      );
    }
  }
} finally {
  lab.cleanup();
}
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ floats: FLOATS, bytes: BYTES, reps: REPS, warmup: WARMUP, rows }, null, 2));

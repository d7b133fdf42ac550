/**
 * The multi-host tests need the Gloo addon built by scripts/setup-gloo.mjs (a no-op when up to
 * date; `.ci/run` runs it first). vitest runs test files in parallel processes, so the build is
 * serialized by a lock directory: two node-gyp runs in one build tree would corrupt it. A machine
 * where the set-up cannot run fails the tests with the script's own message.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const LOCK = join(ROOT, 'packages', 'comm-gloo', 'native', '.setup-lock');
/** A lock older than this was left by a killed run. */
const STALE_MS = 600_000;

export async function ensureGlooAddon(): Promise<void> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_MS) rmSync(LOCK, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'setup-gloo.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0)
      throw new Error(`\`npm run setup:gloo\` failed (exit ${r.status}):\n${`${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n')}`);
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

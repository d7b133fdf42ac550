/**
 * The packages as a user gets them: what each one imports at run time is among its dependencies;
 * `npm pack` of each workspace, installed into an empty project outside this repository, runs a
 * tiny parallelFit (2 workers), type-checks for a TypeScript user and runs the threadfit bin.
 * Needs the build (npm test builds first) and the npm registry or npm's cache for the
 * dependencies (a few seconds with a warm cache; the install is allowed 4 minutes).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const ROOT = new URL('..', import.meta.url).pathname;
const PACKAGES = ['shared', 'worker', 'coordinator'] as const;
const manifest = (pkg: string) =>
  JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    dependencies?: Record<string, string>;
    files: string[];
  };
/** Imported lazily and only when installed (`--backend tensorflow`); not a dependency on purpose. */
const OPTIONAL = new Set(['@tensorflow/tfjs-node']);

/** Bare module specifiers (static and dynamic imports) of every built .js file under `dir`. */
function bareImports(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const file = join(entry.parentPath, entry.name);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(
      /(?:^\s*(?:import|export)\b[^;'"]*?\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"\n]+)['"]|require(?:\.resolve)?\(\s*['"]([^'"\n]+)['"]/gm,
    )) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!found.has(name)) found.set(name, file.slice(ROOT.length));
    }
  }
  return found;
}

/** npm's own variables from an enclosing `npm test` would point a child npm at this repository. */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));

function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): SpawnSyncReturns<string> {
  const r = spawnSync(command, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${command} ${args.join(' ')} in ${cwd}: ${r.error.message}`);
  return r;
}
const output = (r: SpawnSyncReturns<string>): string => `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

describe('run-time imports are dependencies', () => {
  it.each(PACKAGES)('%s: every bare import in dist/ is in its dependencies', (pkg) => {
    const { name, dependencies = {} } = manifest(pkg);
    const imports = bareImports(join(ROOT, 'packages', pkg, 'dist'));
    const missing = [...imports].filter(([dep]) => dep !== name && !(dep in dependencies) && !OPTIONAL.has(dep)).map(([dep, file]) => `${dep} (${file})`);
    expect(missing, `${name} imports these at run time but does not depend on them`).toEqual([]);
  });
});

describe('the packed workspaces, installed into an empty project', () => {
  const tmp = tempDir('threadfit-pack-');
  const packs = join(tmp.dir, 'packs');
  const project = join(tmp.dir, 'project');
  let packed: Array<{ name: string; filename: string; files: Array<{ path: string }> }>;
  afterAll(() => tmp.cleanup());

  beforeAll(() => {
    mkdirSync(packs);
    mkdirSync(project);
    const pack = run('npm', ['pack', ...PACKAGES.flatMap((p) => ['--workspace', `packages/${p}`]), '--pack-destination', packs, '--json'], ROOT);
    expect(pack.status, output(pack)).toBe(0);
    packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as typeof packed;
    const init = run('npm', ['init', '-y'], project);
    expect(init.status, output(init)).toBe(0);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ ...pkg, type: 'module' }, null, 2));
    const tarballs = packed.map((p) => join(packs, p.filename));
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], project, 230_000);
    expect(install.status, output(install)).toBe(0);
  }, 240_000);

  it('each tarball carries its built code, declarations and LICENSE; shared carries the kernels', () => {
    expect(packed.map((p) => p.name)).toEqual(PACKAGES.map((p) => `@threadfit/${p}`));
    for (const p of packed) {
      const files = p.files.map((f) => f.path);
      expect(files, p.name).toEqual(expect.arrayContaining(['package.json', 'LICENSE', 'dist/index.js', 'dist/index.d.ts']));
      expect(
        files.filter((f) => f.endsWith('.tsbuildinfo') || f.startsWith('test/')),
        p.name,
      ).toEqual([]);
    }
    expect(packed[0].files.map((f) => f.path)).toEqual(expect.arrayContaining(['build/kernels.wasm', 'build/transpose.wasm', 'build/dense-step.wasm']));
    expect(packed[1].files.map((f) => f.path)).toContain('dist/entry.js');
    expect(packed[2].files.map((f) => f.path)).toContain('dist/cli/main.js');
  });

  it('a tiny parallelFit runs there: 2 workers, a 2-layer model, random data, 1 epoch', () => {
    writeFileSync(
      join(project, 'fit.mjs'),
      `import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { bundledMnistDir, parallelFit, VERSION } from '@threadfit/coordinator';
import { ErrorCodes } from '@threadfit/shared';
import { workerEntryUrl } from '@threadfit/worker';

const model = tf.sequential({
  layers: [tf.layers.dense({ units: 16, activation: 'relu', inputShape: [4] }), tf.layers.dense({ units: 2, activation: 'softmax' })],
});
model.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(0.01), metrics: ['accuracy'] });
const x = tf.randomUniform([256, 4], 0, 1, 'float32', 7);
const y = tf.oneHot(tf.cast(tf.greater(x.slice([0, 0], [256, 1]).reshape([256]), 0.5), 'int32'), 2).toFloat();
const history = await parallelFit(model, x, y, { workers: 2, epochs: 1, batchSize: 32, verbose: 0 });
console.log(JSON.stringify({ version: VERSION, history: history.history, code: ErrorCodes.BAD_DATA, entry: existsSync(workerEntryUrl), mnist: existsSync(bundledMnistDir()), resolved: import.meta.resolve('@threadfit/coordinator') }));
`,
    );
    const r = run(process.execPath, ['fit.mjs'], project);
    expect(r.status, output(r)).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      version: string;
      history: Record<string, number[]>;
      code: string;
      entry: boolean;
      mnist: boolean;
      resolved: string;
    };
    expect(result.version).toBe(manifest('coordinator').version);
    expect(Object.keys(result.history).sort()).toEqual(['acc', 'loss']);
    expect(result.history.loss).toHaveLength(1);
    expect(Number.isFinite(result.history.loss[0])).toBe(true);
    expect(result).toMatchObject({ code: 'ERR_THREADFIT_BAD_DATA', entry: true, mnist: true });
    // Loaded from the project's node_modules, not from this repository's workspaces.
    expect(result.resolved).toBe(`file://${project}/node_modules/@threadfit/coordinator/dist/index.js`);
  });

  it('type-checks for a TypeScript user (NodeNext), through the exports maps and declarations', () => {
    writeFileSync(
      join(project, 'consumer.ts'),
      `import type * as tf from '@tensorflow/tfjs';
import { parallelFit, type ParallelFitOptions } from '@threadfit/coordinator';
import { ErrorCodes, type ErrorCode } from '@threadfit/shared';
import { workerEntryUrl } from '@threadfit/worker';

const options: ParallelFitOptions = { workers: 2, epochs: 1, batchSize: 32 };
export async function fit(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<number> {
  const history = await parallelFit(model, x, y, options);
  const code: ErrorCode = ErrorCodes.BAD_DATA;
  return history.history.loss.length + code.length + workerEntryUrl.href.length;
}
// @ts-expect-error -- the declarations are real types, not any: an unknown option is refused
export const bad: ParallelFitOptions = { workerz: 2 };
`,
    );
    const tsconfig = {
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: [] },
      files: ['consumer.ts'],
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    const r = run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project);
    expect(r.status, output(r)).toBe(0);
  });

  it('npx threadfit --help and npx threadfit train --help', () => {
    const top = run('npx', ['--no-install', 'threadfit', '--help'], project);
    expect(top.status, output(top)).toBe(0);
    expect(top.stdout).toMatch(/^threadfit 0\.1\.0: data-parallel TensorFlow\.js training/);
    for (const command of ['train', 'evaluate', 'plot', 'bench', 'scale']) expect(top.stdout).toContain(`  ${command} `);
    const train = run('npx', ['--no-install', 'threadfit', 'train', '--help'], project);
    expect(train.status, output(train)).toBe(0);
    expect(train.stdout).toContain('Usage: threadfit train [options]');
    expect(train.stdout).toMatch(/^ {2}--workers \S+ +.*\(default: auto = all cores\)$/m);
    expect(train.stdout).toMatch(/^ {2}--epochs N +.*\(default: 10\)$/m);
    expect(train.stdout).toContain('--plot FILE');
  });

  it('npx threadfit plot draws a report there (vega and vega-lite load from the installed package)', () => {
    writeFileSync(
      join(project, 'report.json'),
      JSON.stringify({ history: { loss: [0.5, 0.3], val_loss: [0.6, 0.4], acc: [0.8, 0.9], val_acc: [0.75, 0.85] } }),
    );
    const r = run('npx', ['--no-install', 'threadfit', 'plot', 'report.json', '-o', 'curves.svg'], project);
    expect(r.status, output(r)).toBe(0);
    expect(readFileSync(join(project, 'curves.svg'), 'utf8')).toMatch(/^<svg[^>]*>.*curve_loss_marks.*curve_acc_marks/s);
  });
});

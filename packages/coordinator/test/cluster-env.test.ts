/** Who a host is in a multi-host run: flags, then torchrun/PyTorchJob and Slurm variables. */
import { describe, expect, it } from 'vitest';
import { clusterFromEnv, parseRendezvous } from '../src/cluster/env.js';
import { settingsMismatch, commTimeoutFor } from '../src/cluster/host-group.js';
import { validateTrainOptions } from '../src/options/train-options.js';

describe('clusterFromEnv', () => {
  it('is a single-host run without flags or launcher variables, or with a world of one', () => {
    expect(clusterFromEnv({})).toBeUndefined();
    expect(clusterFromEnv({ WORLD_SIZE: '1', RANK: '0', MASTER_ADDR: '10.0.0.1' })).toBeUndefined();
  });

  it('reads torchrun / PyTorchJob variables, with Redis at MASTER_PORT + 1 (torchrun holds MASTER_PORT)', () => {
    const c = clusterFromEnv({
      WORLD_SIZE: '3',
      RANK: '2',
      MASTER_ADDR: '10.1.2.3',
      MASTER_PORT: '29500',
      TORCHELASTIC_RUN_ID: 'run-7',
      TORCHELASTIC_RESTART_COUNT: '1',
    });
    expect(c).toMatchObject({ launchRank: 2, worldSize: 3, minHosts: 1, store: { type: 'redis', host: '10.1.2.3', port: 29501 }, job: 'run-7-r1' });
    expect(c!.source).toBe('torchrun/PyTorchJob');
  });

  it('reads Slurm variables, and flags win over the environment', () => {
    const env = { SLURM_STEP_NUM_TASKS: '4', SLURM_PROCID: '1', SLURM_JOB_ID: '991', SLURM_STEP_ID: '3', THREADFIT_RENDEZVOUS: 'file:///shared/rdzv' };
    expect(clusterFromEnv(env)).toMatchObject({ launchRank: 1, worldSize: 4, store: { type: 'file', path: '/shared/rdzv' }, job: '991.3', source: 'Slurm' });
    // An sbatch/salloc shell sets SLURM_NTASKS for the allocation: a plain run there is one host.
    expect(clusterFromEnv({ SLURM_NTASKS: '4', SLURM_PROCID: '0', SLURM_JOB_ID: '991' })).toBeUndefined();
    const c = clusterFromEnv(env, { hosts: '2:3', hostRank: '0', rendezvous: 'redis://store.local:6390', job: 'mine', commTimeout: '2500', iface: 'eth1' });
    expect(c).toMatchObject({
      launchRank: 0,
      worldSize: 3,
      minHosts: 2,
      store: { type: 'redis', host: 'store.local', port: 6390 },
      job: 'mine',
      commTimeoutMs: 2500,
      iface: 'eth1',
    });
  });

  it('names the flag or variable of every bad value', () => {
    expect(() => clusterFromEnv({ WORLD_SIZE: 'two', RANK: '0', THREADFIT_JOB: 'j' })).toThrow(/WORLD_SIZE \(environment\) must be an integer >= 1, got "two"/);
    expect(() => clusterFromEnv({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'a', THREADFIT_JOB: 'j' })).toThrow(
      /RANK \(environment\) must be an integer in 0\.\.1, got "2"/,
    );
    expect(() => clusterFromEnv({}, { hosts: '3' })).toThrow(/--hosts 3 needs this host's rank: --host-rank/);
    expect(() => clusterFromEnv({}, { hosts: '4:3', hostRank: '0' })).toThrow(/--hosts MIN must be an integer in 1\.\.3, got "4"/);
    expect(() => clusterFromEnv({}, { hosts: '2', hostRank: '0' })).toThrow(/needs a rendezvous store/);
    expect(() => clusterFromEnv({}, { hosts: '2', hostRank: '0', rendezvous: 'redis://host' })).toThrow(/--rendezvous must be redis:\/\/HOST:PORT/);
    expect(() => clusterFromEnv({}, { hosts: '2', hostRank: '0', rendezvous: 'relative/dir' })).toThrow(/absolute directory/);
    expect(() => clusterFromEnv({}, { hostRank: '1' })).toThrow(/need --hosts N/);
    expect(() => clusterFromEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: 'a' }, { job: 'a b' })).toThrow(/--job must be a name/);
    // torchrun without --rdzv-id says 'none': not a name that is new for every run.
    expect(() => clusterFromEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: 'a', TORCHELASTIC_RUN_ID: 'none' })).toThrow(/needs a job name, new for every run/);
  });

  it('parses rendezvous URLs, IPv6 included', () => {
    expect(parseRendezvous('redis://[fd00::1]:6379', 'x').store).toEqual({ type: 'redis', host: 'fd00::1', port: 6379 });
    expect(parseRendezvous('/mnt/shared', 'x').store).toEqual({ type: 'file', path: '/mnt/shared' });
  });
});

describe('multi-host option checks', () => {
  const hosts = { hosts: '2', hostRank: '0', rendezvous: 'redis://10.0.0.1:6379', job: 'j1', workers: 2 };
  it('refuses what does not work across hosts yet, and batches too small for every worker', () => {
    expect(() => validateTrainOptions({ ...hosts, deterministic: true }, 'flag')).toThrow(/--deterministic is not supported across hosts/);
    expect(() => validateTrainOptions({ ...hosts, workers: '1:2' }, 'flag')).toThrow(/elastic workers\) is not supported across hosts/);
    expect(() => validateTrainOptions({ ...hosts, batchSize: 3 }, 'flag')).toThrow(/--batch-size 3 is smaller than 2 hosts x 2 workers/);
    expect(() => validateTrainOptions({ commTimeoutMs: 1000 }, 'flag')).toThrow(/need several hosts/);
    expect(validateTrainOptions(hosts, 'flag').cluster).toMatchObject({ worldSize: 2, launchRank: 0 });
  });

  it('says which settings differ between hosts', () => {
    const msg = settingsMismatch(1, { batchSize: 64, seed: 1 }, { batchSize: 128, seed: 1 });
    expect(msg).toMatch(/host 1 was started with other settings than this host \(batchSize 64 there, 128 here\)/);
    expect(msg).not.toMatch(/seed/);
    expect(settingsMismatch(1, { resumedFrom: null }, { resumedFrom: { globalStep: 40 } })).toMatch(/put --checkpoint-dir on storage every host sees/);
  });

  it('times collectives out at max(5 s, 10 x the median step) unless fixed', () => {
    expect(commTimeoutFor(undefined)).toBe(5000);
    expect(commTimeoutFor(900)).toBe(9000);
    expect(commTimeoutFor(900, 1234)).toBe(1234);
  });
});

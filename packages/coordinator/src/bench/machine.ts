/** What machine a figure was taken on: figures from different machines must not be compared. */
import { availableParallelism, cpus } from 'node:os';

export interface MachineInfo {
  /** Cores this process may use (availableParallelism: respects CPU affinity). */
  cpus: number;
  cpuModel: string;
  node: string;
}

export function machineInfo(): MachineInfo {
  return { cpus: availableParallelism(), cpuModel: cpus()[0]?.model.trim() ?? 'unknown', node: process.version };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cpus} cpu${m.cpus === 1 ? '' : 's'} (${m.cpuModel}), node ${m.node}`;
}

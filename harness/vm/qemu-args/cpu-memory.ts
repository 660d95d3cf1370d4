// CPU model, CPU count and memory size.
import type { Accel } from '../spec.ts';

/** KVM exposes the host CPU; TCG emulates its richest model (`max`). */
export function cpuMemoryArgs(accel: Accel, cpus: number, memoryMiB: number): string[] {
  return ['-cpu', accel === 'kvm' ? 'host' : 'max', '-smp', String(cpus), '-m', `${memoryMiB}M`];
}

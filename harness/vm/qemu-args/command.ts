// The whole QEMU command line, composed from one builder per concern.
import type { Accel, ResolvedSpec } from '../spec.ts';
import { BASE_CMDLINE } from '../spec.ts';
import { bootArgs } from './boot.ts';
import { auxSerialArgs, consoleArgs, debugStubArgs, monitorArgs } from './console.ts';
import { cpuMemoryArgs } from './cpu-memory.ts';
import { deviceArgs, type GuestDevice } from './devices.ts';
import { iommuArgs, iommuCmdline } from './iommu.ts';
import { accelCmdline, machineArgs } from './machine.ts';
import { NETWORK_CMDLINE, networkArgs } from './network.ts';
import { shareArgs } from './shares.ts';

export interface QemuPlan {
  spec: ResolvedSpec;
  accel: Accel;
  sshPort: number;
  devices: readonly GuestDevice[];
}

/** What this machine needs on any kernel's command line: the base, the network's, the accelerator's and the IOMMU's needs. */
export function machineCmdline(spec: Pick<ResolvedSpec, 'iommu'>, accel: Accel): string[] {
  return [...BASE_CMDLINE, ...NETWORK_CMDLINE, ...accelCmdline(accel), ...iommuCmdline(spec.iommu)];
}

/** The kernel command line: the machine's needs, then the caller's arguments (last wins). */
export function kernelCmdline(spec: Pick<ResolvedSpec, 'iommu' | 'cmdline'>, accel: Accel): string[] {
  return [...machineCmdline(spec, accel), ...spec.cmdline];
}

/** QEMU's argv (without the binary). The IOMMU comes before the devices it translates for. */
export function qemuArgs(plan: QemuPlan): string[] {
  const { spec } = plan;
  return [
    ...machineArgs(plan.accel, spec.iommu, spec.rebootResets),
    ...cpuMemoryArgs(plan.accel, spec.cpus, spec.memoryMiB),
    ...bootArgs(spec.kernel, spec.initrd, kernelCmdline(spec, plan.accel)),
    ...consoleArgs(spec.serialTcpPort),
    ...auxSerialArgs(spec.auxSerial),
    ...monitorArgs(spec.monitorTcpPort),
    ...debugStubArgs(spec.debugStubPort),
    ...iommuArgs(spec.iommu),
    ...networkArgs(plan.sshPort),
    ...shareArgs(spec.shares),
    ...deviceArgs(plan.devices),
  ];
}

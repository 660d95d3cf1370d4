// The machine layer's public surface.
export { Machine, type MachineOptions, type QemuExit, type StartInfo } from './machine.ts';
export {
  BASE_CMDLINE,
  DEFAULTS,
  parseHostBdf,
  resolveSpec,
  type Accel,
  type AccelRequest,
  type DeviceRequest,
  type IommuKind,
  type MachineSpec,
  type ResolvedSpec,
  type ShareSpec,
} from './spec.ts';
export { chooseAccel, detectAccelerator, loadedModules, realAccelHost, type AccelChoice, type AccelHost } from './accel.ts';
export { probeKvm } from './kvm-probe.ts';
export {
  ConsoleMonitor,
  type BootStart,
  type ConsoleEnd,
  type ConsoleLine,
  type Fault,
  type Marker,
  type WaitOptions,
} from './console-monitor.ts';
export { FAULT_PATTERNS, detectFault, parseMarker, type FaultKind, type MarkerMatch } from './console-patterns.ts';
export { RUN_LOG, bootLogName } from './console-log.ts';
export { EMULATED_IDS, type DeviceKind, type GuestDevice } from './qemu-args/devices.ts';
export { kernelCmdline, qemuArgs } from './qemu-args/command.ts';
export { GUEST_SSH_PORT } from './qemu-args/network.ts';
export { sweepStaleMachines, type SweepResult } from './sweep.ts';

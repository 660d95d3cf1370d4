// What a live-update scenario needs of the machine under test, whatever it
// is: a console stream, an SSH endpoint, its passthrough devices, the kernel
// command line it booted with, and a way to power it off. kexec itself goes
// through the in-guest agent, so it needs nothing more. QEMU is the first
// Target; a bare-metal host with a serial console is meant to be the second.
import type { ConsoleMonitor } from '../vm/console-monitor.ts';
import type { GuestDevice } from '../vm/qemu-args/devices.ts';
import type { Machine } from '../vm/machine.ts';
import { machineCmdline } from '../vm/qemu-args/command.ts';

export interface Target {
  /** 'qemu-kvm', 'qemu-tcg', or a host's name: recorded in results. */
  readonly kind: string;
  readonly console: ConsoleMonitor;
  readonly ssh: { host: string; port: number };
  /** Devices meant for vfio-pci, by guest PCI address. */
  readonly devices: readonly GuestDevice[];
  /** What the machine itself needs on every kernel's command line (console, panic, accelerator, IOMMU). */
  readonly machineCmdline: readonly string[];
  stop(): Promise<void>;
}

export function qemuTarget(machine: Machine): Target {
  return {
    kind: `qemu-${machine.accel}`,
    console: machine.console,
    ssh: { host: '127.0.0.1', port: machine.sshPort },
    devices: machine.devices,
    machineCmdline: machineCmdline(machine.spec, machine.accel),
    stop: () => machine.stop(),
  };
}

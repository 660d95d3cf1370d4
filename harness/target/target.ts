// What a live-update scenario needs of the machine under test, whatever it
// is: a console stream, an SSH endpoint, its passthrough devices, the kernel
// command line it booted with, a way to put a kernel where the running one
// can kexec_file_load it, and a way to let it go. kexec itself goes through
// the in-guest agent. A TargetLauncher makes a Target boot a kernel and an
// initrd: QEMU spawns a machine (here); a remote host kexecs into them
// (remote.ts).
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { GuestSession } from '../guest/session.ts';
import type { RunKeys } from '../image/run-keys.ts';
import type { ConsoleMonitor } from '../vm/console-monitor.ts';
import type { AuxSerial } from '../vm/aux-serial.ts';
import type { GuestDevice } from '../vm/qemu-args/devices.ts';
import { Machine } from '../vm/machine.ts';
import { freeLoopbackPort } from '../vm/ports.ts';
import { machineCmdline } from '../vm/qemu-args/command.ts';
import { kexecAccelCmdline } from '../vm/qemu-args/machine.ts';
import type { AccelRequest, DeviceRequest, IommuKind } from '../vm/spec.ts';

export interface Target {
  /** 'qemu-kvm', 'qemu-tcg', or 'bare-metal:<host>': recorded in results. */
  readonly kind: string;
  readonly console: ConsoleMonitor;
  /** The second serial line (ttyS1), where the target has one the harness reads (a QEMU machine asked for it). */
  readonly auxSerial?: AuxSerial;
  readonly ssh: { host: string; port: number; username?: string };
  /** Devices meant for vfio-pci, by their PCI address in the kernel under test. */
  readonly devices: readonly GuestDevice[];
  /** What the machine itself needs on every kernel's command line (console, panic, network, IOMMU...). */
  readonly machineCmdline: readonly string[];
  /** What the machine needs on the line of a kernel it kexecs into, given the running kernel's TSC frequency (kHz; NaN or undefined when unknown). */
  kexecCmdline(tscKhz: number | undefined): string[];
  /**
   * Makes host file `file` loadable by the running kernel (kexec_file_load)
   * under `name`, and returns its path there: a copy into QEMU's share, an
   * upload over `ssh` to a remote host.
   */
  stage(file: string, name: string, ssh: GuestSession): Promise<string>;
  /** QEMU's debugger stub, where the launch asked for one (QEMU only): reads the kernel inside reboot(). */
  readonly debugStub?: { host: string; port: number };
  stop(): Promise<void>;
}

/** One boot of a kernel and a per-run initrd, as a launcher is asked for it. */
export interface LaunchRequest {
  /** bzImage path on this machine. */
  kernel: string;
  /** The per-run initrd (image + keys) on this machine. */
  initrd: string;
  /** Boot 0's arguments without the machine's own: the target puts its machineCmdline in front. */
  args: readonly string[];
  /** Where the boot's files go (console logs, keys). */
  runDir: string;
  /** The keys baked into `initrd`: the way in once it runs. */
  keys: RunKeys;
  devices?: DeviceRequest[];
  iommu?: IommuKind;
  accel?: AccelRequest;
  memoryMiB?: number;
  cpus?: number;
  /** Host directories the guest mounts (9p): QEMU only. */
  shares?: { hostPath: string; tag: string; mount: string }[];
  /** A second serial line (ttyS1) the harness reads, timestamped: QEMU only. */
  auxSerial?: boolean;
  /** QEMU's debugger stub on a loopback port (coverage): QEMU only; a remote host has none. */
  debugStub?: boolean;
  log?: (message: string) => void;
}

export interface TargetLauncher {
  /** The span the waterfall gives the launch ('QEMU spawn', 'first hop'). */
  readonly launchLabel: string;
  /** A Target booting the request's kernel (its console shows boot 0 as it comes). Tears itself down on failure. */
  launch(request: LaunchRequest): Promise<Target>;
}

/** QEMU's: a 9p share the guest mounts on every boot, into which kernels are copied for kexec. */
const KEXEC_SHARE = { tag: 'kexec', mount: '/mnt/kexec' } as const;
/** Where init mounts the kexec share (its tag and mount point). */
const KEXEC_SHARE_ARG = `luo_harness.share=${KEXEC_SHARE.tag}:${KEXEC_SHARE.mount}`;

export function qemuTarget(machine: Machine, kexecDir: string): Target {
  // The share outlives kexecs: a file staged once (same source, same name) is there for every later boot.
  const staged = new Map<string, string>();
  return {
    kind: `qemu-${machine.accel}`,
    console: machine.console,
    ...(machine.auxSerial ? { auxSerial: machine.auxSerial } : {}),
    ...(machine.spec.debugStubPort !== undefined ? { debugStub: { host: '127.0.0.1', port: machine.spec.debugStubPort } } : {}),
    ssh: { host: '127.0.0.1', port: machine.sshPort },
    devices: machine.devices,
    machineCmdline: [...machineCmdline(machine.spec, machine.accel), KEXEC_SHARE_ARG],
    kexecCmdline: (tscKhz) => kexecAccelCmdline(machine.accel, tscKhz),
    async stage(file, name) {
      if (staged.get(name) !== file) {
        await copyFile(file, join(kexecDir, name));
        staged.set(name, file);
      }
      return `${KEXEC_SHARE.mount}/${name}`;
    },
    stop: () => machine.stop(),
  };
}

/** A fresh QEMU machine per launch. */
export const qemuLauncher: TargetLauncher = {
  launchLabel: 'QEMU spawn',
  async launch(r) {
    const kexecDir = join(r.runDir, KEXEC_SHARE.tag);
    await mkdir(kexecDir, { recursive: true });
    const shares = [{ hostPath: kexecDir, tag: KEXEC_SHARE.tag }, ...(r.shares ?? []).map(({ hostPath, tag }) => ({ hostPath, tag }))];
    const machine = new Machine({
      kernel: r.kernel,
      initrd: r.initrd,
      cmdline: [KEXEC_SHARE_ARG, ...r.args],
      runDir: r.runDir,
      shares,
      ...(r.devices ? { devices: r.devices } : {}),
      ...(r.iommu ? { iommu: r.iommu } : {}),
      ...(r.accel ? { accel: r.accel } : {}),
      ...(r.memoryMiB ? { memoryMiB: r.memoryMiB } : {}),
      ...(r.cpus ? { cpus: r.cpus } : {}),
      ...(r.auxSerial ? { auxSerial: true } : {}),
      ...(r.debugStub ? { debugStubPort: await freeLoopbackPort() } : {}),
    });
    try {
      await machine.start();
    } catch (error) {
      await machine.stop();
      throw error;
    }
    return qemuTarget(machine, kexecDir);
  },
};

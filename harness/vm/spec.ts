// What a Machine is asked to be: the input type, its defaults, and validation.
// Pure: no I/O, so every command-line builder can be tested without QEMU.
import { ConfigError } from '../errors.ts';

export type Accel = 'kvm' | 'tcg';
export type AccelRequest = 'auto' | Accel;
export type IommuKind = 'intel' | 'virtio' | 'none';

/** A PCI device to give the guest. `vfio-host:<BDF>` passes a real host device through. */
export type DeviceRequest = 'edu' | 'nvme' | 'e1000e' | `vfio-host:${string}`;

/** A host directory exported to the guest over 9p (virtio-9p-pci). */
export interface ShareSpec {
  hostPath: string;
  /** The 9p mount tag the guest mounts with `mount -t 9p -o trans=virtio <tag> <dir>`. */
  tag: string;
  /** Read-only unless set to false. */
  readOnly?: boolean;
}

export interface MachineSpec {
  /** bzImage to boot with `-kernel`. */
  kernel: string;
  /** initramfs to boot with `-initrd`. */
  initrd?: string;
  /** Kernel arguments after the harness base (console, panic, liveupdate). */
  cmdline?: string[];
  /** Guest memory in MiB (default 1024). */
  memoryMiB?: number;
  /** Guest CPUs (default 2). */
  cpus?: number;
  /** `auto` picks KVM only where it really works, else TCG (default auto). */
  accel?: AccelRequest;
  /** Virtual IOMMU (default intel). */
  iommu?: IommuKind;
  devices?: DeviceRequest[];
  shares?: ShareSpec[];
  /** Where console logs, the pidfile and device backing files go. Created if missing. */
  runDir: string;
  /** The QEMU binary (default `qemu-system-x86_64` from PATH). */
  qemuBinary?: string;
  /**
   * ttyS0 on a TCP server at 127.0.0.1:port instead of QEMU's stdout (then the
   * machine's own console monitor sees nothing): a stand-in for a lab host's
   * console server, read by whoever connects.
   */
  serialTcpPort?: number;
  /** A QEMU human monitor on a TCP server at 127.0.0.1:port: a stand-in host's power button. */
  monitorTcpPort?: number;
  /**
   * QEMU's debugger stub (GDB remote protocol) on 127.0.0.1:port: how the
   * harness reads the outgoing kernel's coverage counters inside reboot().
   */
  debugStubPort?: number;
  /** A guest reboot (or a panic with panic=-1) resets the machine, as on a real host, instead of ending QEMU. Default false. */
  rebootResets?: boolean;
  /** ttyS1 to the harness over a pipe of its own, timestamped on arrival (a nested VM's serial port). Default false. */
  auxSerial?: boolean;
}

type OptionalFields = 'initrd' | 'serialTcpPort' | 'monitorTcpPort' | 'debugStubPort' | 'rebootResets' | 'auxSerial';

/** A MachineSpec with every default applied and every field checked. */
export interface ResolvedSpec extends Required<Omit<MachineSpec, OptionalFields>>, Pick<MachineSpec, OptionalFields> {}

export const DEFAULTS = {
  memoryMiB: 1024,
  cpus: 2,
  accel: 'auto',
  iommu: 'intel',
  qemuBinary: 'qemu-system-x86_64',
} as const;

/** The kernel arguments every machine boots with: a serial console, and no reboot loop after a panic. */
export const BASE_CMDLINE: readonly string[] = ['console=ttyS0,115200', 'panic=-1'];

// Domain optional; bus and device hex; function 0-7. Lower case is what sysfs uses.
const BDF = /^(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/;
const TAG = /^[A-Za-z0-9_.-]{1,31}$/;

/** The host BDF of a `vfio-host:` request, normalised to `dddd:bb:ss.f`; throws ConfigError if malformed. */
export function parseHostBdf(device: string): string {
  const bdf = device.slice('vfio-host:'.length).toLowerCase();
  if (!BDF.test(bdf)) {
    throw new ConfigError(
      `Device "${device}" has a malformed PCI address; write it as vfio-host:0000:03:00.0 (domain:bus:slot.function).`,
    );
  }
  return bdf.length === 7 ? `0000:${bdf}` : bdf;
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`MachineSpec.${name} must be an integer from ${min} to ${max}, got ${value}.`);
  }
}

/** Apply defaults and reject impossible specs with a ConfigError that names the field. */
export function resolveSpec(spec: MachineSpec): ResolvedSpec {
  const resolved: ResolvedSpec = {
    kernel: spec.kernel,
    cmdline: spec.cmdline ?? [],
    memoryMiB: spec.memoryMiB ?? DEFAULTS.memoryMiB,
    cpus: spec.cpus ?? DEFAULTS.cpus,
    accel: spec.accel ?? DEFAULTS.accel,
    iommu: spec.iommu ?? DEFAULTS.iommu,
    devices: spec.devices ?? [],
    shares: spec.shares ?? [],
    runDir: spec.runDir,
    qemuBinary: spec.qemuBinary ?? DEFAULTS.qemuBinary,
  };
  if (spec.initrd !== undefined) resolved.initrd = spec.initrd;
  if (spec.serialTcpPort !== undefined) resolved.serialTcpPort = spec.serialTcpPort;
  if (spec.monitorTcpPort !== undefined) resolved.monitorTcpPort = spec.monitorTcpPort;
  if (spec.debugStubPort !== undefined) resolved.debugStubPort = spec.debugStubPort;
  if (spec.rebootResets !== undefined) resolved.rebootResets = spec.rebootResets;
  if (spec.auxSerial !== undefined) resolved.auxSerial = spec.auxSerial;
  if (!resolved.kernel) throw new ConfigError('MachineSpec.kernel is required (a bzImage path).');
  if (!resolved.runDir) throw new ConfigError('MachineSpec.runDir is required (a directory for logs and the pidfile).');
  checkInt('memoryMiB', resolved.memoryMiB, 64, 1024 * 1024);
  checkInt('cpus', resolved.cpus, 1, 255);
  for (const name of ['serialTcpPort', 'monitorTcpPort', 'debugStubPort'] as const) if (resolved[name] !== undefined) checkInt(name, resolved[name], 1, 65535);
  if (!['auto', 'kvm', 'tcg'].includes(resolved.accel)) {
    throw new ConfigError(`MachineSpec.accel must be auto, kvm or tcg, got "${resolved.accel}".`);
  }
  if (!['intel', 'virtio', 'none'].includes(resolved.iommu)) {
    throw new ConfigError(`MachineSpec.iommu must be intel, virtio or none, got "${resolved.iommu}".`);
  }
  for (const device of resolved.devices) {
    if (device.startsWith('vfio-host:')) parseHostBdf(device);
    else if (!['edu', 'nvme', 'e1000e'].includes(device)) {
      throw new ConfigError(`Unknown device "${device}"; use edu, nvme, e1000e or vfio-host:<BDF>.`);
    }
  }
  const tags = new Set<string>();
  for (const share of resolved.shares) {
    if (!TAG.test(share.tag)) {
      throw new ConfigError(`Share tag "${share.tag}" must be 1-31 characters of letters, digits, _ . or -.`);
    }
    if (tags.has(share.tag)) throw new ConfigError(`Share tag "${share.tag}" is used twice.`);
    tags.add(share.tag);
  }
  return resolved;
}

// Test devices on fixed root-bus slots, and the list the guest layer uses to find them.
import { join } from 'node:path';
import { ConfigError } from '../../errors.ts';
import { parseHostBdf, type DeviceRequest } from '../spec.ts';
import { DEVICE_SLOTS, PCI_BUS, guestBdf, slotAddr } from './pci-layout.ts';
import { optionValue } from './option-value.ts';

export type DeviceKind = 'edu' | 'nvme' | 'e1000e' | 'vfio-host';

/** Where the guest finds a device: what the guest layer binds to vfio-pci. */
export interface GuestDevice {
  kind: DeviceKind;
  /** e.g. `0000:00:10.0`. */
  guestBdf: string;
  /** `vendor:device` in lower-case hex (e.g. `1234:11e8`); undefined for a host device whose IDs could not be read. */
  vendorDevice: string | undefined;
  /** The host device passed through (vfio-host only). */
  hostBdf?: string;
  /** Raw backing file in the run dir (nvme only). */
  backingFile?: string;
}

/** IDs QEMU gives its emulated devices. */
export const EMULATED_IDS: Record<Exclude<DeviceKind, 'vfio-host'>, string> = {
  edu: '1234:11e8',
  nvme: '1b36:0010',
  e1000e: '8086:10d3',
};

/** Size of the sparse raw file behind an nvme device: enough for a namespace, costs no disk. */
export const NVME_BACKING_BYTES = 1024 * 1024;

/**
 * Give each requested device the next slot from 0x10, in request order.
 * `hostIds` reads a host device's `vendor:device` (from sysfs in real use).
 */
export function planDevices(
  requests: readonly DeviceRequest[],
  runDir: string,
  hostIds: (hostBdf: string) => string | undefined = () => undefined,
): GuestDevice[] {
  const capacity = DEVICE_SLOTS.last - DEVICE_SLOTS.first + 1;
  if (requests.length > capacity) {
    throw new ConfigError(`At most ${capacity} devices fit on the root bus; ${requests.length} were requested.`);
  }
  const hostSeen = new Set<string>();
  return requests.map((request, index) => {
    const slot = DEVICE_SLOTS.first + index;
    if (request.startsWith('vfio-host:')) {
      const hostBdf = parseHostBdf(request);
      if (hostSeen.has(hostBdf)) throw new ConfigError(`Host device ${hostBdf} is requested twice.`);
      hostSeen.add(hostBdf);
      return { kind: 'vfio-host', guestBdf: guestBdf(slot), vendorDevice: hostIds(hostBdf), hostBdf };
    }
    const kind = request as Exclude<DeviceKind, 'vfio-host'>;
    const device: GuestDevice = { kind, guestBdf: guestBdf(slot), vendorDevice: EMULATED_IDS[kind] };
    if (kind === 'nvme') device.backingFile = join(runDir, `nvme-${index}.img`);
    return device;
  });
}

function slotOf(device: GuestDevice): number {
  return Number.parseInt(device.guestBdf.slice(8, 10), 16);
}

/** The QEMU arguments for planned devices. */
export function deviceArgs(devices: readonly GuestDevice[]): string[] {
  const args: string[] = [];
  devices.forEach((device, index) => {
    const at = `bus=${PCI_BUS},addr=${slotAddr(slotOf(device))}`;
    const id = `dev${index}`;
    switch (device.kind) {
      case 'edu':
        args.push('-device', `edu,id=${id},${at}`);
        break;
      case 'nvme':
        // QEMU's nvme needs a serial and a drive; the drive is a tiny raw file in the run dir.
        args.push(
          '-drive', `file=${optionValue(device.backingFile!)},if=none,id=${id}-drive,format=raw`,
          '-device', `nvme,id=${id},serial=luo-nvme-${index},drive=${id}-drive,${at}`,
        );
        break;
      case 'e1000e':
        // No netdev: the NIC only exists to be bound to vfio-pci, never to carry traffic.
        args.push('-device', `e1000e,id=${id},${at}`);
        break;
      case 'vfio-host':
        args.push('-device', `vfio-pci,id=${id},host=${device.hostBdf},${at}`);
        break;
    }
  });
  return args;
}

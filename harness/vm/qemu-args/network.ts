// User-mode networking with one forward from the host loopback to the guest's sshd.
import { NET_SLOT, PCI_BUS, slotAddr } from './pci-layout.ts';

/** The guest port the host forward reaches (dropbear, shared convention). */
export const GUEST_SSH_PORT = 22;

/**
 * `restrict=on` cuts the guest off from the host's networks; the hostfwd still works.
 * The forward binds 127.0.0.1 only, so nothing off this host can reach the guest.
 */
export function networkArgs(hostPort: number): string[] {
  return [
    '-netdev', `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${hostPort}-:${GUEST_SSH_PORT}`,
    '-device', `virtio-net-pci,netdev=net0,bus=${PCI_BUS},addr=${slotAddr(NET_SLOT)}`,
  ];
}

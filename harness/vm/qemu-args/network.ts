// User-mode networking with one forward from the host loopback to the guest's sshd.
import { NET_SLOT, PCI_BUS, slotAddr } from './pci-layout.ts';

/** The guest port the host forward reaches (dropbear, shared convention). */
export const GUEST_SSH_PORT = 22;

/**
 * The guest's address on QEMU's user network, configured by the kernel itself
 * (CONFIG_IP_PNP) before init runs: no command to run after a kexec. A
 * kernel without IP_PNP ignores it, and the guest's init configures eth0.
 */
export const NETWORK_CMDLINE: readonly string[] = ['ip=10.0.2.15::10.0.2.2:255.255.255.0:luo-guest:eth0:off'];

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

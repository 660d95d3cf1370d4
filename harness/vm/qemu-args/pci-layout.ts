// Fixed PCI slots on the q35 root bus (pcie.0), so the guest finds every device at a
// predictable address. Root-bus endpoints in distinct slots each get their own IOMMU
// group, which is what binding them one by one to vfio-pci needs.
// Slot 0x00 is the host bridge and 0x1f the ICH9 functions q35 always has.

export const PCI_BUS = 'pcie.0';
export const NET_SLOT = 0x02;
export const VIRTIO_IOMMU_SLOT = 0x03;
export const SHARE_SLOTS = { first: 0x04, last: 0x0f } as const;
export const DEVICE_SLOTS = { first: 0x10, last: 0x1e } as const;

/** `addr=` value for a slot, function 0. */
export function slotAddr(slot: number): string {
  return `0x${slot.toString(16).padStart(2, '0')}`;
}

/** The address the guest sees for a root-bus slot, as lspci/sysfs spell it. */
export function guestBdf(slot: number): string {
  return `0000:00:${slot.toString(16).padStart(2, '0')}.0`;
}

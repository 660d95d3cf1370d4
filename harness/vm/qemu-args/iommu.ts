// The virtual IOMMU the guest programs (and that VFIO in the guest needs).
import type { IommuKind } from '../spec.ts';
import { PCI_BUS, VIRTIO_IOMMU_SLOT, slotAddr } from './pci-layout.ts';

/**
 * intel: VT-d with interrupt remapping (needs kernel-irqchip=split, see machineArgs);
 * caching-mode=on makes QEMU see every guest mapping, which emulated and assigned
 * devices need. Must come before the devices it translates for.
 */
export function iommuArgs(iommu: IommuKind): string[] {
  switch (iommu) {
    case 'intel':
      return ['-device', 'intel-iommu,intremap=on,caching-mode=on'];
    case 'virtio':
      return ['-device', `virtio-iommu-pci,bus=${PCI_BUS},addr=${slotAddr(VIRTIO_IOMMU_SLOT)}`];
    case 'none':
      return [];
  }
}

/** Kernel arguments the IOMMU needs: VT-d may be compiled default-off. */
export function iommuCmdline(iommu: IommuKind): string[] {
  return iommu === 'intel' ? ['intel_iommu=on'] : [];
}

// Machine type and accelerator, plus the options that make QEMU headless and predictable.
import type { Accel, IommuKind } from '../spec.ts';

/**
 * q35 (PCIe, the only x86 machine intel-iommu works on). With the Intel vIOMMU,
 * interrupt remapping needs the IOAPIC in QEMU: `kernel-irqchip=split` (ignored
 * by TCG, required by KVM). `-no-reboot` turns a guest reset or panic reboot into
 * a QEMU exit; kexec is not a reset, so it keeps running. A machine standing in
 * for a real host leaves it out (`rebootResets`): it reboots, as a host does.
 */
export function machineArgs(accel: Accel, iommu: IommuKind, rebootResets = false): string[] {
  const machine = iommu === 'intel' ? 'q35,kernel-irqchip=split' : 'q35';
  return [
    '-machine', machine,
    '-accel', accel,
    '-nodefaults', '-no-user-config',
    '-display', 'none',
    ...(rebootResets ? [] : ['-no-reboot']),
  ];
}

/**
 * Kernel arguments the accelerator needs. Under TCG on a busy host the guest's
 * boot-time check that the IO-APIC timer ticks can see too few ticks, and with
 * interrupt remapping on that is a panic ("timer doesn't work through
 * Interrupt-remapped IO-APIC", seen here under load); the emulated timer is known
 * to work, so skip the check.
 */
export function accelCmdline(accel: Accel): string[] {
  return accel === 'tcg' ? ['no_timer_check'] : [];
}

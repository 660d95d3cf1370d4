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
    '-accel', accel === 'tcg' ? `tcg,tb-size=${TCG_TB_SIZE_MIB}` : accel,
    '-nodefaults', '-no-user-config',
    '-display', 'none',
    ...(rebootResets ? [] : ['-no-reboot']),
  ];
}

/**
 * TCG's translation cache in MiB (QEMU's default is 1 GiB). A kexec leaves
 * the old kernel's and its userspace's translated code in the cache, and
 * QEMU drops those blocks one by one as the new kernel overwrites their pages:
 * with the default cache that made the first kernel after a kexec boot 2x
 * slower than the same kernel cold (printk "Run /init" 1.80 s against 0.83 s,
 * medians of 5 here). A small cache fills and is flushed whole, cheaply, every
 * boot or so, so few stale blocks are left to drop one by one (0.97 s), and a
 * cold boot is no slower (docs/speed.md has the figures).
 */
export const TCG_TB_SIZE_MIB = 32;

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

/**
 * Kernel arguments for a kernel started by kexec on this accelerator, given the
 * TSC frequency the running kernel measured. Under TCG the new kernel's early
 * TSC calibration against the PIT fails after a kexec ("tsc: Unable to
 * calibrate against PIT"): its TSC clock then starts only after the HPET
 * calibration, 200-500 ms into its boot, and its printk times, which the
 * blackout timeline reads, restart at 0 there. The TSC is the same one across
 * a kexec, so the new kernel is told its frequency and its clock starts in
 * setup_arch, as on a cold boot.
 */
export function kexecAccelCmdline(accel: Accel, tscKhz: number | undefined): string[] {
  return accel === 'tcg' && tscKhz !== undefined && Number.isInteger(tscKhz) && tscKhz > 0 ? [`tsc_early_khz=${tscKhz}`] : [];
}

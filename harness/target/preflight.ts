// Whether a remote host can take the first hop, judged from its facts before
// anything reboots: every problem found, each a sentence that says what to do.
import { ConfigError } from '../errors.ts';
import type { HostFacts } from './host-facts.ts';
import { hostAddress, serialConsoles } from './host-cmdline.ts';

export interface PreflightNeeds {
  /** Bytes to stage and load (kernel + initrd); memory must hold them twice over, plus room to run. */
  stagedBytes?: number;
  /** PCI functions to bind to vfio-pci (--devices). */
  devices?: readonly string[];
  /** How the host gets back at the end: `kexec` needs its own kernel readable. */
  after?: 'kexec' | 'power-cycle';
  kernelConsole?: string;
  /** The user's own kernel arguments (--cmdline): an ip= there stands in for the one derived. */
  userCmdline?: readonly string[];
}

/** Memory the test kernel and its initramfs need besides the staged files. */
export const MIN_FREE_MIB = 256;

export function preflightProblems(facts: HostFacts, needs: PreflightNeeds = {}): string[] {
  const problems: string[] = [];
  if (facts.uid !== 0) problems.push(`the SSH user is uid ${facts.uid}, not root: connect as root (ssh://root@host), since kexec and vfio-pci need it`);
  if (!facts.kexec) problems.push('kexec-tools is not installed on the host (no `kexec` on its PATH): install it; the first hop is `kexec -s`');
  else if (!facts.kexecFile) problems.push(`the host's ${facts.kexec} does not know -s (kexec_file_load): install kexec-tools 2.0.15 or newer`);
  if (needs.stagedBytes !== undefined) {
    const need = Math.ceil((2 * needs.stagedBytes) / 2 ** 20) + MIN_FREE_MIB;
    if (facts.memAvailableMiB < need) problems.push(`the host has ${facts.memAvailableMiB} MiB of memory available and the first hop needs ${need} MiB (the test kernel and initrd staged and loaded, and room to boot): free memory on the host`);
  }
  if (serialConsoles(facts, needs.kernelConsole).length === 0) {
    problems.push("the host's kernel command line has no serial console (console=ttyS0,115200 or similar), so the test kernel would print nowhere the console command reads: pass --kernel-console ttyS0,115200n8 (the port and speed the console command reads)");
  }
  const userIp = (needs.userCmdline ?? []).some((a) => a.startsWith('ip='));
  if (!userIp) {
    if (!facts.sshServer) problems.push("the host's sshd did not say which address this connection reached (SSH_CONNECTION is unset), so the test kernel's ip= cannot be derived: pass --cmdline ip=<addr>::<gw>:<mask>:<name>:<iface>:off");
    else if (!/^\d+\.\d+\.\d+\.\d+$/.test(facts.sshServer.address)) problems.push(`the harness reached the host over ${facts.sshServer.address}; the test kernel configures IPv4 only (ip=): reach the host at its IPv4 address, or pass --cmdline ip=...`);
    else if (!hostAddress(facts)) problems.push(`no interface of the host has ${facts.sshServer.address}: pass --cmdline ip=<addr>::<gw>:<mask>:<name>:<iface>:off`);
  }
  const nic = hostAddress(facts);
  const nicBdf = nic ? facts.netdevs.find((n) => n.iface === nic.iface)?.bdf : undefined;
  for (const bdf of needs.devices ?? []) {
    const d = facts.pci.find((p) => p.bdf === bdf);
    if (!d?.present) problems.push(`--devices names ${bdf}, which the host does not have (no /sys/bus/pci/devices/${bdf}): check \`lspci -D\` on the host`);
    else if (bdf === nicBdf) problems.push(`--devices names ${bdf}, the NIC (${nic!.iface}) this connection runs over: binding it to vfio-pci would cut the harness off; pick another device`);
    else if (!d.iommuGroup) problems.push(`${bdf} has no IOMMU group: turn the IOMMU on (VT-d / AMD-Vi in the firmware, intel_iommu=on on the host's command line)`);
  }
  if ((needs.devices?.length ?? 0) > 0 && facts.iommuGroups === 0 && !problems.some((p) => p.includes('IOMMU group'))) {
    problems.push('the host has no IOMMU groups: turn the IOMMU on (VT-d / AMD-Vi in the firmware, intel_iommu=on on its command line)');
  }
  if (needs.after === 'kexec' && !hostKernel(facts)) {
    problems.push(`the host's own kernel is not readable at /boot/vmlinuz-${facts.release} (or its BOOT_IMAGE), so the harness cannot kexec it back at the end: pass --after power-cycle with --power-cycle CMD`);
  }
  return problems;
}

/** The host's own kernel and initrd to kexec back into at the end (best candidates its facts list). */
export function hostKernel(facts: Pick<HostFacts, 'bootKernels' | 'bootInitrds'>): { kernel: string; initrd: string | undefined } | undefined {
  const kernel = facts.bootKernels[0]?.path;
  return kernel ? { kernel, initrd: facts.bootInitrds[0]?.path } : undefined;
}

/** Throws one ConfigError listing every problem, saying nothing rebooted. */
export function assertPreflight(facts: HostFacts, needs: PreflightNeeds, label: string): void {
  const problems = preflightProblems(facts, needs);
  if (problems.length === 0) return;
  throw new ConfigError(`${label} cannot take the first hop, and nothing was rebooted:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

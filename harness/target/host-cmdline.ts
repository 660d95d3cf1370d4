// The part of every test kernel's command line that belongs to the remote
// host itself, read from the host before the first hop: its serial console
// (console=, the last one is /dev/console, where init's markers go), its
// address (ip=, so the kernel configures the NIC before init runs, as it
// does QEMU's), its IOMMU mode and timer workarounds as its own command line
// sets them, where sshd must listen, and a panic that reboots it.
import type { HostFacts } from './host-facts.ts';

/** Serial consoles (not the VGA text console tty0..ttyN): the only kind a console command can read. */
const SERIAL_CONSOLE = /^console=(?:ttyS|ttyAMA|ttyUSB|ttyMFD|ttysclp|hvc)\d/;
/** Host arguments the test kernel keeps: how its IOMMU is set up, and the timer check a busy (or emulated) machine needs off. */
const CARRIED = /^(?:intel_iommu|amd_iommu|iommu)=|^no_timer_check$/;

export interface HostCmdlineOptions {
  /** `--kernel-console ttyS1,115200n8`: instead of the host's own console= arguments. */
  kernelConsole?: string;
  /** `--net-iface eth1`: the NIC's name under the test kernel (default: the host's name when it is ethN, else the first NIC). */
  netIface?: string;
}

/** The host's serial console= arguments, in order (or the flag's). */
export function serialConsoles(facts: Pick<HostFacts, 'cmdline'>, kernelConsole?: string): string[] {
  if (kernelConsole) return [`console=${kernelConsole.replace(/^console=/, '')}`];
  return facts.cmdline.split(/\s+/).filter((a) => SERIAL_CONSOLE.test(a));
}

/** The address the harness reached the host at, with its interface and the default gateway: what ip= needs. */
export function hostAddress(facts: Pick<HostFacts, 'sshServer' | 'addresses' | 'defaultRoute'>): { iface: string; address: string; prefix: number; gateway: string } | undefined {
  const addr = facts.addresses.find((a) => a.address === facts.sshServer?.address);
  if (!addr) return undefined;
  const gateway = facts.defaultRoute?.iface === addr.iface ? facts.defaultRoute.gateway : '';
  return { ...addr, gateway };
}

export const prefixToMask = (prefix: number) => {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
};

/** `ip=<addr>::<gw>:<mask>:<hostname>:<iface>:off` for the kernel's own configuration (CONFIG_IP_PNP); undefined when the host's address is not known. */
export function ipArgument(facts: Pick<HostFacts, 'sshServer' | 'addresses' | 'defaultRoute' | 'hostname'>, netIface?: string): string | undefined {
  const a = hostAddress(facts);
  if (!a) return undefined;
  // Names under the test kernel come in probe order (no udev renames): only ethN is sure to mean the same NIC.
  const iface = netIface ?? (/^eth\d+$/.test(a.iface) ? a.iface : '');
  const name = facts.hostname.replace(/[^A-Za-z0-9.-]/g, '').slice(0, 63);
  return `ip=${a.address}::${a.gateway}:${prefixToMask(a.prefix)}:${name}:${iface}:off`;
}

/** What every test kernel on this host carries in front of the harness's own arguments. */
export function hostMachineCmdline(facts: HostFacts, options: HostCmdlineOptions = {}): string[] {
  const ip = ipArgument(facts, options.netIface);
  const carried = facts.cmdline.split(/\s+/).filter((a) => CARRIED.test(a));
  const port = facts.sshServer?.port ?? 22;
  return [
    ...serialConsoles(facts, options.kernelConsole),
    // A crashed test kernel reboots the host at once (into its own system, through its firmware): the panic stays on the console.
    'panic=-1',
    ...carried,
    ...(ip ? [ip] : []),
    'luo_harness.net=kernel',
    ...(port === 22 ? [] : [`luo_harness.sshd_port=${port}`]),
  ];
}

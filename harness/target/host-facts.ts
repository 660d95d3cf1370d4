// What the harness learns of a remote host before it reboots anything: one
// POSIX sh script over SSH (it runs on the host's own distribution and on the
// harness's busybox initramfs alike) printing key=value lines, and their
// reading. Pure apart from `readHostFacts`.
import type { GuestSession } from '../guest/session.ts';
import { shellQuote } from '../guest/shell-quote.ts';
import { InfraError } from '../errors.ts';

export interface PciFact {
  bdf: string;
  present: boolean;
  /** `8086:10d3`. */
  vendorDevice?: string;
  /** The driver bound now (none: unbound). */
  driver?: string;
  iommuGroup?: string;
}

export interface HostFacts {
  uid: number;
  hostname: string;
  /** `uname -r`. */
  release: string;
  machineId: string | undefined;
  bootId: string | undefined;
  cmdline: string;
  cpuModel: string;
  cpus: number;
  memTotalMiB: number;
  memAvailableMiB: number;
  /** kexec-tools' binary, if installed. */
  kexec: string | undefined;
  /** Whether that kexec knows `-s` (kexec_file_load). */
  kexecFile: boolean;
  /** /sys/kernel/security/lockdown, e.g. `[none] integrity confidentiality`. */
  lockdown: string | undefined;
  /** The address and port this SSH connection reached, as the host sees them (SSH_CONNECTION). */
  sshServer: { address: string; port: number } | undefined;
  iommuGroups: number;
  systemd: boolean;
  addresses: { iface: string; address: string; prefix: number }[];
  defaultRoute: { iface: string; gateway: string } | undefined;
  /** Network interfaces: MAC and the PCI function behind it (undefined for virtual ones). */
  netdevs: { iface: string; mac: string; bdf: string | undefined }[];
  pci: PciFact[];
  /** The running system's own kernel and initrd files that exist, best candidate first, with their sizes. */
  bootKernels: { path: string; bytes: number }[];
  bootInitrds: { path: string; bytes: number }[];
  /** What the host says of the machine under it: the evidence `platformOf` reads. */
  platform: PlatformFacts;
}

export interface PlatformFacts {
  /** Whether /proc/cpuinfo's flags carry `hypervisor` (the CPUID bit every hypervisor sets); undefined: no flags line read. */
  cpuHypervisorFlag: boolean | undefined;
  /** The kernel's own `Hypervisor detected: KVM` line, from dmesg. */
  hypervisorDetected: string | undefined;
  /** DMI's system vendor and product (`QEMU Standard PC (Q35 + ICH9, 2009)`), where the kernel exposes them. */
  dmi: string | undefined;
}

/** The facts script; `bdfs` are the PCI functions asked about (--devices). */
export function factsScript(bdfs: readonly string[]): string {
  const pci = bdfs.map(shellQuote).join(' ');
  return `
p() { printf '%s=%s\\n' "$1" "$2"; }
r=$(uname -r)
p uid "$(id -u)"
p hostname "$(cat /proc/sys/kernel/hostname)"
p release "$r"
p machine_id "$(cat /etc/machine-id 2>/dev/null)"
p boot_id "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
p cmdline "$(cat /proc/cmdline)"
p cpu_model "$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)"
p cpus "$(grep -c '^processor' /proc/cpuinfo)"
p mem_total_kib "$(sed -n 's/^MemTotal: *\\([0-9]*\\).*/\\1/p' /proc/meminfo)"
p mem_available_kib "$(sed -n 's/^MemAvailable: *\\([0-9]*\\).*/\\1/p' /proc/meminfo)"
k=$(command -v kexec)
p kexec "$k"
[ -n "$k" ] && p kexec_file "$("$k" --help 2>&1 | grep -c -e '--kexec-file-syscall')"
p lockdown "$(cat /sys/kernel/security/lockdown 2>/dev/null)"
p ssh_connection "$SSH_CONNECTION"
p cpu_flags_lines "$(grep -c '^flags' /proc/cpuinfo)"
p cpu_hypervisor "$(grep -c '^flags.* hypervisor' /proc/cpuinfo)"
p hypervisor_detected "$(dmesg 2>/dev/null | sed -n 's/.*\\(Hypervisor detected: .*\\)/\\1/p' | head -n 1)"
p dmi "$(cat /sys/class/dmi/id/sys_vendor 2>/dev/null) $(cat /sys/class/dmi/id/product_name 2>/dev/null)"
p iommu_groups "$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)"
[ -d /run/systemd/system ] && p systemd yes
ip -4 addr show 2>/dev/null | sed 's/^/ipaddr=/'
sed 's/^/route=/' /proc/net/route 2>/dev/null
for n in /sys/class/net/*; do
  d=$(readlink -f "$n/device" 2>/dev/null)
  p netdev "\${n##*/} $(cat "$n/address" 2>/dev/null) $d"
done
for b in ${pci}; do
  d=/sys/bus/pci/devices/$b
  if [ -d "$d" ]; then
    drv=$(readlink "$d/driver" 2>/dev/null); grp=$(readlink "$d/iommu_group" 2>/dev/null)
    drv=\${drv##*/}; grp=\${grp##*/}
    p pci "$b $(cat "$d/vendor") $(cat "$d/device") \${drv:--} \${grp:--}"
  else
    p pci "$b missing"
  fi
done
bi=$(sed -n 's/.*BOOT_IMAGE=\\(([^)]*)\\)\\{0,1\\}\\([^ ]*\\).*/\\2/p' /proc/cmdline)
for f in "/boot/vmlinuz-$r" \${bi:+"$bi"} \${bi:+"/boot$bi"} /boot/vmlinuz; do
  [ -f "$f" ] && [ -r "$f" ] && p boot_kernel "$f $(wc -c < "$f")"
done
for f in "/boot/initrd.img-$r" "/boot/initramfs-$r.img" "/boot/initrd-$r.img" "/boot/initrd-$r"; do
  [ -f "$f" ] && [ -r "$f" ] && p boot_initrd "$f $(wc -c < "$f")"
done
true
`;
}

/** Little-endian hex of /proc/net/route to a dotted quad. */
export function routeHexToAddress(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

/** The script's output, read. Unknown keys are ignored; missing ones take empty values (preflight judges them). */
export function parseHostFacts(text: string): HostFacts {
  const one = new Map<string, string>();
  const many = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (!one.has(key)) one.set(key, value);
    many.set(key, [...(many.get(key) ?? []), value]);
  }
  const str = (k: string) => one.get(k)?.trim() ?? '';
  const num = (k: string) => {
    const n = Number.parseInt(str(k), 10);
    return Number.isFinite(n) ? n : 0;
  };
  const opt = (k: string) => str(k) || undefined;

  const addresses: HostFacts['addresses'] = [];
  let iface = '';
  for (const l of many.get('ipaddr') ?? []) {
    const head = /^\d+:\s+([^:@\s]+)[@:]/.exec(l);
    if (head) iface = head[1]!;
    const inet = /^\s+inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(l);
    if (inet && iface) addresses.push({ iface, address: inet[1]!, prefix: Number(inet[2]) });
  }
  let defaultRoute: HostFacts['defaultRoute'];
  for (const l of many.get('route') ?? []) {
    const [ifc, dst, gw, , , , , mask] = l.trim().split(/\s+/);
    if (ifc && dst === '00000000' && (mask === undefined || mask === '00000000') && gw && /^[0-9A-Fa-f]{8}$/.test(gw) && !defaultRoute) {
      defaultRoute = { iface: ifc, gateway: routeHexToAddress(gw) };
    }
  }
  const netdevs = (many.get('netdev') ?? []).map((l) => {
    const [ifc = '', mac = '', dev] = l.trim().split(/\s+/);
    // The PCI function is the last BDF-shaped step of the device's sysfs path (a virtio NIC sits one below its PCI function).
    const bdf = (dev ?? '').split('/').filter((c) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(c)).pop();
    return { iface: ifc, mac, bdf };
  });
  const pci = (many.get('pci') ?? []).map((l): PciFact => {
    const [bdf = '', vendor, device, driver, group] = l.trim().split(/\s+/);
    if (vendor === 'missing' || !vendor || !device) return { bdf, present: false };
    // '-' holds the place of a driver or group the function does not have.
    return {
      bdf,
      present: true,
      vendorDevice: `${vendor.replace(/^0x/, '')}:${device.replace(/^0x/, '')}`,
      ...(driver && driver !== '-' ? { driver } : {}),
      ...(group && group !== '-' ? { iommuGroup: group } : {}),
    };
  });
  const files = (key: string) => [
    ...new Map(
      (many.get(key) ?? []).flatMap((l) => {
        const m = /^(\S+) (\d+)$/.exec(l.trim());
        return m ? [[m[1]!, { path: m[1]!, bytes: Number(m[2]) }] as const] : [];
      }),
    ).values(),
  ];
  const conn = str('ssh_connection').split(/\s+/);
  const sshServer = conn.length >= 4 && conn[2] && /^\d+$/.test(conn[3]!) ? { address: conn[2], port: Number(conn[3]) } : undefined;
  return {
    uid: str('uid') === '' ? -1 : num('uid'),
    hostname: str('hostname'),
    release: str('release'),
    machineId: opt('machine_id'),
    bootId: opt('boot_id'),
    cmdline: str('cmdline'),
    cpuModel: str('cpu_model'),
    cpus: num('cpus'),
    memTotalMiB: Math.floor(num('mem_total_kib') / 1024),
    memAvailableMiB: Math.floor(num('mem_available_kib') / 1024),
    kexec: opt('kexec'),
    kexecFile: num('kexec_file') > 0,
    lockdown: opt('lockdown'),
    sshServer,
    iommuGroups: num('iommu_groups'),
    systemd: str('systemd') === 'yes',
    addresses,
    defaultRoute,
    netdevs,
    pci,
    bootKernels: files('boot_kernel'),
    bootInitrds: files('boot_initrd'),
    platform: {
      cpuHypervisorFlag: num('cpu_flags_lines') > 0 ? num('cpu_hypervisor') > 0 : undefined,
      hypervisorDetected: opt('hypervisor_detected'),
      dmi: opt('dmi'),
    },
  };
}

// DMI vendors that are virtual machines (a hypervisor may hide the CPUID bit; its firmware still names it).
const VIRTUAL_DMI = /\b(QEMU|KVM|VMware|VirtualBox|innotek|Xen|Microsoft Corporation Virtual Machine|Amazon EC2|Google Compute Engine|OpenStack|Bochs|Parallels)\b/i;

/**
 * What a remote target runs on, from its own words: `bare metal` only when its
 * CPU flags were read and say no hypervisor; else `virtual machine` (named by
 * the kernel's "Hypervisor detected" line where there is one), or `unknown`.
 * The evidence goes with the label.
 */
export function platformOf(p: PlatformFacts): { label: string; evidence: string } {
  const seen = [
    p.cpuHypervisorFlag === undefined ? 'no CPU flags read from /proc/cpuinfo' : `/proc/cpuinfo flags ${p.cpuHypervisorFlag ? 'carry' : 'lack'} "hypervisor"`,
    ...(p.hypervisorDetected ? [`dmesg: ${p.hypervisorDetected}`] : []),
    ...(p.dmi ? [`DMI: ${p.dmi}`] : []),
  ].join('; ');
  const named = p.hypervisorDetected?.replace(/^Hypervisor detected:\s*/, '').trim();
  if (p.cpuHypervisorFlag || named || (p.dmi && VIRTUAL_DMI.test(p.dmi))) {
    return { label: named ? `virtual machine (${named})` : 'virtual machine', evidence: seen };
  }
  if (p.cpuHypervisorFlag === false) return { label: 'bare metal', evidence: seen };
  return { label: 'unknown', evidence: seen };
}

/** Runs the facts script on the host. */
export async function readHostFacts(ssh: GuestSession, bdfs: readonly string[], where: string): Promise<HostFacts> {
  const r = await ssh.run(factsScript(bdfs), { timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new InfraError(`Reading what ${where} has (its kernel, memory, network, kexec) failed with status ${r.exitCode}; can its shell run a POSIX sh script?`, { detail: r.stderr });
  return parseHostFacts(r.stdout);
}

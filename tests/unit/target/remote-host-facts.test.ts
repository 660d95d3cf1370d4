// What the remote target reads from a host before the first hop, and what it
// makes of it: the facts, the preflight's sentences, the host's part of the
// test kernel's command line. A recorded output of the facts script (a
// Debian lab host) is the fixture; variations are made from it.
import test from 'ava';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../../harness/errors.ts';
import { factsScript, parseHostFacts, platformOf, routeHexToAddress, type HostFacts } from '../../../harness/target/host-facts.ts';
import { hostMachineCmdline, ipArgument, prefixToMask, serialConsoles } from '../../../harness/target/host-cmdline.ts';
import { assertPreflight, hostKernel, preflightProblems } from '../../../harness/target/preflight.ts';

const recorded = readFileSync(new URL('../../fixtures/target/lab-host.facts', import.meta.url), 'utf8');
const lab = (): HostFacts => parseHostFacts(recorded);

test('the facts script is valid POSIX sh for busybox and dash alike, with the asked-for devices quoted', async (t) => {
  const script = factsScript(['0000:3b:00.0', "x'; reboot; '"]);
  t.true(script.includes("'x'\\''; reboot; '\\'''"), 'a hostile BDF stays one quoted word');
  for (const sh of [['busybox', 'sh'], ['sh']]) {
    const r = await execa(sh[0]!, [...sh.slice(1), '-n', '-c', script], { reject: false });
    t.is(r.exitCode, 0, `${sh.join(' ')}: ${r.stderr}`);
  }
});

test('a recorded lab host: identity, CPU, memory, kexec, the address SSH reached, its NIC and devices', (t) => {
  const f = lab();
  t.like(f, { uid: 0, hostname: 'lab-host-07', release: '6.1.0-28-amd64', machineId: '6f1c2a9e8b7d4c3a9e0f1b2c3d4e5f60', cpus: 64, memTotalMiB: 257736, kexec: '/usr/sbin/kexec', kexecFile: true, systemd: true, iommuGroups: 97 });
  t.is(f.cpuModel, 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz');
  t.deepEqual(f.sshServer, { address: '198.51.100.7', port: 22 });
  t.deepEqual(f.addresses.map((a) => `${a.iface} ${a.address}/${a.prefix}`), ['lo 127.0.0.1/8', 'eno1 198.51.100.7/24', 'br0 10.20.0.1/16']);
  t.deepEqual(f.defaultRoute, { iface: 'eno1', gateway: '198.51.100.1' });
  t.is(f.netdevs.find((n) => n.iface === 'eno1')?.bdf, '0000:18:00.0', 'the NIC is the PCI function its sysfs path ends in');
  t.is(f.netdevs.find((n) => n.iface === 'br0')?.bdf, undefined);
  t.deepEqual(f.pci, [
    { bdf: '0000:3b:00.0', present: true, vendorDevice: '8086:0d58', driver: 'ice', iommuGroup: '42' },
    { bdf: '0000:18:00.0', present: true, vendorDevice: '8086:1521', driver: 'igb', iommuGroup: '31' },
    { bdf: '0000:af:00.0', present: true, vendorDevice: '144d:a80a', iommuGroup: '77' },
    { bdf: '0000:5e:00.0', present: false },
  ]);
  t.deepEqual(hostKernel(f), { kernel: '/boot/vmlinuz-6.1.0-28-amd64', initrd: '/boot/initrd.img-6.1.0-28-amd64' });
  t.is(routeHexToAddress('0202000A'), '10.0.2.2');
});

test('what a host runs on is read from its own words: bare metal only when its CPU flags say no hypervisor', (t) => {
  t.deepEqual(platformOf(lab().platform), { label: 'bare metal', evidence: '/proc/cpuinfo flags lack "hypervisor"; DMI: Dell Inc. PowerEdge R750' });
  const facts = (lines: string) => parseHostFacts(lines).platform;
  // The stand-in host under TCG: the CPUID bit, QEMU's DMI, and no hypervisor signature for the kernel to name.
  t.deepEqual(platformOf(facts('cpu_flags_lines=2\ncpu_hypervisor=2\ndmi=QEMU Standard PC (Q35 + ICH9, 2009)\n')), {
    label: 'virtual machine',
    evidence: '/proc/cpuinfo flags carry "hypervisor"; DMI: QEMU Standard PC (Q35 + ICH9, 2009)',
  });
  t.is(platformOf(facts('cpu_flags_lines=8\ncpu_hypervisor=8\nhypervisor_detected=Hypervisor detected: KVM\n')).label, 'virtual machine (KVM)');
  // A hypervisor that hides the CPUID bit is still named by its firmware.
  t.is(platformOf(facts('cpu_flags_lines=8\ncpu_hypervisor=0\ndmi=VMware, Inc. VMware7,1\n')).label, 'virtual machine');
  t.deepEqual(platformOf(facts('hostname=x\n')), { label: 'unknown', evidence: 'no CPU flags read from /proc/cpuinfo' });
});

test('the host part of the test kernel\'s command line: its serial console last, panic reboots, its IOMMU mode, its address for ip=', (t) => {
  const f = lab();
  t.deepEqual(hostMachineCmdline(f), ['console=ttyS1,115200n8', 'panic=-1', 'intel_iommu=on', 'iommu=pt', 'ip=198.51.100.7::198.51.100.1:255.255.255.0:lab-host-07::off', 'luo_harness.net=kernel']);
  // eno1 means nothing to a kernel without udev: the device is left to the kernel unless named.
  t.is(ipArgument(f, 'eth1'), 'ip=198.51.100.7::198.51.100.1:255.255.255.0:lab-host-07:eth1:off');
  t.deepEqual(serialConsoles(f, 'ttyS0,9600'), ['console=ttyS0,9600']);
  t.deepEqual(serialConsoles({ cmdline: 'console=tty0 quiet' }), [], 'a VGA console is not one a command can read');
  const standIn = parseHostFacts('hostname=luo-guest\ncmdline=console=ttyS0,115200 panic=-1 no_timer_check intel_iommu=on ip=10.0.2.15::10.0.2.2:255.255.255.0:luo-guest:eth0:off liveupdate=on luo_harness.share=boot:/boot\nssh_connection=10.0.2.2 40000 10.0.2.15 2222\nipaddr=2: eth0: <UP>\nipaddr=    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0\nroute=eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\n');
  t.deepEqual(hostMachineCmdline(standIn), ['console=ttyS0,115200', 'panic=-1', 'no_timer_check', 'intel_iommu=on', 'ip=10.0.2.15::10.0.2.2:255.255.255.0:luo-guest:eth0:off', 'luo_harness.net=kernel', 'luo_harness.sshd_port=2222']);
  t.is(prefixToMask(20), '255.255.240.0');
  t.is(prefixToMask(0), '0.0.0.0');
});

test('preflight: a host fit for the first hop has no problem; each lack is a sentence that says what to do', (t) => {
  t.deepEqual(preflightProblems(lab(), { stagedBytes: 8e6, devices: ['0000:3b:00.0'], after: 'kexec' }), []);
  const bad = { ...lab(), uid: 1000, kexec: undefined, memAvailableMiB: 200, cmdline: 'root=/dev/sda1 console=tty0', bootKernels: [], iommuGroups: 0, pci: [{ bdf: '0000:3b:00.0', present: true, vendorDevice: '8086:0d58' }, { bdf: '0000:5e:00.0', present: false }, { bdf: '0000:18:00.0', present: true, iommuGroup: '31' }] };
  const problems = preflightProblems(bad, { stagedBytes: 8e6, devices: ['0000:3b:00.0', '0000:5e:00.0', '0000:18:00.0'], after: 'kexec' });
  const has = (re: RegExp) => t.true(problems.some((p) => re.test(p)), `${re}: ${problems.join('\n')}`);
  has(/uid 1000, not root: connect as root/);
  has(/kexec-tools is not installed/);
  has(/200 MiB of memory available and the first hop needs 272 MiB/);
  has(/no serial console .* pass --kernel-console/);
  has(/0000:5e:00.0, which the host does not have/);
  has(/0000:18:00.0, the NIC \(eno1\) this connection runs over/);
  has(/0000:3b:00.0 has no IOMMU group: turn the IOMMU on/);
  has(/pass --after power-cycle/);
  t.true(preflightProblems({ ...lab(), kexecFile: false }).some((p) => /does not know -s \(kexec_file_load\)/.test(p)));
  t.true(preflightProblems({ ...lab(), sshServer: { address: '2001:db8::7', port: 22 } }).some((p) => /IPv4 only/.test(p)));
  t.deepEqual(preflightProblems({ ...lab(), sshServer: undefined }, { userCmdline: ['ip=198.51.100.7::198.51.100.1:255.255.255.0:x:eth0:off'] }), [], 'the user\'s own ip= stands in');
  const e = t.throws(() => assertPreflight(bad, { after: 'kexec' }, 'root@lab-host-07'), { instanceOf: ConfigError });
  t.regex(e!.message, /^root@lab-host-07 cannot take the first hop, and nothing was rebooted:\n  - /);
});

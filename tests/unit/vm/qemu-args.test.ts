import test from 'ava';
import { ConfigError } from '../../../harness/errors.ts';
import { bootArgs } from '../../../harness/vm/qemu-args/boot.ts';
import { kernelCmdline, qemuArgs } from '../../../harness/vm/qemu-args/command.ts';
import { consoleArgs, monitorArgs } from '../../../harness/vm/qemu-args/console.ts';
import { cpuMemoryArgs } from '../../../harness/vm/qemu-args/cpu-memory.ts';
import { deviceArgs, planDevices } from '../../../harness/vm/qemu-args/devices.ts';
import { iommuArgs, iommuCmdline } from '../../../harness/vm/qemu-args/iommu.ts';
import { machineArgs, TCG_TB_SIZE_MIB } from '../../../harness/vm/qemu-args/machine.ts';
import { networkArgs } from '../../../harness/vm/qemu-args/network.ts';
import { shareArgs } from '../../../harness/vm/qemu-args/shares.ts';
import { resolveSpec } from '../../../harness/vm/spec.ts';

/** The value after each occurrence of a flag. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((arg, i) => (arg === flag ? [args[i + 1]!] : []));
}

test('machine: q35 with split irqchip for the Intel vIOMMU, headless, no reboot, a small TCG translation cache', (t) => {
  const intel = machineArgs('tcg', 'intel');
  t.deepEqual(values(intel, '-machine'), ['q35,kernel-irqchip=split']);
  t.deepEqual(values(intel, '-accel'), [`tcg,tb-size=${TCG_TB_SIZE_MIB}`]);
  t.true(intel.includes('-no-reboot'));
  t.true(intel.includes('-nodefaults'));
  t.deepEqual(values(intel, '-display'), ['none']);
  t.deepEqual(values(machineArgs('kvm', 'virtio'), '-machine'), ['q35']);
  t.deepEqual(values(machineArgs('kvm', 'none'), '-accel'), ['kvm']);
});

test('cpu and memory: host CPU under KVM, max under TCG', (t) => {
  t.deepEqual(cpuMemoryArgs('kvm', 4, 2048), ['-cpu', 'host', '-smp', '4', '-m', '2048M']);
  t.deepEqual(cpuMemoryArgs('tcg', 2, 1024), ['-cpu', 'max', '-smp', '2', '-m', '1024M']);
});

test('boot: kernel, optional initrd, one -append string', (t) => {
  t.deepEqual(bootArgs('k', 'i', ['a=1', 'b']), ['-kernel', 'k', '-initrd', 'i', '-append', 'a=1 b']);
  t.deepEqual(bootArgs('k', undefined, []), ['-kernel', 'k', '-append', '']);
});

// The kernel configures the guest's address itself (CONFIG_IP_PNP).
const IP = 'ip=10.0.2.15::10.0.2.2:255.255.255.0:luo-guest:eth0:off';

test('kernel cmdline: harness base, the network, then accelerator and IOMMU needs, then the caller (so the caller wins)', (t) => {
  t.deepEqual(kernelCmdline({ iommu: 'intel', cmdline: ['panic=5'] }, 'kvm'), [
    'console=ttyS0,115200', 'panic=-1', IP, 'intel_iommu=on', 'panic=5',
  ]);
  t.deepEqual(kernelCmdline({ iommu: 'none', cmdline: [] }, 'tcg'), [
    'console=ttyS0,115200', 'panic=-1', IP, 'no_timer_check',
  ]);
  t.deepEqual(iommuCmdline('virtio'), []);
});

test('console: ttyS0 on stdio', (t) => {
  const args = consoleArgs();
  t.deepEqual(values(args, '-serial'), ['chardev:console0']);
  t.regex(values(args, '-chardev')[0]!, /^stdio,id=console0\b/);
});

test('a stand-in for a lab host: ttyS0 and the monitor on loopback TCP servers, and a reboot that resets instead of ending QEMU', (t) => {
  const args = consoleArgs(40200);
  t.deepEqual(values(args, '-chardev'), ['socket,id=console0,host=127.0.0.1,port=40200,server=on,wait=off']);
  t.deepEqual(values(args, '-serial'), ['chardev:console0']);
  t.deepEqual(monitorArgs(40201), ['-monitor', 'tcp:127.0.0.1:40201,server=on,wait=off']);
  t.deepEqual(monitorArgs(undefined), []);
  t.true(machineArgs('tcg', 'intel').includes('-no-reboot'));
  t.false(machineArgs('tcg', 'intel', true).includes('-no-reboot'));
  const spec = resolveSpec({ kernel: 'bz', runDir: 'run', serialTcpPort: 40200, monitorTcpPort: 40201, rebootResets: true });
  const argv = qemuArgs({ spec, accel: 'tcg', sshPort: 40123, devices: [] });
  t.true(argv.includes('tcp:127.0.0.1:40201,server=on,wait=off'));
  t.false(argv.includes('-no-reboot'));
  t.false(argv.some((a) => a.startsWith('stdio,')), 'nothing on stdio');
  t.throws(() => resolveSpec({ kernel: 'bz', runDir: 'run', serialTcpPort: 70000 }), { message: /serialTcpPort/ });
});

test('network: restricted user net, hostfwd from 127.0.0.1:<port> to guest 22, fixed slot', (t) => {
  const args = networkArgs(40123);
  t.deepEqual(values(args, '-netdev'), ['user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40123-:22']);
  t.deepEqual(values(args, '-device'), ['virtio-net-pci,netdev=net0,bus=pcie.0,addr=0x02']);
});

test('iommu: intel with interrupt remapping and caching mode; virtio-iommu on its slot; none', (t) => {
  t.deepEqual(iommuArgs('intel'), ['-device', 'intel-iommu,intremap=on,caching-mode=on']);
  t.deepEqual(iommuArgs('virtio'), ['-device', 'virtio-iommu-pci,bus=pcie.0,addr=0x03']);
  t.deepEqual(iommuArgs('none'), []);
});

test('devices: predictable guest BDFs and IDs, in request order, from slot 0x10', (t) => {
  const planned = planDevices(['edu', 'nvme', 'e1000e', 'vfio-host:0000:3b:00.1'], 'run', (bdf) =>
    bdf === '0000:3b:00.1' ? '15b3:101e' : undefined,
  );
  t.deepEqual(
    planned.map((d) => [d.kind, d.guestBdf, d.vendorDevice]),
    [
      ['edu', '0000:00:10.0', '1234:11e8'],
      ['nvme', '0000:00:11.0', '1b36:0010'],
      ['e1000e', '0000:00:12.0', '8086:10d3'],
      ['vfio-host', '0000:00:13.0', '15b3:101e'],
    ],
  );
  t.is(planned[1]!.backingFile, 'run/nvme-1.img');
  t.is(planned[3]!.hostBdf, '0000:3b:00.1');
  const args = deviceArgs(planned);
  t.deepEqual(values(args, '-device'), [
    'edu,id=dev0,bus=pcie.0,addr=0x10',
    'nvme,id=dev1,serial=luo-nvme-1,drive=dev1-drive,bus=pcie.0,addr=0x11',
    'e1000e,id=dev2,bus=pcie.0,addr=0x12',
    'vfio-pci,id=dev3,host=0000:3b:00.1,bus=pcie.0,addr=0x13',
  ]);
  t.deepEqual(values(args, '-drive'), ['file=run/nvme-1.img,if=none,id=dev1-drive,format=raw']);
});

test('devices: a comma in the backing path is escaped; too many devices and duplicate host devices are refused', (t) => {
  t.deepEqual(values(deviceArgs(planDevices(['nvme'], 'a,b')), '-drive'), ['file=a,,b/nvme-0.img,if=none,id=dev0-drive,format=raw']);
  t.throws(() => planDevices(Array(16).fill('edu'), 'run'), { instanceOf: ConfigError, message: /At most 15/ });
  t.throws(() => planDevices(['vfio-host:03:00.0', 'vfio-host:0000:03:00.0'], 'run'), { instanceOf: ConfigError, message: /twice/ });
});

test('shares: read-only 9p by default, writable on request, each on its own slot', (t) => {
  const args = shareArgs([{ hostPath: '/srv/x', tag: 'x' }, { hostPath: 'y,z', tag: 'y', readOnly: false }]);
  t.deepEqual(values(args, '-fsdev'), [
    'local,id=share0,path=/srv/x,security_model=none,readonly=on',
    'local,id=share1,path=y,,z,security_model=none',
  ]);
  t.deepEqual(values(args, '-device'), [
    'virtio-9p-pci,fsdev=share0,mount_tag=x,bus=pcie.0,addr=0x04',
    'virtio-9p-pci,fsdev=share1,mount_tag=y,bus=pcie.0,addr=0x05',
  ]);
});

test('whole command: every concern present, the IOMMU before the devices it translates for', (t) => {
  const spec = resolveSpec({ kernel: 'bz', initrd: 'rd', runDir: 'run', devices: ['edu'], shares: [{ hostPath: 'h', tag: 't' }] });
  const args = qemuArgs({ spec, accel: 'tcg', sshPort: 2222, devices: planDevices(spec.devices, spec.runDir) });
  const devices = values(args, '-device');
  t.true(devices[0]!.startsWith('intel-iommu'));
  t.deepEqual(devices.slice(1).map((d) => d.split(',')[0]), ['virtio-net-pci', 'virtio-9p-pci', 'edu']);
  t.deepEqual(values(args, '-kernel'), ['bz']);
  t.deepEqual(values(args, '-initrd'), ['rd']);
  t.deepEqual(values(args, '-m'), ['1024M']);
  t.deepEqual(values(args, '-smp'), ['2']);
  t.is(values(args, '-append')[0], `console=ttyS0,115200 panic=-1 ${IP} no_timer_check intel_iommu=on`);
  // No two devices share a slot.
  const addrs = devices.map((d) => /addr=(0x[0-9a-f]+)/.exec(d)?.[1]).filter(Boolean);
  t.is(new Set(addrs).size, addrs.length);
});

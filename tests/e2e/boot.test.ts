// The boot command and the machine it gives, for real: release, vfio-pci
// binding, IOMMU groups, a panic reported as a kernel fault, and no QEMU
// left behind when the harness is killed.
import test from 'ava';
import { execa } from 'execa';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';
import { buildKernel } from '../../harness/kernel/pipeline.ts';
import { boot } from '../../harness/liveupdate/live-vm.ts';
import { KernelFault } from '../../harness/errors.ts';

const cli = join(repoRoot, 'bin', 'luo-harness.js');

test.serial('boot --exec prints the release and the vfio cdev of edu', async (t) => {
  const release = (await buildKernel('luo-7.2', { quiet: true })).manifest.release;
  const r = await execa('node', [cli, 'boot', '--kernel', 'luo-7.2', '--devices', 'edu', '--exec', 'uname -r; ls /dev/vfio/devices'], { reject: false });
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), [release, 'vfio0']);
  t.regex(r.stderr, /vfio: edu 0000:00:10\.0 \/dev\/vfio\/devices\/vfio0/);
});

test.serial('boot --exec exits with the command\'s status and names bad flags', async (t) => {
  const r = await execa('node', [cli, 'boot', '--exec', 'exit 7'], { reject: false });
  t.is(r.exitCode, 7);
  const bad = await execa('node', [cli, 'boot', '--devices', 'gpu', '--exec', 'true'], { reject: false });
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /--devices: unknown device "gpu"/);
});

test.serial('edu sits in an IOMMU group behind the vIOMMU and its driver is vfio-pci', async (t) => {
  await using vm = await boot({ kernel: 'luo-7.2', devices: ['edu', 'nvme'] });
  const groups = (await vm.exec('ls /sys/kernel/iommu_groups')).stdout.trim().split(/\s+/);
  t.true(groups.length >= 2, `groups: ${groups.join(' ')}`);
  for (const d of vm.vfio) {
    const driver = (await vm.exec(`basename $(readlink /sys/bus/pci/devices/${d.bdf}/driver)`)).stdout.trim();
    t.is(driver, 'vfio-pci', d.kind);
    t.regex((await vm.exec(`readlink /sys/bus/pci/devices/${d.bdf}/iommu_group`)).stdout, /iommu_groups\/\d+/);
  }
  t.deepEqual(vm.vfio.map((d) => d.kind), ['edu', 'nvme']);
});

test.serial('a forced panic is a KernelFault carrying the panic line', async (t) => {
  await using vm = await boot({ kernel: 'luo-7.2', bindVfio: false });
  const waiting = vm.console.waitForMarker('never-printed', { deadlineMs: 60_000, boot: 0, afterSeq: vm.console.lines().at(-1)!.seq });
  await vm.ssh.run('echo c > /proc/sysrq-trigger', { timeoutMs: 10_000 }).catch(() => {});
  const e = await t.throwsAsync(waiting, { instanceOf: KernelFault });
  t.regex(e!.message + '\n' + (e!.detail ?? ''), /Kernel panic - not syncing/);
  t.regex(e!.detail ?? '', /sysrq/i);
});

test.serial('SIGKILL of the harness leaves no QEMU behind', async (t) => {
  const child = execa('node', [cli, 'boot', '--exec', 'sleep 600'], { reject: false });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ssh-ready line: ${stderr}`)), 240_000);
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (/ssh ready/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const qemus = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(child.pid) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('qemu-system');
      } catch {
        return false;
      }
    })
    .map(Number);
  t.is(qemus.length, 1, 'the harness runs one QEMU');
  child.kill('SIGKILL');
  await child;
  const deadline = Date.now() + 10_000;
  const alive = (pid: number) => {
    try {
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
    } catch {
      return false;
    }
  };
  while (alive(qemus[0]!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.false(alive(qemus[0]!), 'QEMU died with the harness');
});

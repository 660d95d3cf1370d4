// Boot benchmarks (prints figures; asserts nothing), same kernel and initrd:
//   - QEMU spawn -> `sshd-ready` and -> first SSH exec through the harness (boot());
//   - a bare qemu-system-x86_64 command (no harness) to the same init marker.
// Usage: node --import tsx scripts/bench-boot.ts [N=5]
import { execa } from 'execa';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boot } from '../harness/liveupdate/live-vm.ts';
import { buildKernel } from '../harness/kernel/pipeline.ts';
import { artifactPath } from '../harness/kernel/artifact.ts';
import { median, quantile } from '../harness/report/stats.ts';

const n = Number(process.argv[2] ?? 5);
const kernel = await buildKernel('luo-7.2', { quiet: true });
const harness: { sshd: number; exec: number; total: number }[] = [];
let initrd = '';
const scratch = await mkdtemp(join(tmpdir(), 'bench-boot-'));
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  const vm = await boot({ kernel, bindVfio: false, runDir: join(scratch, `run${i}`) });
  const ready = vm.console.markers('sshd-ready', 0)[0]!.line.ms;
  await vm.exec('true');
  const execMs = Number(process.hrtime.bigint() - vm.console.origin) / 1e6;
  harness.push({ sshd: ready, exec: execMs, total: performance.now() - t0 });
  if (!initrd) {
    initrd = join(scratch, 'initrd');
    await copyFile(join(vm.runDir, 'initrd'), initrd);
  }
  await vm.stop();
}

// The same kernel, initrd and machine type, without the harness: spawn -> init marker.
const bare: number[] = [];
const bareSshd: number[] = [];
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  const q = execa('qemu-system-x86_64', [
    '-machine', 'q35,kernel-irqchip=split', '-accel', 'tcg', '-cpu', 'max', '-smp', '2', '-m', '1024M',
    '-device', 'intel-iommu,intremap=on,caching-mode=on', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
    '-netdev', 'user,id=n0,restrict=on', '-device', 'virtio-net-pci,netdev=n0',
    '-kernel', artifactPath(kernel, 'bzImage'), '-initrd', initrd,
    '-append', `console=ttyS0,115200 panic=-1 liveupdate=on no_timer_check intel_iommu=on ${kernel.manifest.cmdline.join(' ')}`,
  ], { reject: false, buffer: false });
  let out = '';
  let initAt = 0;
  await new Promise<void>((resolve) => {
    q.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (!initAt && /LUO-HARNESS-MARK init/.test(out)) initAt = performance.now() - t0;
      if (/LUO-HARNESS-MARK sshd-ready/.test(out)) {
        bareSshd.push(performance.now() - t0);
        resolve();
      }
    });
  });
  bare.push(initAt);
  q.kill('SIGKILL');
  await q;
}
await rm(scratch, { recursive: true, force: true });

const fmt = (xs: number[]) => `median ${median(xs).toFixed(0)} ms, p95 ${quantile(xs, 0.95).toFixed(0)} ms`;
console.log(`boot benchmark, ${n} boots each, TCG, luo-7.2 (${kernel.manifest.release})`);
console.log(`harness: QEMU spawn -> sshd-ready marker   ${fmt(harness.map((h) => h.sshd))}`);
console.log(`harness: QEMU spawn -> first SSH exec      ${fmt(harness.map((h) => h.exec))}`);
console.log(`harness: sshd-ready -> first SSH exec      ${fmt(harness.map((h) => h.exec - h.sshd))}`);
console.log(`harness: boot() call -> ready (incl. image) ${fmt(harness.map((h) => h.total))}`);
console.log(`bare QEMU: spawn -> init marker             ${fmt(bare)}`);
console.log(`bare QEMU: spawn -> sshd-ready marker       ${fmt(bareSshd)}`);
console.log(`harness overhead to sshd-ready: ${(100 * (median(harness.map((h) => h.sshd)) / median(bareSshd) - 1)).toFixed(1)} %`);

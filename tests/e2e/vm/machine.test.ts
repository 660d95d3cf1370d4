// Real QEMU, real kernel: the luo-7.2 recipe's bzImage (built into the cache
// by npm test's pretest step), booted with a tiny initramfs of our own. The
// tools it needs come with the host packages (scripts/setup-host.sh): one
// that is missing fails the tests, it never skips them.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelFault } from '../../../harness/errors.ts';
import { Machine } from '../../../harness/vm/machine.ts';
import { detectAccelerator } from '../../../harness/vm/accel.ts';
import { freeLoopbackPort } from '../../../harness/vm/ports.ts';
import { TCG_TB_SIZE_MIB } from '../../../harness/vm/qemu-args/machine.ts';
import { buildTinyInitramfs, missingTools } from './tiny-initramfs.ts';
import { buildKernel } from '../../../harness/kernel/pipeline.ts';
import { artifactPath } from '../../../harness/kernel/artifact.ts';

const kernel = artifactPath(await buildKernel('luo-7.2', { quiet: true }), 'bzImage');
const work = mkdtempSync(join(tmpdir(), 'luo-vm-e2e-'));
let initrd = '';
const e2e = test.serial;

test.before(async () => {
  const missing = await missingTools();
  if (missing) throw new Error(`${missing}: run scripts/setup-host.sh`);
  initrd = await buildTinyInitramfs(work, kernel);
});
test.after.always(() => rmSync(work, { recursive: true, force: true }));

let runs = 0;
const runDir = () => join(work, `run-${runs++}`);
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

e2e('boots to the init marker; devices sit at their planned guest addresses; a 9p share is readable', async (t) => {
  const share = join(work, 'share');
  mkdirSync(share, { recursive: true });
  writeFileSync(join(share, 'hello'), 'from-host\n');
  await using vm = await Machine.boot({
    kernel,
    initrd,
    runDir: runDir(),
    cmdline: ['luo_mode=pci'],
    memoryMiB: 512,
    devices: ['edu', 'nvme', 'e1000e'],
    shares: [{ hostPath: share, tag: 'hostshare' }],
  });
  // Whatever this host offers: the accelerator the harness decides on for it, and the one QEMU was given.
  const decided = await detectAccelerator('auto');
  t.is(vm.accel, decided.accel, decided.reason);
  const argv = JSON.parse(readFileSync(join(vm.runDir, 'qemu-argv.json'), 'utf8')) as string[];
  t.is(argv[argv.indexOf('-accel') + 1]!.split(',')[0], vm.accel, 'QEMU runs with the accelerator the machine reports');
  if (vm.accel === 'tcg') t.is(argv[argv.indexOf('-accel') + 1], `tcg,tb-size=${TCG_TB_SIZE_MIB}`, "TCG with the harness's translation cache");
  const init = await vm.console.waitForMarker('init', { deadlineMs: 60_000 });
  t.is(init.fields.boot, '0');
  await vm.console.waitForMarker('pci-done', { deadlineMs: 30_000 });
  const seen = new Map(vm.console.markers('pci').map((m) => [m.fields.bdf, m.fields.id]));
  for (const device of vm.devices) t.is(seen.get(device.guestBdf), device.vendorDevice, device.kind);
  t.is(vm.console.markers('share')[0]?.fields.content, 'from-host');
  t.true(existsSync(join(vm.runDir, 'console-boot0.log')));
  t.true(existsSync(join(vm.runDir, 'qemu.pid.json')));
  await vm.stop();
  await vm.stop(); // idempotent
  t.false(alive(vm.qemuPid));
  t.false(existsSync(join(vm.runDir, 'qemu.pid.json')));
});

e2e('a kernel panic fails the wait with KernelFault carrying the console tail', async (t) => {
  await using vm = await Machine.boot({ kernel, initrd, runDir: runDir(), cmdline: ['luo_mode=sysrq'], memoryMiB: 256 });
  await vm.console.waitForMarker('init', { deadlineMs: 60_000 });
  const error = await t.throwsAsync(vm.console.waitForMarker('never', { deadlineMs: 60_000 }), { instanceOf: KernelFault });
  t.regex(error!.message, /sysrq triggered crash/);
  t.regex(error!.detail!, /Kernel panic/);
  const exit = await vm.exited;
  t.is(exit.code, 0); // panic=-1 + -no-reboot: QEMU exits by itself
});

e2e('kexec starts boot 1: the console splits per boot and waits follow the new kernel', async (t) => {
  await using vm = await Machine.boot({ kernel, initrd, runDir: runDir(), cmdline: ['luo_mode=kexec'], memoryMiB: 512 });
  await vm.console.waitForMarker('init', { deadlineMs: 60_000, boot: 0 });
  const second = await vm.console.waitForMarker('init', { deadlineMs: 60_000, boot: 1 });
  t.is(second.fields.boot, '1');
  t.deepEqual(vm.console.boots.map((b) => [b.boot, b.viaKexec]), [[1, true]]);
  await t.throwsAsync(vm.console.waitForLine(/never/, { deadlineMs: 60_000, boot: 1 }), { instanceOf: KernelFault });
  await vm.exited;
  t.true(existsSync(join(vm.runDir, 'console-boot1.log')));
});

e2e('a taken ssh port is retried; parallel machines get distinct ports', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const taken = (blocker.address() as { port: number }).port;
  let calls = 0;
  const pickPort = () => (calls++ === 0 ? Promise.resolve(taken) : freeLoopbackPort());
  const spec = (dir: string) => ({ kernel, initrd, runDir: dir, cmdline: ['luo_mode=hold'], memoryMiB: 256, cpus: 1 });
  try {
    await using a = await Machine.boot(spec(runDir()), { pickPort });
    await using b = await Machine.boot(spec(runDir()));
    t.is(calls, 2);
    t.not(a.sshPort, taken);
    t.not(a.sshPort, b.sshPort);
    await Promise.all([a, b].map((vm) => vm.console.waitForMarker('init', { deadlineMs: 60_000 })));
  } finally {
    blocker.close();
  }
});

for (const signal of ['SIGKILL', 'SIGTERM', 'SIGINT'] as const) {
  e2e(`${signal} to a node process that owns a Machine leaves no QEMU running`, async (t) => {
    const owner = fileURLToPath(new URL('own-machine.ts', import.meta.url));
    const child = execa('node', ['--import', 'tsx', owner, kernel, initrd, runDir()], { reject: false, stdout: 'pipe' });
    const qemuPid = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        const match = /"qemuPid":(\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', () => reject(new Error('owner exited early')));
    });
    t.true(alive(qemuPid));
    child.kill(signal);
    await child;
    const deadline = Date.now() + 5000;
    while (alive(qemuPid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    t.false(alive(qemuPid));
  });
}

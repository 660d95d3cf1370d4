// The Machine lifecycle against a shell script standing in for QEMU (no QEMU, no kernel).
import test from 'ava';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InfraError, KernelFault } from '../../../harness/errors.ts';
import type { AccelHost } from '../../../harness/vm/accel.ts';
import { liveCount } from '../../../harness/vm/live-machines.ts';
import { Machine, type MachineOptions } from '../../../harness/vm/machine.ts';
import { freeLoopbackPort } from '../../../harness/vm/ports.ts';
import type { MachineSpec } from '../../../harness/vm/spec.ts';

const fakeQemu = fileURLToPath(new URL('../../fixtures/vm/fake-qemu.sh', import.meta.url));
chmodSync(fakeQemu, 0o755);
const work = mkdtempSync(join(tmpdir(), 'luo-vm-lifecycle-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

// This host's shape: /dev/kvm served by kvm_pvm.
const pvmHost: AccelHost = { kvmDeviceUsable: () => true, procModules: () => undefined, sysModules: () => ['kvm', 'kvm_pvm'] };
let runs = 0;
function spec(mode: string): MachineSpec {
  return { kernel: fakeQemu, runDir: join(work, `run-${runs++}`), qemuBinary: fakeQemu, cmdline: [`fake=${mode}`] };
}
const options: MachineOptions = { accelHost: pvmHost };
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

test.serial('start reports the accelerator and port; the console streams; stop is idempotent and cleans up', async (t) => {
  const vm = new Machine(spec('boot'), options);
  const info = await vm.start();
  t.is(info.accel, 'tcg');
  t.regex(info.accelReason, /kvm_pvm/);
  t.is(info.sshPort, vm.sshPort);
  t.true(existsSync(join(vm.runDir, 'qemu.pid.json')));
  t.is(liveCount(), 1);
  const init = await vm.console.waitForMarker('init', { deadlineMs: 5000 });
  t.true(init.line.ms > 0);
  const argv = JSON.parse(readFileSync(join(vm.runDir, 'qemu-argv.json'), 'utf8')) as string[];
  t.true(argv.includes(`user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${vm.sshPort}-:22`));
  await Promise.all([vm.stop(), vm.stop()]);
  await vm.stop();
  t.false(alive(vm.qemuPid));
  t.is((await vm.exited).signal, 'SIGTERM');
  t.false(existsSync(join(vm.runDir, 'qemu.pid.json')));
  t.is(liveCount(), 0);
  t.regex(readFileSync(join(vm.runDir, 'console.log'), 'utf8'), / b0 LUO-HARNESS-MARK init boot=0\n/);
});

test.serial('stop falls back to SIGKILL when QEMU ignores SIGTERM', async (t) => {
  const vm = await Machine.boot(spec('ignore-term'), { ...options, stopGraceMs: 200 });
  await vm.console.waitForMarker('init', { deadlineMs: 5000 });
  await vm.stop();
  t.is((await vm.exited).signal, 'SIGKILL');
});

test.serial('a panic fails waits with KernelFault; the machine reports its exit', async (t) => {
  await using vm = await Machine.boot(spec('panic'), options);
  await t.throwsAsync(vm.console.waitForMarker('init', { deadlineMs: 5000 }), { instanceOf: KernelFault, message: /panic/ });
  t.is((await vm.exited).code, 0);
});

test.serial('a taken port is retried with another; a port that stays taken ends in InfraError', async (t) => {
  let calls = 0;
  const flaky = async () => (calls++ === 0 ? 1 : freeLoopbackPort());
  await using vm = await Machine.boot(spec('boot'), { ...options, pickPort: flaky });
  t.is(calls, 2);
  t.not(vm.sshPort, 1);
  const stuck = new Machine(spec('boot'), { ...options, pickPort: async () => 1, portAttempts: 3 });
  await t.throwsAsync(stuck.start(), { instanceOf: InfraError, message: /could not set up host forwarding/i });
  await stuck.stop(); // safe after a failed start
});

test.serial('using the machine before start is an InfraError, not a crash', (t) => {
  const vm = new Machine(spec('boot'), options);
  t.throws(() => vm.console, { instanceOf: InfraError, message: /start\(\)/ });
});

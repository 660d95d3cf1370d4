// What an error met while a machine ran really was, as its console tells.
import test from 'ava';
import { InfraError, KernelFault, TestFailure } from '../../../harness/errors.ts';
import { explainFailure } from '../../../harness/liveupdate/explain.ts';
import { ConsoleMonitor } from '../../../harness/vm/console-monitor.ts';

const booted = () => {
  const m = new ConsoleMonitor();
  m.push('[    0.000000] Linux version 7.2.13 (x@y) #1\nLUO-HARNESS-MARK sshd-ready port=22\n');
  return m;
};
const lost = () => new InfraError('The SSH connection closed before guest command `luo-agent relay` finished.');

test('a lost connection while the kernel panics is that KernelFault, with the panic line', async (t) => {
  const m = booted();
  setTimeout(() => m.push('[   12.500000] sysrq: Trigger a crash\n[   12.500100] Kernel panic - not syncing: sysrq triggered crash\n'), 50);
  const e = await explainFailure(lost(), m, 0, 2000);
  t.true(e instanceof KernelFault);
  t.regex((e as Error).message, /crashed \(panic\) on boot 0: \[ +12\.500100\] Kernel panic - not syncing: sysrq triggered crash \(the harness saw: The SSH connection closed/);
  t.regex((e as KernelFault).detail!, /sysrq: Trigger a crash/);
});

test('a machine that stops answering with a quiet console stays an InfraError, now with the console tail', async (t) => {
  const m = booted();
  const started = performance.now();
  const e = await explainFailure(lost(), m, 0, 200);
  t.true(e instanceof InfraError && !(e instanceof KernelFault));
  t.regex((e as Error).message, /The machine stopped answering/);
  t.regex((e as InfraError).detail!, /sshd-ready/);
  t.true(performance.now() - started < 1000);
  const failure = new TestFailure('memfd contents differ');
  t.is(await explainFailure(failure, m, 0, 200), failure, 'a test failure is what it is');
});

test('a crash of an earlier boot does not explain a later loss; one of the boot worked in does, even after the host rebooted', async (t) => {
  const m = booted();
  m.push('[    5.0] WARNING: CPU: 0 PID: 1 at mm/x.c:1 f+0x1/0x2\n');
  m.push('[    0.000000] Linux version 7.2.13 (x@y) #1\n');
  t.false((await explainFailure(lost(), m, 1, 100)) instanceof KernelFault);
  t.true((await explainFailure(lost(), m, 0, 100)) instanceof KernelFault, 'boot 0 crashed and the host rebooted (boot 1) before the loss was seen');
});

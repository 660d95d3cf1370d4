import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BootError, InfraError, KernelFault } from '../../../harness/errors.ts';
import { ConsoleLogWriter } from '../../../harness/vm/console-log.ts';
import { ConsoleMonitor, type ConsoleLine } from '../../../harness/vm/console-monitor.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/vm/', import.meta.url));
const fixture = (name: string) => readFileSync(join(fixtures, name));

/** A clock that advances 1 µs per reading. */
function fakeClock() {
  let now = 1_000_000n;
  return () => (now += 1000n);
}

/** Feed bytes in odd-sized chunks, as a pipe delivers them (splitting lines and CRLFs). */
function feed(monitor: ConsoleMonitor, bytes: Buffer, chunk = 97): void {
  for (let i = 0; i < bytes.length; i += chunk) monitor.push(bytes.subarray(i, i + chunk));
}

test('recorded boot: lines are split, CRs stripped, all on boot 0, the init marker found, no fault', (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock(), origin: 0n });
  feed(monitor, fixture('console-boot-reboot.log'));
  monitor.end({ description: 'QEMU exited with status 0' });
  const lines = monitor.lines();
  t.is(lines.length, 263);
  t.false(lines.some((line) => line.text.includes('\r')));
  t.true(lines.every((line) => line.boot === 0));
  t.true(lines.every((line, i) => i === 0 || line.at >= lines[i - 1]!.at));
  t.true(lines.at(-1)!.at > lines[0]!.at);
  t.regex(lines[0]!.text, /^\[    0\.000000\] Linux version 7\.2\.13/);
  const [init] = monitor.markers('init');
  t.deepEqual(init && [init.name, init.fields, init.boot], ['init', { boot: '0' }, 0]);
  t.deepEqual(monitor.faults, []);
});

test('recorded panic: one panic fault on boot 0, after the init marker', (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock() });
  feed(monitor, fixture('console-sysrq-panic.log'));
  t.deepEqual(
    monitor.faults.map((f) => [f.kind, f.boot, f.line.text]),
    [['panic', 0, '[    1.156459] Kernel panic - not syncing: sysrq triggered crash']],
  );
  t.true(monitor.markers('init')[0]!.line.seq < monitor.faults[0]!.line.seq);
});

test('recorded kexec: the log splits at the new banner, markers and the panic land on the right boot', (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock() });
  const boots: [number, boolean][] = [];
  monitor.on('boot', (start) => boots.push([start.boot, start.viaKexec]));
  feed(monitor, fixture('console-kexec-then-panic.log'), 4096);
  t.deepEqual(boots, [[1, true]]);
  t.is(monitor.boot, 1);
  const boot0 = monitor.lines(0);
  t.regex(boot0.at(-1)!.text, /kexec_core: Starting new kernel/);
  t.regex(monitor.lines(1)[0]!.text, /Linux version 7\.2\.13/);
  t.deepEqual(monitor.markers().map((m) => [m.name, m.boot, m.fields.boot ?? '']), [
    ['init', 0, '0'],
    ['freeze', 0, ''],
    ['init', 1, '1'],
  ]);
  t.deepEqual(monitor.faults.map((f) => [f.kind, f.boot]), [['panic', 1]]);
  t.true(monitor.lines(1).some((line) => line.text.includes('KHO: found kexec handover data')));
});

test('waitForMarker resolves from history and from live lines, honouring boot', async (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock() });
  const bytes = fixture('console-kexec-then-panic.log');
  const cut = bytes.indexOf('kexec_core: Starting new kernel');
  feed(monitor, bytes.subarray(0, cut));
  const early = await monitor.waitForMarker('init', { deadlineMs: 100 });
  t.is(early.boot, 0);
  const second = monitor.waitForMarker('init', { deadlineMs: 5000, boot: 1 });
  const line = monitor.waitForLine(/KHO: found kexec handover data/, { deadlineMs: 5000 });
  const banner = monitor.waitForBoot(1, { deadlineMs: 5000 });
  feed(monitor, bytes.subarray(cut));
  t.is((await second).fields.boot, '1');
  t.is((await line).boot, 1);
  t.is((await banner).boot, 1);
});

test('a crash fails a pending wait with KernelFault carrying the console tail', async (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock(), faultSettleMs: 20 });
  const wait = monitor.waitForMarker('sshd-ready', { deadlineMs: 10_000 });
  feed(monitor, fixture('console-sysrq-panic.log'));
  const error = await t.throwsAsync(wait, { instanceOf: KernelFault });
  t.regex(error!.message, /panic.*boot 0.*sshd-ready.*sysrq triggered crash/);
  t.regex(error!.detail!, /Call Trace:/);
});

test('a crash already on the console fails a new wait at once (when QEMU has exited)', async (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock(), faultSettleMs: 10_000 });
  feed(monitor, fixture('console-sysrq-panic.log'));
  monitor.end({ description: 'QEMU exited with status 0' });
  const started = Date.now();
  await t.throwsAsync(monitor.waitForMarker('agent-ready', { deadlineMs: 10_000 }), { instanceOf: KernelFault });
  t.true(Date.now() - started < 1000);
});

test('faults before afterSeq or on an earlier boot do not fail a wait', async (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock(), faultSettleMs: 10 });
  monitor.push('[    0.0] Linux version 7.2.13\n[    1.0] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x1\n');
  monitor.push('[    1.1] kexec_core: Starting new kernel\n[    0.0] Linux version 7.2.13\n');
  const wait = monitor.waitForMarker('init', { deadlineMs: 1000, boot: 1 });
  monitor.push('LUO-HARNESS-MARK init boot=1\n');
  t.is((await wait).boot, 1);
  const after = monitor.lines().at(-1)!.seq;
  t.is((await monitor.waitForMarker('init', { deadlineMs: 100, afterSeq: after - 1 })).boot, 1);
});

test('QEMU exiting fails a wait with BootError; a host-side cause with InfraError', async (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock() });
  const wait = monitor.waitForMarker('init', { deadlineMs: 10_000 });
  monitor.push('[    0.0] Linux version 7.2.13\n');
  monitor.end({ description: 'QEMU exited with status 0' });
  const error = await t.throwsAsync(wait, { instanceOf: BootError });
  t.regex(error!.message, /QEMU exited with status 0 before marker "init" appeared/);
  t.regex(error!.detail!, /Linux version/);
  const infra = new ConsoleMonitor({ now: fakeClock() });
  infra.end({ description: 'QEMU exited with status 1', infra: 'KVM failed to run the guest' });
  await t.throwsAsync(infra.waitForLine(/x/, { deadlineMs: 1000 }), { instanceOf: InfraError, message: /KVM failed/ });
});

test('a wait past its deadline fails with BootError naming what was awaited', async (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock() });
  await t.throwsAsync(monitor.waitForMarker('init', { deadlineMs: 30, boot: 2 }), {
    instanceOf: BootError,
    message: 'marker "init" did not appear on boot 2 within 30 ms.',
  });
});

test('an unterminated last line is flushed when QEMU exits; split UTF-8 survives chunking', (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock() });
  const bytes = Buffer.from('caf\u00e9 ok\r\nno newline');
  monitor.push(bytes.subarray(0, 4));
  monitor.push(bytes.subarray(4));
  monitor.end({ description: 'QEMU exited with status 0' });
  t.deepEqual(monitor.lines().map((l) => l.text), ['caf\u00e9 ok', 'no newline']);
  t.is(monitor.tail(1), 'no newline');
});

test('timestamps are host monotonic: ms from the origin with sub-millisecond resolution', (t) => {
  let now = 5_000_000n;
  const monitor = new ConsoleMonitor({ now: () => now, origin: 5_000_000n });
  now += 1_234_567n;
  monitor.push('a\n');
  t.is(monitor.lines()[0]!.ms, 1.234567);
  t.is(monitor.lines()[0]!.at, 6_234_567n);
});

test('the async iterator yields history then live lines and ends with QEMU', async (t) => {
  const monitor = new ConsoleMonitor({ now: fakeClock() });
  monitor.push('one\n');
  const seen: string[] = [];
  const done = (async () => {
    for await (const line of monitor) seen.push(line.text);
  })();
  monitor.push('two\nthree\n');
  await new Promise((resolve) => setImmediate(resolve));
  monitor.push('four\n');
  monitor.end({ description: 'QEMU exited with status 0' });
  await done;
  t.deepEqual(seen, ['one', 'two', 'three', 'four']);
});

test('the log writer writes the run log with boot indexes and one file per boot', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'luo-vm-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const monitor = new ConsoleMonitor({ now: fakeClock(), origin: 1_000_000n, sink: new ConsoleLogWriter(dir) });
  feed(monitor, fixture('console-kexec-then-panic.log'), 512);
  monitor.end({ description: 'QEMU exited with status 0' });
  t.deepEqual(readdirSync(dir).sort(), ['console-boot0.log', 'console-boot1.log', 'console.log']);
  const run = readFileSync(join(dir, 'console.log'), 'utf8').trimEnd().split('\n');
  t.is(run.length, monitor.lines().length);
  t.regex(run[0]!, /^ +0\.\d{3} b0 \[    0\.000000\] Linux version/);
  const boot1 = readFileSync(join(dir, 'console-boot1.log'), 'utf8').trimEnd().split('\n');
  t.is(boot1.length, monitor.lines(1).length);
  t.regex(boot1[0]!, /^ +\d+\.\d{3} \[    0\.000000\] Linux version/);
  const first: ConsoleLine = monitor.lines(1)[0]!;
  t.true(run.includes(`${first.ms.toFixed(3).padStart(12)} b1 ${first.text}`));
});

test('a console joined midway (a remote host\'s): lines before the first banner are boot -1, the banner starts boot 0, logs say so', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'luo-midway-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const monitor = new ConsoleMonitor({ now: fakeClock(), origin: 0n, joinedMidway: true, sink: new ConsoleLogWriter(dir) });
  monitor.push('ogin: \nLUO-HARNESS-MARK sshd-ready port=22\n[  812.1] kexec_core: Starting new kernel\n');
  monitor.push('[    0.000000] Linux version 7.2.13 (x@y) #1\nLUO-HARNESS-MARK sshd-ready port=22\n');
  monitor.end({ description: 'released' });
  t.deepEqual(monitor.lines().map((l) => l.boot), [-1, -1, -1, 0, 0]);
  t.is(monitor.markers('sshd-ready', 0).length, 1, 'the old system\'s marker is not boot 0\'s');
  t.deepEqual(monitor.boots.map((b) => [b.boot, b.viaKexec]), [[0, true]]);
  t.deepEqual(readdirSync(dir).sort(), ['console-before.log', 'console-boot0.log', 'console.log']);
});

// The console command: its output feeds the attached monitors, its end ends
// them as an infrastructure error naming it, it is started again, and stop()
// leaves nothing running. Real processes (sh), no host is touched.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { InfraError } from '../../../harness/errors.ts';
import { ConsoleCommand } from '../../../harness/target/console-command.ts';
import { ConsoleMonitor } from '../../../harness/vm/console-monitor.ts';

/** Running, not a zombie waiting for a parent that is gone. */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

test('its lines reach the attached monitor; waitForText sees text written after it was asked', async (t) => {
  const c = new ConsoleCommand('echo "[    0.000000] Linux version 7.2.13 (x@y) #1"; echo "LUO-HARNESS-MARK sshd-ready port=22"; read -r line; echo "got $line"; sleep 30');
  t.teardown(() => c.stop());
  const monitor = new ConsoleMonitor({ joinedMidway: true });
  c.start();
  c.attach(monitor);
  const m = await monitor.waitForMarker('sshd-ready', { boot: 0, deadlineMs: 5000 });
  t.is(m.fields.port, '22');
  t.false(await c.waitForText('never printed', 200));
  t.true(c.running, 'stdin stays open: a session tool does not see end-of-file');
});

test('a console command that ends fails the waits of its monitor as InfraError, and is started again', async (t) => {
  const log: string[] = [];
  const c = new ConsoleCommand('echo "[    0.000000] Linux version 7.2.13 (x@y) #1"; echo bye >&2; exit 3', (m) => log.push(m));
  t.teardown(() => c.stop());
  const monitor = new ConsoleMonitor({ joinedMidway: true });
  c.start();
  c.attach(monitor);
  const e = await t.throwsAsync(monitor.waitForMarker('sshd-ready', { boot: 0, deadlineMs: 5000 }), { instanceOf: InfraError });
  t.regex(e!.message, /the console command `echo .*` exited \(status 3: bye\): the host's console is gone/);
  const deadline = Date.now() + 5000;
  while (!c.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.true(c.running || log.length > 0, 'started again');
  t.regex(log[0] ?? '', /starting it again/);
  const late = new ConsoleMonitor();
  await c.stop();
  c.attach(late);
  t.truthy(late.ended, 'a monitor attached to a stopped console ends at once');
});

test('stop() ends the whole process group, whatever the command started', async (t) => {
  const c = new ConsoleCommand('sleep 60 & echo "child $!"; wait');
  const monitor = new ConsoleMonitor();
  c.start();
  c.attach(monitor);
  const line = await monitor.waitForLine(/^child \d+$/, { deadlineMs: 5000 });
  const child = Number(line.text.split(' ')[1]);
  t.true(alive(child));
  await c.stop();
  await new Promise((r) => setTimeout(r, 100));
  t.false(alive(child), 'the command\'s own children die with it');
});

// The readiness contract on recorded-style console lines: the harness waits for
// guest-ready, not for SSH or the agent's own agent-ready, and says which
// resource is missing and since when.
import test from 'ava';
import { BootError, KernelFault } from '../../../harness/errors.ts';
import { missing, waitForGuestReady } from '../../../harness/liveupdate/readiness.ts';
import { ConsoleMonitor } from '../../../harness/vm/console-monitor.ts';

/** A monitor whose clock the test sets: each line arrives at `at` ms. */
function monitor() {
  let now = 0n;
  const m = new ConsoleMonitor({ now: () => now, origin: 0n });
  const line = (ms: number, text: string) => {
    now = BigInt(Math.round(ms * 1e6));
    m.push(text + '\n');
  };
  return { m, line };
}

const SHARES = [{ tag: 'kexec', mount: '/mnt/kexec' }, { tag: 'selftests', mount: '/opt/selftests' }];

test('the agent\'s own agent-ready and sshd-ready do not make the guest ready; guest-ready with every share does', async (t) => {
  const { m, line } = monitor();
  line(0, '[    0.000000] Linux version 7.3.4 (x@y) #1');
  line(900, 'LUO-HARNESS-MARK init boot=0');
  const ready = waitForGuestReady(m, { boot: 0, shares: SHARES, agent: true, deadlineMs: 5000 });
  let settled = false;
  ready.then(() => (settled = true), () => (settled = true));
  line(950, 'LUO-HARNESS-MARK agent-ready pid=40 boot=0 liveupdate=1 restored_sessions=0');
  line(960, 'LUO-HARNESS-MARK share-mounted tag=kexec path=/mnt/kexec');
  line(990, 'LUO-HARNESS-MARK sshd-ready port=22');
  await new Promise((r) => setTimeout(r, 20));
  t.false(settled, 'not ready before guest-ready');
  line(1500, 'LUO-HARNESS-MARK share-mounted tag=selftests path=/opt/selftests');
  line(1501, 'LUO-HARNESS-MARK guest-ready boot=0 sshd=22 agent=ready shares=kexec,selftests unmounted=');
  const r = await ready;
  t.is(r.ms, 1501);
  t.deepEqual(r.shares, ['kexec', 'selftests']);
});

test('a guest-ready without a needed share or agent is a BootError naming the share and the init marker', async (t) => {
  const { m, line } = monitor();
  line(0, '[    0.000000] Linux version 7.3.4 (x@y) #1');
  line(1000, 'LUO-HARNESS-MARK init boot=0');
  line(1200, 'LUO-HARNESS-MARK share-failed tag=selftests path=/opt/selftests');
  line(1300, 'LUO-HARNESS-MARK agent-failed reason=daemon-exited');
  line(1301, 'LUO-HARNESS-MARK guest-ready boot=0 sshd=22 agent=failed shares=kexec unmounted=selftests');
  const e = await t.throwsAsync(waitForGuestReady(m, { boot: 0, shares: SHARES, agent: true, deadlineMs: 1000 }), { instanceOf: BootError });
  t.regex(e!.message, /the share 'selftests' at \/opt\/selftests could not be mounted \(share-failed 0\.2 s after init started\)/);
  t.regex(e!.message, /the agent failed to start/);
  t.notRegex(e!.message, /'kexec'/);
});

test('a resource that never comes: the deadline names what is missing and since when', async (t) => {
  const { m, line } = monitor();
  line(0, '[    0.000000] Linux version 7.3.4 (x@y) #1');
  line(1000, 'LUO-HARNESS-MARK init boot=0');
  line(1010, 'LUO-HARNESS-MARK share-mounted tag=kexec path=/mnt/kexec');
  line(1100, 'LUO-HARNESS-MARK agent-ready pid=40 boot=0 liveupdate=1 restored_sessions=0');
  const e = await t.throwsAsync(waitForGuestReady(m, { boot: 0, shares: SHARES, agent: true, deadlineMs: 50 }), { instanceOf: BootError });
  t.regex(e!.message, /^Boot 0 did not say it was ready within 50 ms: the share 'selftests' at \/opt\/selftests is not mounted, missing since init started .* ago; sshd not ready/);
  // The same phrase at a given instant.
  t.deepEqual(missing(m, { boot: 0, shares: SHARES, agent: true }, 4000), [
    "the share 'selftests' at /opt/selftests is not mounted, missing since init started 3.0 s ago",
    'sshd not ready, missing since init started 3.0 s ago',
  ]);
  t.deepEqual(missing(m, { boot: 1, shares: SHARES, agent: true }, 4000), ['the kernel of boot 1 never started']);
});

test('guest-ready of an earlier boot does not count for the next one; a crash while waiting is the crash', async (t) => {
  const { m, line } = monitor();
  line(0, '[    0.000000] Linux version 7.3.4 (x@y) #1');
  line(1000, 'LUO-HARNESS-MARK guest-ready boot=0 sshd=22 agent=ready shares=kexec unmounted=');
  line(2000, 'kexec_core: Starting new kernel');
  line(2100, '[    0.000000] Linux version 7.3.4 (x@y) #1');
  const wait = waitForGuestReady(m, { boot: 1, shares: [], agent: true, deadlineMs: 5000 });
  line(2500, 'Kernel panic - not syncing: VFS: Unable to mount root fs');
  await t.throwsAsync(wait, { instanceOf: KernelFault });
});

import test from 'ava';
import { detectFault, type FaultKind, isBootBanner, isKexecStart, parseMarker } from '../../../harness/vm/console-patterns.ts';

test('markers are parsed with their fields, also when printk output interleaves', (t) => {
  t.deepEqual(parseMarker('LUO-HARNESS-MARK init boot=0'), { name: 'init', fields: { boot: '0' } });
  t.deepEqual(parseMarker('[    1.2] foo LUO-HARNESS-MARK agent-restored sessions=2 tsc=123 realtime_ns=99'), {
    name: 'agent-restored',
    fields: { sessions: '2', tsc: '123', realtime_ns: '99' },
  });
  t.deepEqual(parseMarker('LUO-HARNESS-MARK sshd-ready port=22[    3.1] virtio_net: link up'), {
    name: 'sshd-ready',
    fields: { port: '22[' },
  });
  t.deepEqual(parseMarker('LUO-HARNESS-MARK agent-ready'), { name: 'agent-ready', fields: {} });
  t.is(parseMarker('LUO-HARNESS-MARK Bad'), undefined);
  t.is(parseMarker('nothing here'), undefined);
});

test('each crash shape the kernel prints is recognised', (t) => {
  const cases: [string, FaultKind][] = [
    ['[    1.156459] Kernel panic - not syncing: sysrq triggered crash', 'panic'],
    ['[    2.000000] BUG: kernel NULL pointer dereference, address: 0000000000000000', 'bug'],
    ['[    2.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [init:1]', 'bug'],
    ['[    2.000000] Oops: 0002 [#1] SMP NOPTI', 'oops'],
    ['[    2.000000] Oops: general protection fault, probably for non-canonical address 0xdead: 0000 [#1]', 'gpf'],
    ['[    2.000000] general protection fault: 0000 [#1] SMP', 'gpf'],
    ['[    2.000000] WARNING: CPU: 1 PID: 42 at mm/memfd_luo.c:120 memfd_luo_preserve+0x5/0x10', 'warning'],
    ['[    2.000000] WARNING: possible circular locking dependency detected', 'warning'],
    ['[    2.000000] BUG: KASAN: slab-use-after-free in kho_preserve_folio+0x1/0x2', 'kasan'],
    ['[  243.000000] INFO: task kworker/0:1:23 blocked for more than 120 seconds.', 'hung-task'],
    ['[   30.000000] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:', 'rcu-stall'],
    ['[   30.000000] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:', 'rcu-stall'],
    ['[   30.000000] rcu: \t0-....: (1 GPs behind) idle=... rcu_preempt self-detected stall on CPU', 'rcu-stall'],
  ];
  for (const [line, kind] of cases) t.is(detectFault(line), kind, line);
});

test('ordinary lines, including userspace saying WARNING, are not faults', (t) => {
  for (const line of [
    '[    0.000000] Linux version 7.2.13',
    'WARNING: this is a userspace message',
    '[    0.5] pci 0000:00:10.0: BAR 0 [mem 0xfe000000-0xfe0fffff]',
    '[    1.070262] clocksource: Watchdog remote CPU 1 read timed out',
    '[    0.1] Kernel command line: panic=-1',
    '[    0.2] RCU Tasks: Setting shift to 1 and lim to 1 rcu_task_cb_adjust=1.',
  ]) {
    t.is(detectFault(line), undefined, line);
  }
});

test('boot banners and kexec starts', (t) => {
  t.true(isBootBanner('[    0.000000] Linux version 7.2.13 (root@vm) (gcc 12.2.0) #1 SMP'));
  t.true(isBootBanner('Linux version 6.12.0 (builder@host)'));
  t.false(isBootBanner('cat /proc/version says Linux version 7.2.13'));
  t.true(isKexecStart('[    1.870384] kexec_core: Starting new kernel'));
  t.false(isKexecStart('[    1.0] kexec_core: Loading kernel'));
});

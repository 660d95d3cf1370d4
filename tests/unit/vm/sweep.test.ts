import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PIDFILE_NAME, parseStartTime, processStartTime, writePidfile, type PidfileRecord } from '../../../harness/vm/pidfile.ts';
import { sweepStaleMachines, type SweepHost } from '../../../harness/vm/sweep.ts';

// /proc/<pid>/stat of a QEMU (fields after the command name, starttime is field 22).
const STAT = '4242 (qemu-system-x86) S 4200 4242 4200 0 -1 4194560 9 0 0 0 1 2 0 0 20 0 5 0 987654 1234 56 18446744073709551615';

test('start time is field 22 of /proc/<pid>/stat, even when the command name has spaces and parens', (t) => {
  t.is(parseStartTime(STAT), 987654);
  t.is(parseStartTime(STAT.replace('(qemu-system-x86)', '(a) b (c)')), 987654);
  t.is(parseStartTime('12 (x) S 1'), undefined);
  t.is(typeof processStartTime(process.pid), 'number');
  t.is(processStartTime(2 ** 22 + 1), undefined);
});

function record(fields: Partial<PidfileRecord>): PidfileRecord {
  return { schema: 1, harnessPid: 100, harnessStart: 1, qemuPid: 200, qemuStart: 2, qemuPgid: 200, ...fields };
}

function fakeHost(alive: Record<number, number>) {
  const killed: [number, string][] = [];
  const host: SweepHost = {
    startTime: (pid) => alive[pid],
    kill: (pid, signal) => void killed.push([pid, signal]),
  };
  return { host, killed };
}

test('the sweep kills the QEMU group of a dead harness, spares live runs and recycled pids', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'luo-vm-sweep-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dirs = ['dead-owner', 'live-owner', 'recycled', 'nested/deeper/run', 'garbage'].map((d) => join(root, d));
  for (const dir of dirs) mkdirSync(dir, { recursive: true });
  writePidfile(dirs[0]!, record({ harnessPid: 100, qemuPid: 200, qemuPgid: 200 }));
  writePidfile(dirs[1]!, record({ harnessPid: 101, harnessStart: 11, qemuPid: 201, qemuPgid: 201 }));
  // pid 202 now belongs to another process started later (start time 99, not 2).
  writePidfile(dirs[2]!, record({ harnessPid: 102, qemuPid: 202, qemuPgid: 202 }));
  writePidfile(dirs[3]!, record({ harnessPid: 103, qemuPid: 203, qemuPgid: 203 }));
  mkdirSync(join(dirs[4]!), { recursive: true });
  rmSync(join(dirs[4]!, PIDFILE_NAME), { force: true });
  const { host, killed } = fakeHost({ 200: 2, 101: 11, 201: 2, 202: 99, 203: 2 });
  const results = sweepStaleMachines(root, { host });
  const byDir = Object.fromEntries(results.map((r) => [r.runDir.slice(root.length + 1), r.action]));
  t.deepEqual(byDir, { 'dead-owner': 'killed', 'live-owner': 'owner-alive', recycled: 'removed', 'nested/deeper/run': 'killed' });
  t.deepEqual(killed.sort(), [[-200, 'SIGKILL'], [-203, 'SIGKILL']]);
  t.false(existsSync(join(dirs[0]!, PIDFILE_NAME)));
  t.true(existsSync(join(dirs[1]!, PIDFILE_NAME)));
  t.false(existsSync(join(dirs[2]!, PIDFILE_NAME)));
});

test('a sweep of a missing directory finds nothing', (t) => {
  t.deepEqual(sweepStaleMachines(join(tmpdir(), 'luo-vm-no-such-dir-' + process.pid)), []);
});

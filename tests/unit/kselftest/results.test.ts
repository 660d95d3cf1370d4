// Mapping what the selftests printed (recorded in a real TCG guest) to the
// harness's checks, status and reason.
import test from 'ava';
import { planKselftests, type GuestCommand } from '../../../harness/kselftest/plan.ts';
import { commandChecks, stageLabel, testReason, testStatus } from '../../../harness/kselftest/results.ts';
import { fixtureBuild } from './fixture-tree.ts';
import { recordedRuns, type RecordedRun } from './recorded-console.ts';

const CAPS = { KEXEC_FILE: true, KEXEC_HANDOVER: true, LIVEUPDATE: true, LIVEUPDATE_MEMFD: true };

async function commands(): Promise<Map<string, GuestCommand>> {
  const plan = planKselftests(await fixtureBuild('7.2'), CAPS);
  return new Map(plan.boots.flatMap((b) => b.commands).map((c) => [c.shell, c]));
}

async function batchRun(boot: number, cmd: string, nth = 0): Promise<RecordedRun> {
  const runs = (await recordedRuns('console-7.2-batch-and-chain.txt')).filter((r) => r.boot === boot && r.cmd === cmd);
  if (!runs[nth]) throw new Error(`no recorded run ${nth} of ${cmd} in boot ${boot}`);
  return runs[nth]!;
}

test('liveupdate: one check per KTAP case, all passing, no extra exit-status check', async (t) => {
  const cmd = (await commands()).get('/opt/selftests/liveupdate')!;
  const run = await batchRun(1, '/opt/selftests/liveupdate');
  const checks = commandChecks(cmd, run.rc, run.output);
  t.is(checks.length, 15);
  t.true(checks.every((c) => c.status === 'pass' && c.name.startsWith('liveupdate_device.')));
  t.is(checks[0]!.name, 'liveupdate_device.basic_open_close');
  t.is(testStatus(checks.map((c) => c.status)), 'pass');
  t.is(testReason(checks), undefined);
});

test('liveupdate: a failing exit code with all cases ok adds a failing exit-status check', async (t) => {
  const cmd = (await commands()).get('/opt/selftests/liveupdate')!;
  const run = await batchRun(1, '/opt/selftests/liveupdate');
  const checks = commandChecks(cmd, 1, run.output);
  t.is(checks.length, 16);
  t.deepEqual(checks.at(-1)!.name, 'liveupdate: exit status');
  t.is(checks.at(-1)!.status, 'fail');
  t.regex(testReason(checks)!, /^liveupdate: exit status: exit code 1/);
});

test('liveupdate: output cut off by a crash leaves the missing cases as errors', async (t) => {
  const cmd = (await commands()).get('/opt/selftests/liveupdate')!;
  const run = await batchRun(1, '/opt/selftests/liveupdate');
  const cut = run.output.split('\n').slice(0, 12).join('\n');
  const checks = commandChecks(cmd, null, cut);
  t.true(checks.some((c) => c.status === 'pass'));
  t.true(checks.some((c) => c.status === 'error' && /truncated: plan promised 15/.test(c.message ?? '')));
  // Killed (no exit code) outranks the truncation: the test failed.
  t.is(testStatus(checks.map((c) => c.status)), 'fail');
});

test('stage 1 passes without TAP: one check from the exit code', async (t) => {
  const cmd = (await commands()).get('/opt/selftests/luo_multi_session -s 1')!;
  const run = await batchRun(1, '/opt/selftests/luo_multi_session -s 1');
  t.deepEqual(commandChecks(cmd, run.rc, run.output), [{ name: 'stage 1', status: 'pass' }]);
});

test('stage 1 skipped while /dev/liveupdate is held: a skip with the test\'s reason', async (t) => {
  const cmd = (await commands()).get('/opt/selftests/luo_kexec_simple -s 1')!;
  const run = await batchRun(1, '/opt/selftests/luo_kexec_simple -s 1', 0);
  t.is(run.rc, 4);
  const checks = commandChecks(cmd, run.rc, run.output);
  t.is(checks.length, 1);
  t.is(checks[0]!.status, 'skip');
  t.regex(checks[0]!.message!, /Failed to open \/dev\/liveupdate/);
  t.is(testStatus(checks.map((c) => c.status)), 'skip');
});

test('stage 1 clash (EEXIST) fails with the Bail out text as the reason', async (t) => {
  const cmd = (await commands()).get('/opt/selftests/luo_kexec_simple -s 1')!;
  const run = await batchRun(1, '/opt/selftests/luo_kexec_simple -s 1', 1);
  t.is(run.rc, 1);
  const checks = commandChecks(cmd, run.rc, run.output);
  t.is(checks.length, 1);
  t.is(checks[0]!.status, 'fail');
  t.regex(testReason(checks)!, /^stage 1: luo_kexec_simple stage 1 failed \(exit 1\): .*File exists/);
});

test('stage 2: pass after the kexec, fail on a stage mismatch', async (t) => {
  const cmds = await commands();
  const s2 = cmds.get('/opt/selftests/luo_stress_files -s 2')!;
  const pass = await batchRun(2, '/opt/selftests/luo_stress_files -s 2');
  t.deepEqual(commandChecks(s2, pass.rc, pass.output), [{ name: 'stage 2', status: 'pass' }]);
  const simple2 = cmds.get('/opt/selftests/luo_kexec_simple -s 2')!;
  const mismatch = await batchRun(2, '/opt/selftests/luo_kexec_simple -s 2', 1);
  const checks = commandChecks(simple2, mismatch.rc, mismatch.output);
  t.is(checks[0]!.status, 'fail');
  t.regex(checks[0]!.message!, /Stage mismatch/);
});

test('a staged test: stage 1 pass, kexec pass, stage 2 skip is a skip, not a pass', (t) => {
  t.is(testStatus(['pass', 'pass', 'skip']), 'skip');
  t.is(testStatus(['pass', 'fail', 'skip']), 'fail');
  t.is(testStatus(['pass', 'error']), 'error');
  t.is(testStatus(['pass', 'pass', 'pass']), 'pass');
  t.is(testStatus([]), 'error');
  const checks = [
    { name: 'stage 1', status: 'pass' as const },
    { name: 'kexec 7.2.13 -> 7.3.4', status: 'fail' as const, message: 'The kernel crashed (panic) on boot 1' },
  ];
  t.is(testReason(checks), 'kexec 7.2.13 -> 7.3.4: The kernel crashed (panic) on boot 1');
});

test('check labels', (t) => {
  t.is(stageLabel({ test: 'liveupdate', stage: null }), 'liveupdate');
  t.is(stageLabel({ test: 'luo_kexec_simple', stage: 2 }), 'stage 2');
});

test('one reading of exit codes: the plan\'s classification agrees with the KTAP verdict', async (t) => {
  const { classifySelftestRun } = await import('../../../harness/kselftest/plan.ts');
  const { kselftestExitStatus } = await import('../../../harness/kselftest/ktap.ts');
  const cmd = { test: 'luo_kexec_simple', stage: 2 as const, argv: [], shell: '', foreground: true as const };
  for (const code of [0, 1, 2, 3, 4, 139]) t.is(classifySelftestRun(cmd, code, "TEST PASSED").status as string, kselftestExitStatus(code).status as string, `exit ${code}`);
});

// The kernel matrix: ordered pairs, downgrade labelling, the passed/total table.
import test from 'ava';
import { ConfigError } from '../../../harness/errors.ts';
import type { ScenarioResult } from '../../../harness/report/result.ts';
import { compareReleases, downgradeLabel, labelDowngrade, matrixPairs, matrixRows, pairSuffix } from '../../../harness/run/matrix.ts';

const result = (name: string, status: ScenarioResult['status'], kernel: string, to?: string, reason?: string): ScenarioResult => ({
  name,
  status,
  ...(reason ? { reason } : {}),
  durationMs: 1,
  checks: [],
  iterations: [],
  artifacts: [],
  kernel,
  ...(to ? { to } : {}),
});

test('every ordered pair, same-kernel pairs included, in order', (t) => {
  t.deepEqual(matrixPairs(['luo-7.2', 'luo-7.3']), [
    { from: 'luo-7.2', to: 'luo-7.2' },
    { from: 'luo-7.2', to: 'luo-7.3' },
    { from: 'luo-7.3', to: 'luo-7.2' },
    { from: 'luo-7.3', to: 'luo-7.3' },
  ]);
  t.is(matrixPairs(['a', 'b', 'c']).length, 9);
  t.deepEqual(matrixPairs([' a ', 'a', '']), [{ from: 'a', to: 'a' }]);
  t.throws(() => matrixPairs(['', ' ']), { instanceOf: ConfigError });
  t.is(pairSuffix({ from: 'luo-7.2', to: 'luo-7.3' }), ' [luo-7.2 -> luo-7.3]');
});

test('releases compare numerically, not as text', (t) => {
  t.is(compareReleases('7.3.4', '7.2.13'), 1);
  t.is(compareReleases('7.2.9', '7.2.13'), -1);
  t.is(compareReleases('7.10.0', '7.9.1'), 1);
  t.is(compareReleases('7.2.13', '7.2.13'), 0);
  t.is(compareReleases('7.2.13-luo', '7.2.13'), 0);
  t.is(compareReleases('7.3', '7.3.0'), 0);
});

test('downgrade label only when going to an older release', (t) => {
  t.is(downgradeLabel('7.3.4', '7.2.13'), 'downgrade 7.3.4 -> 7.2.13');
  t.is(downgradeLabel('7.2.13', '7.3.4'), undefined);
  t.is(downgradeLabel('7.2.13', '7.2.13'), undefined);
});

test('a failed downgrade stays a failure, its reason says downgrade first', (t) => {
  const failed = result('kselftest/luo_kexec_simple [luo-7.3 -> luo-7.2]', 'fail', 'luo-7.3', 'luo-7.2', 'stage 2: luo_kexec_simple stage 2 failed (exit 1)');
  const labelled = labelDowngrade(failed, '7.3.4', '7.2.13');
  t.is(labelled.status, 'fail');
  t.is(labelled.reason, 'downgrade 7.3.4 -> 7.2.13: stage 2: luo_kexec_simple stage 2 failed (exit 1)');
  t.true(labelled.reason!.startsWith('downgrade 7.3.4 -> 7.2.13:'));
  // Passing downgrades and failing upgrades keep their reason.
  const passed = result('x', 'pass', 'luo-7.3', 'luo-7.2');
  t.is(labelDowngrade(passed, '7.3.4', '7.2.13'), passed);
  t.is(labelDowngrade(failed, '7.2.13', '7.3.4').reason, failed.reason);
  t.is(labelDowngrade(result('y', 'fail', 'a', 'b'), '7.3.4', '7.2.13').reason, 'downgrade 7.3.4 -> 7.2.13: failed');
});

test('matrix rows: from in rows, to in columns, passed/total; a same-kernel result has no `to`', (t) => {
  const results = [
    result('kselftest/liveupdate [luo-7.2 -> luo-7.2]', 'pass', 'luo-7.2'),
    result('kselftest/luo_kexec_simple [luo-7.2 -> luo-7.2]', 'pass', 'luo-7.2'),
    result('kselftest/luo_kexec_simple [luo-7.2 -> luo-7.3]', 'pass', 'luo-7.2', 'luo-7.3'),
    result('kselftest/luo_multi_session [luo-7.2 -> luo-7.3]', 'pass', 'luo-7.2', 'luo-7.3'),
    result('kselftest/luo_kexec_simple [luo-7.3 -> luo-7.2]', 'fail', 'luo-7.3', 'luo-7.2'),
    result('kselftest/luo_multi_session [luo-7.3 -> luo-7.2]', 'pass', 'luo-7.3', 'luo-7.2'),
    result('kselftest/luo_stress_files [luo-7.3 -> luo-7.2]', 'skip', 'luo-7.3', 'luo-7.2'),
  ];
  t.deepEqual(matrixRows(['luo-7.2', 'luo-7.3'], results), [
    ['from \\ to', 'luo-7.2', 'luo-7.3'],
    ['luo-7.2', '2/2', '2/2'],
    ['luo-7.3', '1/2', '-'],
  ]);
});

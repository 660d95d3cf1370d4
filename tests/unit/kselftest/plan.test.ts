import test from 'ava';
import { ConfigError } from '../../../harness/errors.ts';
import type { SelftestBuild, SelftestInfo } from '../../../harness/kselftest/discovery.ts';
import { planKselftests, sessionClash, STAGE1_READY_LINE } from '../../../harness/kselftest/plan.ts';
import { fixtureBuild, type Version } from './fixture-tree.ts';

const ALL_CAPS: Record<string, boolean> = {
  KEXEC_FILE: true,
  KEXEC_HANDOVER: true,
  KEXEC_HANDOVER_ENABLE_DEFAULT: true,
  LIVEUPDATE: true,
  LIVEUPDATE_MEMFD: true,
  LIVEUPDATE_TEST: true,
};

const realBuild = (version: Version = '7.2'): Promise<SelftestBuild> => fixtureBuild(version);

const shells = (plan: ReturnType<typeof planKselftests>, boot: number) => plan.boots[boot - 1]!.commands.map((c) => c.shell);

function staged(name: string, sessions: string[] | null): SelftestInfo {
  return {
    name,
    binary: name,
    staged: true,
    stageArgs: ['-s', 'N'],
    stateSession: `${name}_state`,
    sessions,
    requires: ['LIVEUPDATE', 'LIVEUPDATE_MEMFD', 'KEXEC_FILE', 'KEXEC_HANDOVER'],
  };
}

for (const version of ['7.2', '7.3'] as const) {
  test(`${version}: everything batches into one kexec, liveupdate runs first`, async (t) => {
    const plan = planKselftests(await realBuild(version), ALL_CAPS);
    t.deepEqual(plan.skipped, []);
    t.deepEqual(plan.direct, ['liveupdate']);
    t.deepEqual(plan.alone, []);
    t.is(plan.rounds.length, 1);
    t.deepEqual(plan.rounds[0]!.tests, ['luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files']);
    t.regex(plan.rounds[0]!.reason, /releases \/dev\/liveupdate/);
    t.is(plan.boots.length, 2);
    t.deepEqual(shells(plan, 1), [
      '/opt/selftests/liveupdate',
      '/opt/selftests/luo_kexec_simple -s 1',
      '/opt/selftests/luo_multi_session -s 1',
      '/opt/selftests/luo_stress_sessions -s 1',
      '/opt/selftests/luo_stress_files -s 1',
    ]);
    t.true(plan.boots[0]!.kexecAfter);
    t.deepEqual(shells(plan, 2), [
      '/opt/selftests/luo_kexec_simple -s 2',
      '/opt/selftests/luo_multi_session -s 2',
      '/opt/selftests/luo_stress_sessions -s 2',
      '/opt/selftests/luo_stress_files -s 2',
    ]);
    t.false(plan.boots[1]!.kexecAfter);
    t.is(plan.boots[0]!.commands[1]!.successLine, STAGE1_READY_LINE);
  });
}

test('a kernel without LIVEUPDATE_TEST still runs everything, with a warning', async (t) => {
  const plan = planKselftests(await realBuild(), { ...ALL_CAPS, LIVEUPDATE_TEST: false });
  t.deepEqual(plan.skipped, []);
  t.is(plan.rounds[0]!.tests.length, 4);
  t.true(plan.warnings.some((w) => w.includes('CONFIG_LIVEUPDATE_TEST=y')));
});

test('strict config skips every test over a missing config option, naming it', async (t) => {
  const plan = planKselftests(await realBuild(), { ...ALL_CAPS, LIVEUPDATE_TEST: false }, { strictConfig: true });
  t.is(plan.skipped.length, 5);
  for (const s of plan.skipped) t.regex(s.reason, /CONFIG_LIVEUPDATE_TEST=y, which this kernel lacks/);
  t.deepEqual(plan.boots, []);
});

test('without KEXEC_HANDOVER only the kexec-free test runs, in one boot without kexec', async (t) => {
  const plan = planKselftests(await realBuild(), { ...ALL_CAPS, KEXEC_HANDOVER: false });
  t.deepEqual(
    plan.skipped.map((s) => s.test),
    ['luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files'],
  );
  t.is(plan.skipped[0]!.reason, 'needs CONFIG_KEXEC_HANDOVER, which this kernel lacks');
  t.deepEqual(plan.rounds, []);
  t.deepEqual(plan.boots, [{ boot: 1, commands: [plan.boots[0]!.commands[0]!], kexecAfter: false }]);
  t.is(plan.boots[0]!.commands[0]!.shell, '/opt/selftests/liveupdate');
});

test('without LIVEUPDATE nothing runs and every skip says why', async (t) => {
  const plan = planKselftests(await realBuild(), { ...ALL_CAPS, LIVEUPDATE: false, LIVEUPDATE_MEMFD: false });
  t.is(plan.skipped.length, 5);
  t.is(plan.skipped[0]!.reason, 'needs CONFIG_LIVEUPDATE, CONFIG_LIVEUPDATE_MEMFD, which this kernel lacks');
  t.deepEqual(plan.boots, []);
});

test('unknown --tests names are a ConfigError that names them and lists the real ones', async (t) => {
  const build = await realBuild();
  const err = t.throws(() => planKselftests(build, ALL_CAPS, { tests: ['luo_kexec_simple', 'luo_nope', 'kexec_simple'] }), {
    instanceOf: ConfigError,
  });
  t.regex(err!.message, /unknown selftests luo_nope, kexec_simple;/);
  t.regex(err!.message, /luo_multi_session/);
  t.throws(() => planKselftests(build, ALL_CAPS, { tests: [' '] }), { instanceOf: ConfigError });
});

test('--tests picks a subset and keeps the build order', async (t) => {
  const plan = planKselftests(await realBuild(), ALL_CAPS, { tests: ['luo_stress_files', 'liveupdate', 'luo_multi_session'] });
  t.deepEqual(plan.direct, ['liveupdate']);
  t.deepEqual(plan.rounds.map((r) => r.tests), [['luo_multi_session', 'luo_stress_files']]);
});

test('--no-batch chains one kexec per staged test on one machine', async (t) => {
  const plan = planKselftests(await realBuild(), ALL_CAPS, { batch: false, guestDir: '/st/' });
  t.is(plan.rounds.length, 4);
  t.is(plan.boots.length, 5);
  t.deepEqual(shells(plan, 1), ['/st/liveupdate', '/st/luo_kexec_simple -s 1']);
  // Stage 2 of the previous round comes before the next stage 1 in the same boot.
  t.deepEqual(shells(plan, 2), ['/st/luo_kexec_simple -s 2', '/st/luo_multi_session -s 1']);
  t.deepEqual(shells(plan, 5), ['/st/luo_stress_files -s 2']);
  t.deepEqual(
    plan.boots.map((b) => b.kexecAfter),
    [true, true, true, true, false],
  );
  t.is(plan.alone.length, 4);
  t.is(plan.alone[0]!.reason, 'batching is off (--no-batch)');
});

test('a test reusing another one\'s session name gets a later round, with the clash named', async (t) => {
  const build = await realBuild();
  build.tests.push(staged('copy_of_simple', ['test-session', 'copy_state']));
  const plan = planKselftests(build, ALL_CAPS);
  t.deepEqual(plan.rounds.map((r) => r.tests), [
    ['luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files'],
    ['copy_of_simple'],
  ]);
  t.is(plan.alone.length, 1);
  t.regex(plan.alone[0]!.reason, /clashes with luo_kexec_simple \(session 'test-session'\).*EEXIST/);
  t.deepEqual(shells(plan, 2), [
    '/opt/selftests/luo_kexec_simple -s 2',
    '/opt/selftests/luo_multi_session -s 2',
    '/opt/selftests/luo_stress_sessions -s 2',
    '/opt/selftests/luo_stress_files -s 2',
    '/opt/selftests/copy_of_simple -s 1',
  ]);
  t.deepEqual(shells(plan, 3), ['/opt/selftests/copy_of_simple -s 2']);
});

test('two tests that clash only with round one share round two', (t) => {
  const build: SelftestBuild = {
    tests: [staged('a', ['x', 'a_s']), staged('b', ['x', 'b_s']), staged('c', ['x', 'c_s']), staged('d', ['y', 'd_s'])],
    configRequirements: {},
  };
  const plan = planKselftests(build, ALL_CAPS);
  t.deepEqual(plan.rounds.map((r) => r.tests), [['a', 'd'], ['b'], ['c']]);
  const b2 = planKselftests({ ...build, tests: [staged('a', ['x']), staged('b', ['x', 'p']), staged('c', ['x', 'q'])] }, ALL_CAPS);
  t.deepEqual(b2.rounds.map((r) => r.tests), [['a'], ['b'], ['c']]);
  const b3 = planKselftests({ ...build, tests: [staged('a', ['x']), staged('b', ['x']), staged('c', ['y'])] }, ALL_CAPS);
  t.deepEqual(b3.rounds.map((r) => r.tests), [['a', 'c'], ['b']]);
  t.deepEqual(b3.alone.map((x) => x.test), ['b']);
});

test('a printf session pattern clashes with names it can produce', (t) => {
  const build: SelftestBuild = {
    tests: [staged('many', ['many-test-%d', 'many_state']), staged('one', ['many-test-7', 'one_state']), staged('other', ['many-tests', 'o_state'])],
    configRequirements: {},
  };
  const plan = planKselftests(build, ALL_CAPS);
  t.deepEqual(plan.rounds.map((r) => r.tests), [['many', 'other'], ['one']]);
  t.regex(plan.alone[0]!.reason, /'many-test-7' vs 'many-test-%d'/);
});

test('sessionClash: literals, patterns both ways, and pattern pairs', (t) => {
  t.deepEqual(sessionClash(['a', 'b'], ['c', 'b']), ['b', 'b']);
  t.is(sessionClash(['a'], ['b']), null);
  t.deepEqual(sessionClash(['s-%d'], ['s-12']), ['s-%d', 's-12']);
  t.deepEqual(sessionClash(['s-12'], ['s-%d']), ['s-12', 's-%d']);
  t.is(sessionClash(['s-%d'], ['s-x']), null);
  t.deepEqual(sessionClash(['s-%d-a'], ['s-%d-a']), ['s-%d-a', 's-%d-a']);
  t.is(sessionClash(['many-session-%d'], ['many-test-%d']), null);
  t.deepEqual(sessionClash(['s-%03d'], ['s-%d']), ['s-%03d', 's-%d']);
  t.is(sessionClash(['s-%03d-a'], ['s-%d-b']), null);
});

test('a test whose session names are unknown runs alone', (t) => {
  const plan = planKselftests({ tests: [staged('known', ['k']), staged('mystery', null)], configRequirements: {} }, ALL_CAPS);
  t.deepEqual(plan.rounds.map((r) => r.tests), [['known'], ['mystery']]);
  t.regex(plan.alone[0]!.reason, /could not be learned/);
});

test('options the artifact does not record are warned about, not skipped', async (t) => {
  const { LIVEUPDATE_MEMFD: _drop, ...caps } = ALL_CAPS;
  const plan = planKselftests(await realBuild(), caps);
  t.deepEqual(plan.skipped, []);
  t.true(plan.warnings.some((w) => w.includes('does not record CONFIG_LIVEUPDATE_MEMFD')));
});

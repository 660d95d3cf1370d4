// Discovery against the real liveupdate selftests of the Debian 7.2 and 7.3
// trees the kernel pipeline fetched (the unit tests use what this learns,
// recorded in tests/fixtures/kselftest/selftests-*.json).
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../harness/errors.ts';
import { buildSelftests, parseSelftestMakefile, LIVEUPDATE_SELFTEST_DIR } from '../../harness/kernel/selftest-build.ts';
import { discoverSelftests, readSelftestBuild, stageArgsFromLibrary } from '../../harness/kselftest/discovery.ts';
import { buildKernel } from '../../harness/kernel/pipeline.ts';
import { artifactPath } from '../../harness/kernel/artifact.ts';
import { sourceId } from '../../harness/kernel/sources.ts';
import { cacheLayout, repoRoot } from '../../harness/paths.ts';

const STAGED = ['luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files'];
const trees: Record<string, string> = {};
for (const version of ['7.2', '7.3']) {
  const a = await buildKernel(`luo-${version}`, { quiet: true });
  trees[version] = join(cacheLayout().sources, sourceId(a.manifest.source));
}
const fixtureTree = async (version: string) => ({ tree: trees[version]!, [Symbol.asyncDispose]: async () => {} });
const fixtureFile = (version: string, rel: string) => readFile(join(trees[version]!, LIVEUPDATE_SELFTEST_DIR, rel), 'utf8');
const sameAsRecorded = async (version: string) => JSON.parse(await readFile(join(repoRoot, 'tests', 'fixtures', 'kselftest', `selftests-${version}.json`), 'utf8'));
// The 7.3 source tree is patched in place by whichever recipe of it was built
// last: after the series kernel (tests/fixtures/kernels/pci-vfio-series.json)
// it also holds the VFIO series' tests. The liveupdate ones are what is recorded.
const discoverLiveupdate = async (tree: string) => {
  const build = await discoverSelftests(tree);
  return { ...build, tests: build.tests.filter((x) => x.suite === undefined) };
};

test('the recorded discovery fixtures are what discovery finds in the real trees, and in the sources the artifacts carry', async (t) => {
  for (const version of ['7.2', '7.3']) {
    t.deepEqual(JSON.parse(JSON.stringify(await discoverLiveupdate(trees[version]!))), await sameAsRecorded(version), version);
    const a = await buildKernel(`luo-${version}`, { quiet: true });
    t.deepEqual(JSON.parse(JSON.stringify(await readSelftestBuild(artifactPath(a, 'selftests')))), await sameAsRecorded(version), `${version} artifact`);
  }
});

for (const version of ['7.2', '7.3'] as const) {
  test(`${version} Makefile: liveupdate is a TEST_GEN_PROG, the kexec tests are EXTENDED`, async (t) => {
    const parsed = parseSelftestMakefile(await fixtureFile(version, 'Makefile'));
    t.deepEqual(parsed.progs, ['liveupdate']);
    t.deepEqual(parsed.extended, STAGED);
  });

  test(`${version}: discovery reads staging and session names from the sources`, async (t) => {
    await using fx = await fixtureTree(version);
    const build = await discoverLiveupdate(fx.tree);
    t.deepEqual(
      build.tests.map((x) => [x.name, x.staged]),
      [['liveupdate', false], ...STAGED.map((n) => [n, true])],
    );
    const simple = build.tests.find((x) => x.name === 'luo_kexec_simple')!;
    t.is(simple.stateSession, 'kexec_simple_state');
    t.deepEqual(simple.sessions, ['test-session', 'kexec_simple_state']);
    t.deepEqual(simple.stageArgs, ['-s', 'N']);
    t.deepEqual(simple.requires, ['LIVEUPDATE', 'LIVEUPDATE_MEMFD', 'KEXEC_FILE', 'KEXEC_HANDOVER']);
    t.deepEqual(build.tests.find((x) => x.name === 'luo_stress_sessions')!.sessions, ['many-test-%d', 'kexec_many_state']);
    t.deepEqual(build.tests.find((x) => x.name === 'luo_multi_session')!.sessions, [
      'multi-test-empty-1',
      'multi-test-empty-2',
      'multi-test-files-1',
      'multi-test-files-2',
      'kexec_multi_state',
    ]);
    t.deepEqual(build.tests.find((x) => x.name === 'liveupdate')!.requires, ['LIVEUPDATE', 'LIVEUPDATE_MEMFD']);
    t.is(build.configRequirements.LIVEUPDATE_TEST, 'y');
    t.is(build.configRequirements.KEXEC_HANDOVER, 'y');
  });
}

test('7.3 config adds DEVTMPFS, and its config.x86_64 the serial console; 7.2 has neither', async (t) => {
  await using fx72 = await fixtureTree('7.2');
  await using fx73 = await fixtureTree('7.3');
  const c72 = (await discoverSelftests(fx72.tree)).configRequirements;
  const c73 = (await discoverSelftests(fx73.tree)).configRequirements;
  t.false('DEVTMPFS' in c72);
  t.false('SERIAL_8250_CONSOLE' in c72);
  t.is(c73.DEVTMPFS, 'y');
  t.is(c73.SERIAL_8250_CONSOLE, 'y');
  t.false('SERIAL_AMBA_PL011' in c73);
});

test('stage flag: both 7.2 (getopt_long) and 7.3 (getopt) libraries take -s', async (t) => {
  t.deepEqual(stageArgsFromLibrary(await fixtureFile('7.2', 'luo_test_utils.c')), ['-s', 'N']);
  t.deepEqual(stageArgsFromLibrary(await fixtureFile('7.3', 'lib/lu_utils.c')), ['-s', 'N']);
  t.is(stageArgsFromLibrary('int main(int c, char **v) { return getopt(c, v, "x:"); }'), null);
});

test('building against a directory without liveupdate.h is a ConfigError before any compile', async (t) => {
  await using fx = await fixtureTree('7.2');
  const out = await mkdtemp(join(tmpdir(), 'luo-st-out-'));
  try {
    await t.throwsAsync(buildSelftests({ tree: fx.tree, headersDir: out, outDir: join(out, 'bin') }), {
      instanceOf: ConfigError,
      message: /liveupdate\.h/,
    });
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});


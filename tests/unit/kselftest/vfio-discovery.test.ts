// The VFIO live-update series' own selftests, on a tree of our own shaped
// like one that carries them (tools/testing/selftests/vfio with its library,
// the liveupdate selftests' library it includes): found, staged by the
// library their luo_test() comes from, their IOMMU modes read from the VFIO
// library, planned with their device; modes a kernel cannot serve are left
// out by name, and a stock kernel runs neither.
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../../harness/errors.ts';
import { LIVEUPDATE_SELFTEST_DIR, VFIO_SELFTEST_DIR } from '../../../harness/kernel/selftest-build.ts';
import { discoverSelftests } from '../../../harness/kselftest/discovery.ts';
import { planKselftests } from '../../../harness/kselftest/plan.ts';
import { judgeSelftestSkip } from '../../../harness/kernel/capabilities.ts';
import { containerRequires, missingOptions, modesOfTest, parseIommuModes } from '../../../harness/kselftest/vfio-modes.ts';
import { scratchDir } from '../../helpers/scratch.ts';

const LU_LIB = [
  '#include <getopt.h>',
  'static int parse_stage(int argc, char *argv[]) { int opt; while ((opt = getopt(argc, argv, "s:")) != -1) {} return 1; }',
  'int luo_test(int argc, char *argv[], const char *state, void (*s1)(int), void (*s2)(int, int))',
  '{ return parse_stage(argc, argv); }',
].join('\n');

const IOMMU_H = ['#define MODE_TYPE1 "vfio_type1_iommu"', '#define MODE_COMPAT "iommufd_compat_type1"', '#define MODE_IOMMUFD "iommufd"'].join('\n');
const IOMMU_C = [
  'const struct iommu_mode iommu_modes[] = {',
  '  { .name = MODE_TYPE1, .container_path = "/dev/vfio/vfio", .iommu_type = 1 },',
  '  { .name = MODE_COMPAT, .container_path = "/dev/iommu", .iommu_type = 1 },',
  '  { .name = MODE_IOMMUFD, },',
  '};',
].join('\n');

// A variant test over every mode, without stages.
const UAPI = [
  '#define FIXTURE_VARIANT_ADD_IOMMU_MODE(m) FIXTURE_VARIANT_ADD(t, m) { .mode = #m }',
  'FIXTURE_VARIANT_ADD_ALL_IOMMU_MODES();',
  'int main(int argc, char *argv[]) { int fd = luo_create_session(luo, "session"); return test_harness_run(argc, argv); }',
].join('\n');

// A staged test through luo_test(): names built with sprintf, one mode opened
// by name and the container modes walked in stage 2. Its comment mentions
// --stage, as the series' commit message does: text is not how it runs.
const KEXEC = [
  '/* run as: vfio_pci_liveupdate_kexec_test --stage 1 <bdf> */',
  'static char state_session[64]; static char device_session[64];',
  'static void before(int luo) { iommu_init("iommufd"); create_state_file(luo, state_session, 0, 2); luo_create_session(luo, device_session); }',
  'static void walk(void) { for (i = 0; i < nr_iommu_modes; i++) { if (!iommu_modes[i].container_path) continue; iommu_init(iommu_modes[i].name); } }',
  'int main(int argc, char *argv[]) {',
  '  sprintf(device_session, "device-%s", bdf);',
  '  sprintf(state_session, "state-%s", bdf);',
  '  return luo_test(argc, argv, state_session, before, after);',
  '}',
].join('\n');

async function put(file: string, text: string) {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
}

async function treeWithVfioSeries(luLib = LU_LIB): Promise<string> {
  const tree = scratchDir('luo-vfio-tree-');
  const lu = join(tree, LIVEUPDATE_SELFTEST_DIR);
  const vfio = join(tree, VFIO_SELFTEST_DIR);
  await put(join(lu, 'Makefile'), 'TEST_GEN_PROGS += liveupdate\ninclude lib/libliveupdate.mk\n');
  await put(join(lu, 'liveupdate.c'), 'int main(void) { return 0; }\n');
  await put(join(lu, 'config'), 'CONFIG_LIVEUPDATE=y\n');
  await put(join(lu, 'lib', 'libliveupdate.mk'), 'LIBLIVEUPDATE_C := lu_utils.c\n');
  await put(join(lu, 'lib', 'lu_utils.c'), luLib);
  await put(join(vfio, 'Makefile'), [
    'TEST_GEN_PROGS += vfio_dma_mapping_test',
    'TEST_GEN_PROGS += vfio_pci_liveupdate_uapi_test',
    'TEST_GEN_PROGS_EXTENDED += vfio_pci_liveupdate_kexec_test',
    'include ../lib.mk',
    'include lib/libvfio.mk',
    'include ../liveupdate/lib/libliveupdate.mk',
  ].join('\n'));
  await put(join(vfio, 'lib', 'libvfio.mk'), 'LIBVFIO_C := iommu.c\n');
  await put(join(vfio, 'lib', 'iommu.c'), IOMMU_C);
  await put(join(vfio, 'lib', 'include', 'libvfio', 'iommu.h'), IOMMU_H);
  await put(join(vfio, 'vfio_pci_liveupdate_uapi_test.c'), UAPI);
  await put(join(vfio, 'vfio_pci_liveupdate_kexec_test.c'), KEXEC);
  return tree;
}

const ALL = {
  LIVEUPDATE: true, LIVEUPDATE_MEMFD: true, KEXEC_FILE: true, KEXEC_HANDOVER: true, PCI_LIVEUPDATE: true, VFIO_PCI_LIVEUPDATE: true,
  IOMMUFD: true, VFIO_DEVICE_CDEV: true, VFIO_GROUP: true, VFIO_CONTAINER: true, IOMMUFD_VFIO_CONTAINER: false,
};

test('the modes come from the library: names through its defines, what each opens decides what it needs', (t) => {
  const modes = parseIommuModes(IOMMU_C, IOMMU_H);
  t.deepEqual(modes, [
    { name: 'vfio_type1_iommu', containerPath: '/dev/vfio/vfio', requires: ['VFIO_GROUP', 'VFIO_CONTAINER|IOMMUFD_VFIO_CONTAINER'] },
    { name: 'iommufd_compat_type1', containerPath: '/dev/iommu', requires: ['VFIO_GROUP', 'IOMMUFD'] },
    { name: 'iommufd', requires: ['IOMMUFD', 'VFIO_DEVICE_CDEV'] },
  ]);
  t.deepEqual(modesOfTest(UAPI, modes).map((u) => [u.mode, u.variant]), [['vfio_type1_iommu', true], ['iommufd_compat_type1', true], ['iommufd', true]]);
  t.deepEqual(modesOfTest(KEXEC, modes).map((u) => [u.mode, u.variant]), [['iommufd', false], ['vfio_type1_iommu', false], ['iommufd_compat_type1', false]], 'the walk skips modes without a container');
  t.deepEqual(containerRequires('/dev/other'), ['VFIO_GROUP']);
  t.deepEqual(missingOptions(['VFIO_GROUP', 'VFIO_CONTAINER|IOMMUFD_VFIO_CONTAINER'], { VFIO_GROUP: true, VFIO_CONTAINER: false, IOMMUFD_VFIO_CONTAINER: true }), [], 'either container will do');
  t.deepEqual(missingOptions(['VFIO_CONTAINER|IOMMUFD_VFIO_CONTAINER'], { VFIO_CONTAINER: false, IOMMUFD_VFIO_CONTAINER: false }), ['CONFIG_VFIO_CONTAINER or CONFIG_IOMMUFD_VFIO_CONTAINER']);
});

test('a tree with the VFIO series: the staged test takes its stage the way luo_test() in the included library parses it, never from its text', async (t) => {
  const build = await discoverSelftests(await treeWithVfioSeries());
  const vfio = build.tests.filter((x) => x.suite === 'vfio');
  t.deepEqual(vfio.map((x) => x.name), ['vfio_pci_liveupdate_uapi_test', 'vfio_pci_liveupdate_kexec_test'], 'the series\' tests, not the other VFIO tests');
  const [uapi, kexec] = vfio;
  t.false(uapi!.staged);
  t.deepEqual(uapi!.sessions, ['session']);
  t.true(kexec!.staged);
  t.deepEqual(kexec!.stageArgs, ['-s', 'N'], 'the library parses "s:"; the comment\'s --stage is not an option');
  t.is(kexec!.stateSession, 'state-%s');
  t.deepEqual(kexec!.sessions, ['device-%s', 'state-%s'], 'sprintf\'d names are learnt like snprintf\'d ones');
  t.is(kexec!.device, 'vfio-pci');
  t.true(kexec!.requires.includes('VFIO_PCI_LIVEUPDATE') && kexec!.requires.includes('PCI_LIVEUPDATE'));
  t.deepEqual(build.tests.filter((x) => !x.suite).map((x) => x.name), ['liveupdate']);
});

test('a staged VFIO test whose luo_test() library parses no stage option, or that no included library defines, is a ConfigError naming it', async (t) => {
  const noStage = await treeWithVfioSeries(LU_LIB.replace('"s:"', '"x:"'));
  const e1 = await t.throwsAsync(discoverSelftests(noStage), { instanceOf: ConfigError });
  t.regex(e1!.message, /vfio_pci_liveupdate_kexec_test calls luo_test\(\), whose library .*lib\/lu_utils\.c parses no "s:" option/);
  const noLib = await treeWithVfioSeries();
  await writeFile(join(noLib, VFIO_SELFTEST_DIR, 'Makefile'), 'TEST_GEN_PROGS_EXTENDED += vfio_pci_liveupdate_kexec_test\ninclude lib/libvfio.mk\n');
  const e2 = await t.throwsAsync(discoverSelftests(noLib), { instanceOf: ConfigError });
  t.regex(e2!.message, /calls luo_test\(\), but no library the .*Makefile includes defines it/);
});

test('the plan: the uapi test runs directly, the kexec test staged with -s, each with its device', async (t) => {
  const build = await discoverSelftests(await treeWithVfioSeries());
  const plan = planKselftests(build, ALL);
  t.deepEqual(plan.skipped, []);
  t.deepEqual(plan.direct, ['liveupdate', 'vfio_pci_liveupdate_uapi_test']);
  t.deepEqual(plan.rounds.map((r) => r.tests), [['vfio_pci_liveupdate_kexec_test']]);
  const cmds = plan.boots.flatMap((b) => b.commands);
  t.deepEqual(cmds.filter((c) => c.test === 'vfio_pci_liveupdate_kexec_test').map((c) => [c.stage, c.shell, c.device]), [
    [1, '/opt/selftests/vfio_pci_liveupdate_kexec_test -s 1', 'vfio-pci'],
    [2, '/opt/selftests/vfio_pci_liveupdate_kexec_test -s 2', 'vfio-pci'],
  ]);
  const uapi = cmds.find((c) => c.test === 'vfio_pci_liveupdate_uapi_test')!;
  t.is(uapi.shell, '/opt/selftests/vfio_pci_liveupdate_uapi_test');
  t.is(uapi.device, 'vfio-pci');
  t.is(uapi.leftOut, undefined);
  t.is(cmds.find((c) => c.test === 'liveupdate')!.device, undefined);
});

test('a kernel without VFIO\'s container: the uapi test leaves those modes out by name; the kexec test, which opens them itself, is unsupported', async (t) => {
  const build = await discoverSelftests(await treeWithVfioSeries());
  const plan = planKselftests(build, { ...ALL, VFIO_CONTAINER: false });
  const uapi = plan.boots.flatMap((b) => b.commands).find((c) => c.test === 'vfio_pci_liveupdate_uapi_test')!;
  t.is(uapi.shell, '/opt/selftests/vfio_pci_liveupdate_uapi_test -V vfio_type1_iommu');
  t.deepEqual(uapi.leftOut, [{ mode: 'vfio_type1_iommu', missing: ['CONFIG_VFIO_CONTAINER or CONFIG_IOMMUFD_VFIO_CONTAINER'] }]);
  t.deepEqual(plan.skipped, [{
    test: 'vfio_pci_liveupdate_kexec_test',
    status: 'unsupported',
    reason: 'its vfio_type1_iommu IOMMU mode needs CONFIG_VFIO_CONTAINER or CONFIG_IOMMUFD_VFIO_CONTAINER, which this kernel lacks (the test opens that mode itself, so it cannot be left out)',
  }]);

  const noGroup = planKselftests(build, { ...ALL, VFIO_GROUP: false, VFIO_CONTAINER: false });
  const cmd = noGroup.boots.flatMap((b) => b.commands).find((c) => c.test === 'vfio_pci_liveupdate_uapi_test')!;
  t.is(cmd.shell, '/opt/selftests/vfio_pci_liveupdate_uapi_test -V vfio_type1_iommu -V iommufd_compat_type1');
  t.deepEqual(cmd.leftOut!.map((l) => l.missing), [['CONFIG_VFIO_GROUP', 'CONFIG_VFIO_CONTAINER or CONFIG_IOMMUFD_VFIO_CONTAINER'], ['CONFIG_VFIO_GROUP']]);

  const noCdev = planKselftests(build, { ...ALL, VFIO_GROUP: false, VFIO_DEVICE_CDEV: false });
  t.is(
    noCdev.skipped.find((s) => s.test === 'vfio_pci_liveupdate_uapi_test')!.reason,
    'every IOMMU mode it runs needs what this kernel lacks: vfio_type1_iommu (CONFIG_VFIO_GROUP); iommufd_compat_type1 (CONFIG_VFIO_GROUP); iommufd (CONFIG_VFIO_DEVICE_CDEV)',
  );
});

test('a stock kernel: both series tests are unsupported, naming the series\' options', async (t) => {
  const build = await discoverSelftests(await treeWithVfioSeries());
  const stock = planKselftests(build, { ...ALL, PCI_LIVEUPDATE: false, VFIO_PCI_LIVEUPDATE: false });
  t.deepEqual(stock.skipped.map((s) => [s.test, s.status]), [['vfio_pci_liveupdate_uapi_test', 'unsupported'], ['vfio_pci_liveupdate_kexec_test', 'unsupported']]);
  t.regex(stock.skipped[0]!.reason, /needs CONFIG_PCI_LIVEUPDATE, CONFIG_VFIO_PCI_LIVEUPDATE, which this kernel lacks/);
});

test('a stock tree has no VFIO live-update tests: discovery is as before', async (t) => {
  const tree = await treeWithVfioSeries();
  await writeFile(join(tree, VFIO_SELFTEST_DIR, 'Makefile'), 'TEST_GEN_PROGS += vfio_pci_device_test\n');
  t.deepEqual((await discoverSelftests(tree)).tests.map((x) => x.name), ['liveupdate']);
});

test('a skip for a missing /dev/liveupdate on a kernel configured with LIVEUPDATE is a failure; other skips stand', (t) => {
  const caps = { LIVEUPDATE: true };
  t.deepEqual(judgeSelftestSkip(caps, 'Failed to open /dev/liveupdate. Is the luo module loaded?', false)?.status, 'fail');
  t.regex(judgeSelftestSkip(caps, '/dev/liveupdate does not exist.', false)!.message, /config has CONFIG_LIVEUPDATE=y and it booted with liveupdate=on, but it exposes no \/dev\/liveupdate/);
  t.is(judgeSelftestSkip(caps, 'Failed to open /dev/liveupdate.', true)?.status, 'error', 'there but held by someone: the host side');
  t.is(judgeSelftestSkip({ LIVEUPDATE: false }, '/dev/liveupdate does not exist.', false), undefined, 'a kernel without LUO: the skip stands');
  t.is(judgeSelftestSkip(caps, 'needs hugepages', false), undefined);
});

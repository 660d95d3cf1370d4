// The VFIO live-update series' own selftests, on a tree of our own that
// carries them (tools/testing/selftests/vfio/vfio_pci_liveupdate_*): found,
// planned with their device, skipped on a stock kernel.
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LIVEUPDATE_SELFTEST_DIR, VFIO_SELFTEST_DIR } from '../../../harness/kernel/selftest-build.ts';
import { discoverSelftests } from '../../../harness/kselftest/discovery.ts';
import { planKselftests } from '../../../harness/kselftest/plan.ts';
import { judgeSelftestSkip } from '../../../harness/kernel/capabilities.ts';
import { scratchDir } from '../../helpers/scratch.ts';

async function treeWithVfioSeries(): Promise<string> {
  const tree = scratchDir('luo-vfio-tree-');
  const lu = join(tree, LIVEUPDATE_SELFTEST_DIR);
  const vfio = join(tree, VFIO_SELFTEST_DIR);
  await mkdir(lu, { recursive: true });
  await mkdir(vfio, { recursive: true });
  await writeFile(join(lu, 'Makefile'), 'TEST_GEN_PROGS += liveupdate\n');
  await writeFile(join(lu, 'liveupdate.c'), 'int main(void) { return 0; }\n');
  await writeFile(join(lu, 'config'), 'CONFIG_LIVEUPDATE=y\n');
  // What a tree with the series holds: the existing VFIO tests plus two live-update ones.
  await writeFile(join(vfio, 'Makefile'), [
    'CFLAGS = $(KHDR_INCLUDES)',
    'TEST_GEN_PROGS += vfio_dma_mapping_test',
    'TEST_GEN_PROGS += vfio_pci_device_test',
    'TEST_GEN_PROGS += vfio_pci_liveupdate_uapi_test',
    'TEST_GEN_PROGS += vfio_pci_liveupdate_kexec_test',
    'include ../lib.mk',
  ].join('\n'));
  await writeFile(join(vfio, 'vfio_pci_liveupdate_uapi_test.c'), 'int main(int argc, char **argv) { const char *bdf = vfio_selftests_get_bdf(&argc, argv); return 0; }\n');
  await writeFile(join(vfio, 'vfio_pci_liveupdate_kexec_test.c'), [
    'static struct option opts[] = { { "stage", required_argument, 0, \'s\' }, { 0 } };',
    'int main(int argc, char **argv) { int c = getopt_long(argc, argv, "s:", opts, NULL); return 0; }',
  ].join('\n'));
  return tree;
}

test('a tree with the VFIO series: its live-update tests are found, staged where they kexec, with their device', async (t) => {
  const build = await discoverSelftests(await treeWithVfioSeries());
  const vfio = build.tests.filter((x) => x.suite === 'vfio');
  t.deepEqual(vfio.map((x) => x.name), ['vfio_pci_liveupdate_uapi_test', 'vfio_pci_liveupdate_kexec_test'], 'the series\' tests, not the other VFIO tests');
  const [uapi, kexec] = vfio;
  t.false(uapi!.staged);
  t.true(kexec!.staged);
  t.deepEqual(kexec!.stageArgs, ['--stage', 'N']);
  t.is(kexec!.device, 'vfio-pci');
  t.true(kexec!.requires.includes('VFIO_PCI_LIVEUPDATE') && kexec!.requires.includes('PCI_LIVEUPDATE'));
  t.deepEqual(build.tests.filter((x) => !x.suite).map((x) => x.name), ['liveupdate']);
});

test('the plan runs the uapi test directly and stages the kexec test alone, each with its device; a stock kernel skips both', async (t) => {
  const build = await discoverSelftests(await treeWithVfioSeries());
  const series = { LIVEUPDATE: true, LIVEUPDATE_MEMFD: true, KEXEC_FILE: true, KEXEC_HANDOVER: true, VFIO_DEVICE_CDEV: true, PCI_LIVEUPDATE: true, VFIO_PCI_LIVEUPDATE: true };
  const plan = planKselftests(build, series);
  t.deepEqual(plan.direct, ['liveupdate', 'vfio_pci_liveupdate_uapi_test']);
  t.deepEqual(plan.rounds.map((r) => r.tests), [['vfio_pci_liveupdate_kexec_test']]);
  const cmds = plan.boots.flatMap((b) => b.commands);
  const kexec = cmds.filter((c) => c.test === 'vfio_pci_liveupdate_kexec_test');
  t.deepEqual(kexec.map((c) => [c.stage, c.shell, c.device]), [
    [1, '/opt/selftests/vfio_pci_liveupdate_kexec_test --stage 1', 'vfio-pci'],
    [2, '/opt/selftests/vfio_pci_liveupdate_kexec_test --stage 2', 'vfio-pci'],
  ]);
  t.is(cmds.find((c) => c.test === 'vfio_pci_liveupdate_uapi_test')!.device, 'vfio-pci');
  t.is(cmds.find((c) => c.test === 'liveupdate')!.device, undefined);

  const stock = planKselftests(build, { ...series, PCI_LIVEUPDATE: false, VFIO_PCI_LIVEUPDATE: false });
  t.deepEqual(stock.skipped.map((s) => s.test), ['vfio_pci_liveupdate_uapi_test', 'vfio_pci_liveupdate_kexec_test']);
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

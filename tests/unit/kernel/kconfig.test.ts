import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { capabilitiesOf, describeDropped, mergeRequests, parseKconfig, renderFragment, unmetRequests } from '../../../harness/kernel/kconfig.ts';
import { repoRoot } from '../../../harness/paths.ts';
import { definedSymbols } from '../../../harness/kernel/build.ts';
import { scratchDir } from '../../helpers/scratch.ts';

const sample = readFileSync(join(repoRoot, 'tests', 'fixtures', 'kernel', 'luo-7.2.config'), 'utf8');

test('parses settings, "is not set" lines and ignores comments', (t) => {
  const { values, errors } = parseKconfig('# a comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="str"\nCONFIG_D=0x10\n\n');
  t.deepEqual(errors, []);
  t.deepEqual([...values], [['A', 'y'], ['B', 'n'], ['C', '"str"'], ['D', '0x10']]);
});

test('lines that are not settings are errors naming file and line', (t) => {
  const { errors } = parseKconfig('CONFIG_A=y\nLIVEUPDATE=y\n', 'mine.config');
  t.deepEqual(errors, ['mine.config:2: "LIVEUPDATE=y" is not a Kconfig setting (CONFIG_X=y or "# CONFIG_X is not set")']);
});

test('later fragments override earlier ones', (t) => {
  const a = parseKconfig('CONFIG_LIVEUPDATE=y\nCONFIG_X=y\n', 'a').requests;
  const b = parseKconfig('# CONFIG_LIVEUPDATE is not set\n', 'b').requests;
  const merged = mergeRequests([a, b]);
  t.deepEqual(merged.map((r) => [r.option, r.value, r.origin]), [['LIVEUPDATE', 'n', 'b:1'], ['X', 'y', 'a:2']]);
  t.is(renderFragment(merged), '# CONFIG_LIVEUPDATE is not set\nCONFIG_X=y\n');
});

test('the shipped fragments are all honoured by a real luo-7.2 .config', (t) => {
  const final = parseKconfig(sample).values;
  const requests = mergeRequests(['guest-minimal', 'liveupdate', 'iommu-vfio'].map((f) =>
    parseKconfig(readFileSync(join(repoRoot, 'kernels', 'config', `${f}.config`), 'utf8'), `${f}.config`).requests));
  t.deepEqual(unmetRequests(requests, final), []);
});

test('options dropped by olddefconfig are listed with where they were asked for', (t) => {
  const final = parseKconfig(sample).values;
  const requests = parseKconfig('CONFIG_LIVEUPDATE=y\nCONFIG_IOMMUFD_LIVEUPDATE=y\nCONFIG_SERIAL_8250=m\n', 'series.config').requests;
  const dropped = unmetRequests(requests, final);
  t.deepEqual(dropped.map((d) => [d.option, d.actual]), [['IOMMUFD_LIVEUPDATE', 'n'], ['SERIAL_8250', 'y']]);
  t.regex(describeDropped(dropped), /CONFIG_IOMMUFD_LIVEUPDATE: requested y \(series.config:2\), got n \(unmet dependency or unknown option\)/);
});

test('capabilities are read from the config', (t) => {
  const caps = capabilitiesOf(parseKconfig(sample).values);
  t.true(caps.LIVEUPDATE);
  t.true(caps.LIVEUPDATE_MEMFD);
  t.true(caps.KEXEC_HANDOVER);
  t.true(caps.VFIO_DEVICE_CDEV);
  t.false(caps.IOMMUFD_LIVEUPDATE);
  t.false(capabilitiesOf(parseKconfig('# CONFIG_LIVEUPDATE is not set\n').values).LIVEUPDATE);
});

test('definedSymbols: a symbol counts where a Kconfig file of the tree says `config X` or `menuconfig X`, nowhere else', async (t) => {
  const tree = scratchDir('kconfig-tree-');
  mkdirSync(join(tree, 'drivers', 'pci'), { recursive: true });
  writeFileSync(join(tree, 'Kconfig'), 'source "drivers/pci/Kconfig"\nconfig LIVEUPDATE\n\tbool "x"\n');
  writeFileSync(join(tree, 'drivers', 'pci', 'Kconfig'), 'menuconfig PCI\n\tbool "PCI"\n\nconfig PCI_LIVEUPDATE\n\tdepends on PCI && LIVEUPDATE\n');
  writeFileSync(join(tree, 'drivers', 'pci', 'notes.txt'), 'config VFIO_PCI_LIVEUPDATE\n');
  const found = await definedSymbols(tree, ['PCI', 'PCI_LIVEUPDATE', 'VFIO_PCI_LIVEUPDATE', 'LIVEUPDATE']);
  t.deepEqual([...found].sort(), ['LIVEUPDATE', 'PCI', 'PCI_LIVEUPDATE']);
  t.deepEqual([...(await definedSymbols(tree, []))], []);
  t.deepEqual([...(await definedSymbols(tree, ['PCI_LIVE']))], [], 'a prefix of a symbol is not the symbol');
});

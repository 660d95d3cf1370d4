// The posted PCI (v7) and VFIO (v5) live-update series, for real: the
// fixture kernel luo-7.3-pci-vfio (tests/fixtures/kernels/pci-vfio-series.json)
// built from ../shared/series, QEMU's edu device behind the vIOMMU, bound to
// vfio-pci and preserved through the harness; the series' own selftests
// under `luo-harness kselftest`; and the negative control of the restore
// order. The series are input the project does not carry: where
// ../shared/series is absent, every test here is skipped, saying so.
import test from 'ava';
import { execa } from 'execa';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';
import type { RunResult, ScenarioResult } from '../../harness/report/result.ts';
import { SERIES_DIR, SERIES_FIXTURE, seriesFixtureMissing } from '../helpers/series.ts';

const cli = join(repoRoot, 'bin', 'luo-harness.js');
const work = mkdtempSync(join(tmpdir(), 'e2e-series-'));
const harness = (args: string[]) => execa('node', [cli, ...args], { reject: false, all: true, env: { CI: 'true' } });
const readResults = (dir: string): RunResult => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
const detail = (r: ScenarioResult) => `${r.status}: ${r.reason ?? ''}\n${r.checks.map((c) => `  ${c.status} ${c.name}${c.message ? ` (${c.message})` : ''}`).join('\n')}`;

const missing = seriesFixtureMissing();
const serial = missing ? (title: string) => test.skip(`${title} — SKIPPED: ${missing}`, () => {}) : undefined;

const DEVICE_CHECKS = [
  /edu re-enumerates at the same address with the same vendor:device and is on vfio-pci/,
  /the agent bound the preserved device to vfio-pci before retrieving its fd, and the kernel guarded its cdev until then/,
  /after kexec, over the restored memfd: iommufd, IOAS, guest memory mapped at IOVA .*, edu attached through the retrieved fd/,
  /after kexec, over the restored memfd: the retrieved fd answers VFIO_DEVICE_GET_INFO/,
  /after kexec, over the restored memfd: edu DMA round trip through the vIOMMU/,
];

const T1 = 'iommufd-vfio on the series kernel: memfd and vfio-device pass with every device check, iommufd unsupported with ENOENT; summary, JUnit and report show the three verdicts';
if (serial) serial(T1);
else test.serial(T1, async (t) => {
  const out = join(work, 'iommufd-vfio');
  const junit = join(work, 'iommufd-vfio.xml');
  const r = await harness(['run', '--kernel', SERIES_FIXTURE, '--scenarios', 'iommufd-vfio', '--out', out, '--junit', junit]);
  const result = readResults(out).scenarios[0]!;
  t.is(result.status, 'unsupported', detail(result));
  t.is(r.exitCode, 4, 'nothing passed as a whole: the iommufd is unsupported');
  t.deepEqual(Object.fromEntries((result.capabilities ?? []).map((c) => [c.name, c.status])), { memfd: 'pass', iommufd: 'unsupported', 'vfio-device': 'pass' }, detail(result));
  t.regex(result.capabilities!.find((c) => c.name === 'iommufd')!.reason!, /PRESERVE_FD refused the iommufd with ENOENT/);
  for (const re of DEVICE_CHECKS) {
    const check = result.checks.find((c) => re.test(c.name));
    t.is(check?.status, 'pass', `${re}: ${check?.message ?? 'no such check'}`);
    t.is(check?.capability, 'vfio-device');
  }
  t.is(result.checks.find((c) => c.name === 'preserve the vfio fd')?.status, 'pass');
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  t.regex(summary, /memfd ✅ pass, iommufd 🚫 unsupported, vfio-device ✅ pass/);
  const xml = readFileSync(junit, 'utf8');
  for (const [cap, status] of [['memfd', 'pass'], ['iommufd', 'unsupported'], ['vfio-device', 'pass']]) t.regex(xml, new RegExp(`capability\\.${cap}" value="${status}"`));
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.regex(html, /vfio-device <span class="badge"[^>]*>pass<\/span>/);
  t.regex(html, /iommufd <span class="badge"[^>]*>unsupported<\/span>/);
  t.regex(r.all ?? '', /vfio-device\s+PASS/, 'the CLI summary lists the capability verdicts');
  // `kernel list` tells the series kernel from a stock one by the handlers their configs have.
  const list = (await harness(['kernel', 'list'])).stdout.split('\n');
  t.regex(list.find((l) => l.startsWith('luo-7.3-pci-vfio '))!, /\byes\s+memfd, VFIO device\s/);
  t.regex(list.find((l) => l.startsWith('luo-7.3 '))!, /\byes\s+memfd\s+\d{4}-/);
});

const T2 = 'negative control: on the series kernel a device fd asked for before its device is bound fails with the kernel\'s ENODEV, named; on a stock kernel the switch changes nothing';
if (serial) serial(T2);
else test.serial(T2, async (t) => {
  const out = join(work, 'bind-late');
  const r = await harness(['run', '--kernel', SERIES_FIXTURE, '--scenarios', 'iommufd-vfio', '--cmdline', 'luo_agent.device_bind=late', '--out', out]);
  const result = readResults(out).scenarios[0]!;
  t.is(result.status, 'fail', detail(result));
  t.is(r.exitCode, 1);
  t.regex(result.reason ?? '', /LIVEUPDATE_SESSION_RETRIEVE_FD failed with ENODEV \(19\).*asked before 0000:00:[0-9a-f]{2}\.0 was bound to vfio-pci: luo_agent\.device_bind=late/);
  t.is(result.capabilities!.find((c) => c.name === 'vfio-device')!.status, 'fail');
  t.is(result.capabilities!.find((c) => c.name === 'memfd')!.status, 'pass', 'only the device is at fault');

  const stockOut = join(work, 'bind-late-stock');
  await harness(['run', '--kernel', 'luo-7.3', '--scenarios', 'iommufd-vfio', '--cmdline', 'luo_agent.device_bind=late', '--out', stockOut]);
  const stock = readResults(stockOut).scenarios[0]!;
  t.is(stock.status, 'unsupported', detail(stock));
  t.deepEqual(Object.fromEntries((stock.capabilities ?? []).map((c) => [c.name, c.status])), { memfd: 'pass', iommufd: 'unsupported', 'vfio-device': 'unsupported' }, detail(stock));
});

const T3 = 'the series\' own selftests pass under `luo-harness kselftest`: the kexec test staged with -s around the harness\'s kexec, the uapi test in all five IOMMU modes';
if (serial) serial(T3);
else test.serial(T3, async (t) => {
  const out = join(work, 'kselftest');
  const r = await harness(['kselftest', '--kernel', SERIES_FIXTURE, '--out', out]);
  const results = readResults(out).scenarios;
  t.is(r.exitCode, 0, results.map(detail).join('\n'));
  t.deepEqual(results.map((x) => [x.name, x.status]).sort(), [
    'liveupdate', 'luo_kexec_simple', 'luo_multi_session', 'luo_stress_files', 'luo_stress_sessions', 'vfio_pci_liveupdate_kexec_test', 'vfio_pci_liveupdate_uapi_test',
  ].map((n) => [`kselftest/${n}`, 'pass']));
  const kexec = results.find((x) => x.name === 'kselftest/vfio_pci_liveupdate_kexec_test')!;
  t.deepEqual(kexec.checks.map((c) => [c.name, c.status]), [['stage 1', 'pass'], ['kexec 7.3.4 -> 7.3.4', 'pass'], ['stage 2', 'pass']]);
  const stage2 = readFileSync(join(out, kexec.artifacts.find((a) => a.name === 'stage 2 output')!.path), 'utf8');
  t.regex(stage2, /Retrieving the device FD from LUO/);
  t.regex(stage2, /Finishing the session\n/);
  const uapi = results.find((x) => x.name === 'kselftest/vfio_pci_liveupdate_uapi_test')!;
  for (const mode of ['vfio_type1_iommu', 'vfio_type1v2_iommu', 'iommufd_compat_type1', 'iommufd_compat_type1v2', 'iommufd']) {
    t.is(uapi.checks.find((c) => c.name === `vfio_pci_liveupdate_uapi_test.${mode}.preserve_device`)?.status, 'pass', mode);
  }
  t.deepEqual(uapi.checks.filter((c) => c.status === 'skip').map((c) => c.message), ['iommufd-mode does not have group files', 'iommufd-mode does not have container files'], 'the test\'s own SKIP()s, shown per case');
});

const T4 = 'bisect across the stacked series (PCI v7 then VFIO v5, 32 patches) names the patch from which vfio-device passes, each prefix built in luo-7.3\'s build directory';
if (serial) serial(T4);
else test.serial(T4, async (t) => {
  const out = join(work, 'bisect');
  const r = await harness([
    'bisect', '--kernel', 'luo-7.3', '--series', join(SERIES_DIR, 'pci-liveupdate-v7.mbox'), '--series', join(SERIES_DIR, 'vfio-liveupdate-v5.mbox'),
    '--patch-fuzz', '2', '--scenario', 'iommufd-vfio', '--capability', 'vfio-device', '--out', out, '--json',
  ]);
  t.is(r.exitCode, 0, r.all);
  type Outcome = { patches: { index: number; subject: string; from?: string }[]; tried: { count: number; status: string; reason?: string; kernelKey?: string }[]; change: { from: string; to: string; patch: { index: number; subject: string; from: string } } };
  const o = JSON.parse(r.stdout) as Outcome;
  t.is(o.patches.length, 32, 'the 12 PCI patches, then the 20 VFIO ones');
  t.is(o.patches[12]!.from, 'vfio-liveupdate-v5.mbox [1/20]');
  t.is(o.change.from, 'unsupported');
  t.is(o.change.to, 'pass');
  // The edu device's checks pass from the patch that makes the cdev wait for RETRIEVE_FD (EBUSY) on.
  t.is(o.change.patch.index, 23, JSON.stringify(o.tried));
  t.is(o.change.patch.from, 'vfio-liveupdate-v5.mbox [11/20]');
  t.regex(o.change.patch.subject, /Enforce preserved devices are retrieved via LIVEUPDATE_SESSION_RETRIEVE_FD/);
  const before = o.tried.find((p) => p.count === 22);
  t.is(before?.status, 'fail', 'the prefix just before does not pass');
  t.regex(before?.reason ?? '', /guarded its cdev until then.*expected EBUSY/s, 'and says which device check it missed');
  t.deepEqual(o.tried.slice(0, 2).map((p) => [p.count, p.status]), [[0, 'unsupported'], [32, 'pass']], 'the base and the whole stack first');
  t.true(o.tried.length <= 2 + Math.ceil(Math.log2(32)), `${o.tried.length} prefixes tried`);
  // luo-7.3's whenDefined fragment: its options asked for where the prefix's tree defines them, named where not.
  const notDefined = async (count: number) => {
    const key = o.tried.find((p) => p.count === count)!.kernelKey!;
    return (JSON.parse((await harness(['kernel', 'show', key])).stdout) as { notDefined?: string[] }).notDefined;
  };
  t.deepEqual(await notDefined(0), ['PCI_LIVEUPDATE', 'VFIO_PCI_LIVEUPDATE']);
  t.deepEqual(await notDefined(16), ['VFIO_PCI_LIVEUPDATE'], 'the PCI series defines its option; VFIO 5/20 brings the other');
  t.is(await notDefined(32), undefined);
  t.log(`bisect tried ${o.tried.map((p) => `${p.count}:${p.status}`).join(' ')}`);
});

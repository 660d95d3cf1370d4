// Every shipped scenario for real: kernels from the pipeline, QEMU, SSH and
// the in-guest agent. Each asserts the status the scenario must reach on
// the stock kernels and what its result must carry.
import test from 'ava';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenario } from '../../harness/scenario/scenario.ts';
import { resolveKernelRef } from '../../harness/kernel/refs.ts';
import { SCENARIOS } from '../../harness/scenario/scenarios/index.ts';
import { BLACKOUT_PHASES, type ScenarioResult } from '../../harness/report/result.ts';

const results = mkdtempSync(join(tmpdir(), 'e2e-scenarios-'));
const run = async (name: string, options: { kernel?: string; to?: string; params?: Record<string, unknown>; iterations?: number; cmdline?: string[] } = {}) =>
  runScenario(SCENARIOS[name]!, {
    kernel: await resolveKernelRef(options.kernel ?? 'luo-7.2'),
    ...(options.cmdline ? { cmdline: options.cmdline } : {}),
    ...(options.to ? { to: await resolveKernelRef(options.to) } : {}),
    ...(options.params ? { params: options.params } : {}),
    ...(options.iterations ? { iterations: options.iterations } : {}),
    dir: join(results, name),
    resultsDir: results,
  });

function assertTimelines(t: import('ava').ExecutionContext, r: ScenarioResult, count: number) {
  t.is(r.iterations.length, count, 'one iteration per live update');
  for (const it of r.iterations) {
    const b = it.blackout!;
    t.truthy(b, 'every live update has a blackout timeline');
    t.deepEqual(b.phases.map((p) => p.name), [...BLACKOUT_PHASES]);
    for (const p of b.phases) t.true(p.ms >= 0, `${p.name} is not negative`);
    t.true(Math.abs(b.phases.reduce((a, p) => a + p.ms, 0) - b.totalMs) < 1, 'phases add up to the total');
    t.true(b.totalMs > 100 && b.totalMs < 120_000, `a plausible blackout: ${b.totalMs} ms`);
    t.truthy(b.guestTscMs, 'the guest TSC measured the same span');
  }
}

const detail = (r: ScenarioResult) => `${r.status}: ${r.reason ?? ''}\n${r.checks.map((c) => `  ${c.status} ${c.name}${c.message ? ` (${c.message})` : ''}`).join('\n')}`;

test.serial('memfd-basic: a 64 MiB memfd survives a kexec, every page verified', async (t) => {
  const r = await run('memfd-basic');
  t.is(r.status, 'pass', detail(r));
  t.true(r.checks.some((c) => /memfd\(s\) intact after the kexec/.test(c.name) && c.status === 'pass'));
  assertTimelines(t, r, 1);
  t.true(r.artifacts.some((a) => /boot 1/.test(a.name)), 'console log of the new kernel');
  const gap = r.iterations[0]!.metrics!.workloadGapMs!;
  const tsc = r.iterations[0]!.blackout!.guestTscMs!;
  t.true(gap > 100 && Math.abs(gap - tsc) < 0.1 * tsc + 50, `the heartbeat's gap (${gap} ms) matches the freeze -> restored span (${tsc} ms)`);
  for (const a of r.artifacts) t.true(existsSync(join(results, a.path)), a.path);
});

test.serial('memfd-late-writes: written, fallocated and hole pages written again after PRESERVE_FD all hold their last write after the kexec', async (t) => {
  const r = await run('memfd-late-writes');
  t.is(r.status, 'pass', detail(r));
  t.true(r.checks.some((c) => /write half of every quarter after PRESERVE_FD/.test(c.name) && c.status === 'pass'));
  for (const call of ['fallocate(0)', 'fallocate(FALLOC_FL_PUNCH_HOLE)']) t.is(r.checks.find((c) => c.name === `${call} on the preserved memfd is refused with EPERM`)?.status, 'pass', call);
  t.true(r.checks.some((c) => /1 memfd\(s\) intact after the kexec/.test(c.name) && c.status === 'pass'));
  assertTimelines(t, r, 1);
});

test.serial('memfd-late-writes, hugetlb: the stock memfd handler refuses a hugetlb memfd, so the variant is unsupported with the reason, never a pass', async (t) => {
  const r = await run('memfd-late-writes', { params: { hugetlb: 1 } });
  t.is(r.status, 'unsupported', detail(r));
  t.deepEqual(r.capabilities?.map((c) => [c.name, c.status]), [['memfd-hugetlb', 'unsupported']]);
  t.regex(r.reason ?? '', /hugetlb memfd/);
});

test.serial('multi-session: sessions come back in reverse order and all verify', async (t) => {
  const r = await run('multi-session');
  t.is(r.status, 'pass', detail(r));
  t.true(r.checks.some((c) => c.name === 'sessions were retrieved in reverse order of preservation' && c.status === 'pass'));
});

test.serial('iommufd-vfio: DMA works before and after; iommufd/VFIO preservation is unsupported on stock 7.2', async (t) => {
  const r = await run('iommufd-vfio');
  t.is(r.status, 'unsupported', detail(r));
  const byName = new Map(r.checks.map((c) => [c.name, c]));
  t.is(byName.get('preserve the iommufd fd')?.status, 'unsupported');
  t.regex(byName.get('preserve the iommufd fd')!.message!, /ENOENT|EOPNOTSUPP/);
  t.is(byName.get('preserve the vfio fd')?.status, 'unsupported');
  t.is(byName.get('before kexec: edu DMA round trip through the vIOMMU')?.status, 'pass');
  t.is(byName.get('kexec: 1 memfd(s) intact after the kexec')?.status, 'pass');
  t.is(byName.get('after kexec, over the restored memfd: edu DMA round trip through the vIOMMU')?.status, 'pass');
  t.is(byName.get('edu re-enumerates at the same address with the same vendor:device and is on vfio-pci')?.status, 'pass');
  // Each capability on its own: the memfd passed, neither the VFIO device nor the iommufd could be preserved.
  t.deepEqual(r.capabilities?.map((c) => [c.name, c.status]), [['memfd', 'pass'], ['iommufd', 'unsupported'], ['vfio-device', 'unsupported']]);
  t.regex(r.capabilities!.find((c) => c.name === 'vfio-device')!.reason!, /CONFIG_PCI_LIVEUPDATE=n and CONFIG_VFIO_PCI_LIVEUPDATE=n\): LIVEUPDATE_SESSION_PRESERVE_FD refused the VFIO device \(cdev\) fd with ENOENT/);
});

test.serial('negative control: on nolu-7.2 the harness reports unsupported, never pass', async (t) => {
  const direct = await run('memfd-basic', { kernel: 'nolu-7.2', params: { size: '4M' } });
  t.is(direct.status, 'unsupported', detail(direct));
  t.regex(direct.reason!, /no \/dev\/liveupdate/);
  const control = await run('negative-control', { kernel: 'nolu-7.2' });
  t.is(control.status, 'pass', detail(control));
  t.true(control.checks.some((c) => /nolu-7\.2, built without CONFIG_LIVEUPDATE is unsupported/.test(c.name)), detail(control));
});

test.serial('negative control on the default kernel: Live Update switched off on the command line is unsupported, never pass', async (t) => {
  const control = await run('negative-control');
  t.is(control.status, 'pass', detail(control));
  t.true(control.checks.some((c) => /luo-7\.2 booted with liveupdate=off is unsupported/.test(c.name)), detail(control));
  const inner = await run('memfd-basic', { params: { size: '4M' }, cmdline: ['liveupdate=off'] });
  t.is(inner.status, 'unsupported', detail(inner));
  t.regex(inner.reason!, /no \/dev\/liveupdate/);
});

test.serial('unpreserve-on-close: closed and orphaned sessions are gone after the kexec', async (t) => {
  const r = await run('unpreserve-on-close');
  t.is(r.status, 'pass', detail(r));
});

test.serial('cycles: the same memfd through 3 consecutive kexecs', async (t) => {
  const r = await run('cycles', { params: { cycles: 3 } });
  t.is(r.status, 'pass', detail(r));
  assertTimelines(t, r, 3);
});

test.serial('upgrade: luo-7.2 -> luo-7.3 carries a memfd across kernels', async (t) => {
  const r = await run('upgrade', { to: 'luo-7.3' });
  t.is(r.status, 'pass', detail(r));
  t.true(r.checks.some((c) => /the guest runs 7\.3\./.test(c.name) && c.status === 'pass'), detail(r));
  assertTimelines(t, r, 1);
});

test.serial('memfd-sizes: 16 MiB and 256 MiB, blackout per size', async (t) => {
  const r = await run('memfd-sizes', { params: { sizes: ['16M', '256M'] } });
  t.is(r.status, 'pass', detail(r));
  assertTimelines(t, r, 2);
  t.deepEqual(r.iterations.map((i) => i.metrics?.memfdSizeMiB), [16, 256]);
});

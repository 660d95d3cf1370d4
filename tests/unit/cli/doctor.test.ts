import test from 'ava';
import { execa } from 'execa';
import { join } from 'node:path';
import { doctorRows, DISK_WANTED_GIB, type Check } from '../../../harness/cli/doctor.ts';

const tool = (name: string, required: boolean, found: string | undefined): Check & { found: string | undefined } => ({
  name,
  purpose: 'test',
  package: `${name}-pkg`,
  required,
  probe: async () => found,
  found,
});
const disk = (freeGiB: number) => ({ path: '/cache', freeGiB });
const row = (rows: ReturnType<typeof doctorRows>, check: string) => rows.find((r) => r.check === check)!;

test("the accelerator row says what was found: ok only for KVM, TCG with the reason it was chosen", (t) => {
  const kvm = doctorRows([], disk(50), { accel: 'kvm', reason: 'kvm_intel is loaded and a probe guest ran under KVM' });
  t.like(row(kvm, 'accelerator'), { status: 'ok', found: 'kvm' });
  const tcg = doctorRows([], disk(50), { accel: 'tcg', reason: '/dev/kvm is missing or not accessible' });
  t.like(row(tcg, 'accelerator'), { status: 'TCG only', found: 'tcg', detail: '/dev/kvm is missing or not accessible' });
});

test('tool and disk rows come from their checks: a missing required tool, an absent optional one, a low disk', (t) => {
  const rows = doctorRows([tool('gcc', true, '14.2.0'), tool('qemu', true, undefined), tool('ccache', false, undefined)], disk(DISK_WANTED_GIB - 1), { accel: 'tcg', reason: 'x' });
  t.like(row(rows, 'gcc'), { status: 'ok', found: '14.2.0', package: '' });
  t.like(row(rows, 'qemu'), { status: 'MISSING', package: 'qemu-pkg' });
  t.like(row(rows, 'ccache'), { status: 'absent', package: 'ccache-pkg' });
  t.like(row(rows, 'free disk'), { status: 'LOW' });
  t.like(row(doctorRows([], disk(DISK_WANTED_GIB), { accel: 'tcg', reason: 'x' }), 'free disk'), { status: 'ok' });
});

test('doctor --json through the CLI: every row has a status its finding explains, exit 3 exactly when a required tool is missing', async (t) => {
  const r = await execa('node', [join(import.meta.dirname, '..', '..', '..', 'bin', 'luo-harness.js'), 'doctor', '--json'], { reject: false, stdin: 'ignore' });
  const { checks } = JSON.parse(r.stdout) as { checks: ReturnType<typeof doctorRows> };
  const accel = row(checks, 'accelerator');
  t.true(['kvm', 'tcg'].includes(accel.found));
  t.is(accel.status, accel.found === 'kvm' ? 'ok' : 'TCG only');
  t.true(accel.detail.length > 0, 'the reason for the choice is given');
  t.is(r.exitCode, checks.some((c) => c.status === 'MISSING') ? 3 : 0);
});

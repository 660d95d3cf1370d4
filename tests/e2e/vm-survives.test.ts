// A running VM across the live update, for real: the host's QEMU inside the
// test guest runs the nested firmware on a preserved memfd, and a new QEMU
// resumes it after the kexec. Same kernel and 7.2 -> 7.3 pass with the
// VM-seen downtime in every output; a tampered page is named exactly; the
// planted-bug kernel (fallocated pages written after preservation lost)
// fails with the pages and what they held.
import test from 'ava';
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheLayout, repoRoot } from '../../harness/paths.ts';
import type { RunResult } from '../../harness/report/result.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { LATE_WRITES } from '../helpers/planted.ts';

const cli = join(repoRoot, 'bin', 'luo-harness.js');
const work = scratchDir('e2e-vm-');

async function runSuite(name: string, scenarios: object[], kernel = 'luo-7.2') {
  const suite = join(work, `${name}.json`);
  writeFileSync(suite, JSON.stringify({ scenarios }));
  const out = join(work, name);
  const r = await execa('node', [cli, 'run', '--suite', suite, '--kernel', kernel, '--out', out], { reject: false });
  return { r, out, result: JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResult };
}

test.serial('vm-survives: same kernel and 7.2 -> 7.3, every page and the device state come back, the VM resumes and runs on; its downtime in every output', async (t) => {
  const { r, out, result } = await runSuite('pass', [{ name: 'vm-survives' }, { name: 'vm-survives', to: 'luo-7.3' }]);
  t.is(r.exitCode, 0, r.stdout + r.stderr);
  for (const s of result.scenarios) {
    t.is(s.status, 'pass', `${s.to ?? 'same'}: ${s.reason}`);
    for (const name of ['every page of guest RAM and the pass counter hold what the stopped VM left', 'the device state came back byte for byte', 'a new QEMU resumes the VM from its device state on the same RAM', 'the VM runs on after the resume']) {
      t.is(s.checks.find((c) => c.name === name)?.status, 'pass', name);
    }
    const m = s.iterations[0]!.metrics!;
    const blackout = s.iterations[0]!.blackout!.totalMs;
    // The VM was stopped before the freeze and resumed after SSH came back: it saw more than the blackout.
    t.true(m.vmDowntimeMs! > blackout, `VM-seen ${m.vmDowntimeMs} ms > blackout ${blackout} ms`);
    t.true(m.vmMsPerPass! > 0 && m.vmStateBytes! > 0);
  }
  t.is(result.scenarios[1]!.to, 'luo-7.3');
  t.regex(r.stdout, /guest TSC\s+VM-seen/);
  t.regex(readFileSync(join(out, 'report.html'), 'utf8'), /VM-seen downtime/);
  const rows = readFileSync(cacheLayout().metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { runId: string; vmDowntimeMs?: number });
  t.is(rows.filter((row) => row.runId === result.runId && row.vmDowntimeMs !== undefined).length, 2);
});

test.serial('vm-survives: one byte of guest RAM changed after the freeze is named exactly', async (t) => {
  const { r, result } = await runSuite('tamper', [{ name: 'vm-survives', params: { tamper: 1 } }]);
  t.is(r.exitCode, 1, r.stdout + r.stderr);
  const s = result.scenarios[0]!;
  t.is(s.status, 'fail');
  // The firmware's pages 256..4095; the tampered one is 256 + 1920 + 1.
  t.regex(s.reason!, /^memfd guest-ram: 1 of 3840 pages of guest RAM do not hold what the running VM left at its stop \(.*\): page 2177 holds 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8}$/);
});

test.serial('vm-survives on the planted-bug kernel: guest RAM written after preservation is lost, and the failure names the pages and what they held', async (t) => {
  const { r, result } = await runSuite('planted', [{ name: 'vm-survives' }], LATE_WRITES);
  t.is(r.exitCode, 1, r.stdout + r.stderr);
  const s = result.scenarios[0]!;
  t.is(s.status, 'fail');
  // Stopped mid-pass (two values) or between passes (one).
  t.regex(s.reason!, /^memfd guest-ram: 3840 of 3840 pages of guest RAM do not hold what the running VM left at its stop \((pages 256-\d+|every page) 0x[0-9a-f]{8}/);
  t.regex(s.reason!, /page 256 holds 0x00000000, expected 0x[0-9a-f]{8}/);
  t.regex(s.reason!, /the VM's pass counter \(page 7\) reads 0, the stopped VM left \d+/);
});

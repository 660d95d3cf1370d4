// The kernel's own Live Update selftests through the harness, for real: the
// luo-7.2 artifact's static selftests shared into a TCG guest, both staged
// tests batched around one kexec through the agent.
import test from 'ava';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '../../harness/util/hash.ts';
import { runKselftests } from '../../harness/kselftest/run.ts';
import { buildKernel } from '../../harness/kernel/pipeline.ts';
import { BLACKOUT_PHASES, type ScenarioResult } from '../../harness/report/result.ts';

const results = mkdtempSync(join(tmpdir(), 'e2e-kselftest-'));
const detail = (r: ScenarioResult | undefined) =>
  r ? `${r.status}: ${r.reason ?? ''}\n${r.checks.map((c) => `  ${c.status} ${c.name}${c.message ? ` (${c.message})` : ''}`).join('\n')}` : 'no result';

test.serial('luo_kexec_simple and luo_multi_session pass on luo-7.2, batched around one kexec', async (t) => {
  const started = performance.now();
  const rs = await runKselftests({ kernel: 'luo-7.2', tests: ['luo_kexec_simple', 'luo_multi_session'], resultsDir: results });
  t.log(`${((performance.now() - started) / 1000).toFixed(1)} s for both`);
  t.deepEqual(rs.map((r) => r.name).sort(), ['kselftest/luo_kexec_simple', 'kselftest/luo_multi_session']);
  for (const r of rs) {
    t.is(r.status, 'pass', detail(r));
    t.is(r.kernel, 'luo-7.2');
    t.is(r.to, undefined, 'stage 2 ran on the same kernel');
    t.deepEqual(r.checks.map((c) => [c.name, c.status]), [['stage 1', 'pass'], ['kexec 7.2.13 -> 7.2.13', 'pass'], ['stage 2', 'pass']]);
    // Batched: one round, shared with the other test, stage 1 in boot 0 and stage 2 in boot 1.
    t.is(r.params?.round, 1);
    t.is(r.params?.rounds, 1);
    t.is((r.params?.batchedWith as string[]).length, 1);
    t.deepEqual(r.params?.boots, { stage1: 0, stage2: 1 });
    t.is(r.iterations.length, 1, 'one blackout iteration');
    const b = r.iterations[0]!.blackout!;
    t.deepEqual(b.phases.map((p) => p.name), [...BLACKOUT_PHASES]);
    t.true(b.totalMs > 100 && b.totalMs < 120_000, `a plausible blackout: ${b.totalMs} ms`);
    t.true(r.artifacts.some((a) => a.name === 'stage 2 output'));
    t.true(r.artifacts.some((a) => /console, boot 1/.test(a.name)), 'console of the kexec\'d kernel');
    for (const a of r.artifacts) t.true(existsSync(join(results, a.path)), a.path);
  }
  // The same kexec: both tests carry the very same timeline.
  t.deepEqual(rs[0]!.iterations[0]!.blackout, rs[1]!.iterations[0]!.blackout);
});

test.serial('a kernel panic in a stage 1 fails the tests waiting for stage 2; the rest run on a fresh machine', async (t) => {
  // A copy of the luo-7.2 artifact whose luo_stress_sessions panics the kernel through sysrq.
  const real = await buildKernel('luo-7.2', { quiet: true });
  const scratch = mkdtempSync(join(tmpdir(), 'e2e-kselftest-crash-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const dir = join(scratch, 'artifact');
  cpSync(real.dir, dir, { recursive: true });
  const crasher = join(dir, 'selftests', 'luo_stress_sessions');
  chmodSync(crasher, 0o755);
  writeFileSync(crasher, '#!/bin/sh\necho c > /proc/sysrq-trigger\nsleep 30\n');
  // The copy's manifest records the program it now holds: a run checks the selftests against it.
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.files['selftests/luo_stress_sessions'] = sha256(readFileSync(crasher));
  const rs = await runKselftests({
    kernel: { dir, manifest },
    tests: ['luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files'],
    resultsDir: results,
  });
  const by = (name: string) => rs.find((r) => r.name === `kselftest/${name}`)!;
  const crashed = by('luo_stress_sessions');
  t.is(crashed.status, 'fail', detail(crashed));
  t.regex(crashed.reason!, /^stage 1: .*the kernel crashed \(panic\) on boot 0/);
  t.regex(crashed.reason!, /sysrq triggered crash/, 'the console report is in the reason');
  for (const name of ['luo_kexec_simple', 'luo_multi_session']) {
    const r = by(name);
    t.is(r.status, 'fail', detail(r));
    t.deepEqual(r.checks.map((c) => [c.name, c.status]), [['stage 1', 'pass'], ['stage 2', 'fail']]);
    t.regex(r.checks[1]!.message!, /not run: its sessions went with the machine, lost while luo_stress_sessions stage 1 ran/);
  }
  // luo_stress_files had not started: it runs on a new machine and passes.
  const rest = by('luo_stress_files');
  t.is(rest.status, 'pass', detail(rest));
  t.true(rest.artifacts.some((a) => a.name === 'vm1 console, boot 1'));
  t.is(rest.iterations.length, 1);
});

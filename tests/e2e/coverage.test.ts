// `--coverage` through the real command line: luo-7.2's coverage twin (gcov
// on the live-update code, built by `npm test`'s pretest) booted in QEMU, a
// memfd preserved over SSH through the agent, the kexec. The outgoing
// kernel's counters are read at machine_kexec through QEMU's debugger stub,
// so what runs inside reboot() (liveupdate_reboot, the sessions'
// serialization, the files' freeze) is counted; the incoming kernel's come
// from its debugfs at the end. On a remote host (a QEMU machine standing in
// for one) there is no stub: the run still passes, and the report names the
// missing side. bisect --coverage on a patch of our own tells, of the lines
// it adds, the one that ran from the one that did not. A plain kernel given
// by key is refused.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheRoot, repoRoot } from '../../harness/paths.ts';
import { findArtifact, resolveKernelRef } from '../../harness/kernel/refs.ts';
import { newRunDir } from '../../harness/liveupdate/machine-logs.ts';
import { StandInHost } from '../../harness/target/stand-in.ts';
import { runCommand } from '../../harness/cli/run.ts';
import { EXIT } from '../../harness/errors.ts';
import type { RunResult } from '../../harness/report/result.ts';

const cli = join(repoRoot, 'bin', 'luo-harness.js');
const work = mkdtempSync(join(tmpdir(), 'e2e-coverage-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));
const harness = (...args: string[]) => execa('node', [cli, ...args], { reject: false });
const results = (out: string) => JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResult;

/** Functions that ran (FNDA > 0) in one side's tracefile. */
const ran = (info: string) => new Set([...readFileSync(info, 'utf8').matchAll(/^FNDA:(\d+),(.+)$/gm)].filter((m) => Number(m[1]) > 0).map((m) => m[2]!));

const NAMED = ['kernel/liveupdate/luo_session.c', 'kernel/liveupdate/luo_file.c', 'kernel/liveupdate/luo_core.c', 'kernel/liveupdate/kho_block.c', 'mm/memfd_luo.c'];

test('run --coverage: both sides of the kexec counted and added together, the reboot path included; tracefile, HTML, summary', async (t) => {
  const out = join(work, 'both');
  const r = await harness('run', '--coverage', '--suite', 'smoke', '--scenarios', 'memfd-basic', '--out', out);
  t.is(r.exitCode, EXIT.ok, r.stdout + r.stderr);
  const [k, ...others] = results(out).coverage!.kernels;
  t.is(others.length, 0);
  t.is(k!.recipe, 'luo-7.2-coverage');
  t.deepEqual(k!.sides.map((s) => [s.boot, s.when, s.missing]), [[0, 'at-kexec', undefined], [1, 'at-end', undefined]]);
  for (const f of NAMED) {
    const row = k!.files.find((x) => x.path === f);
    t.truthy(row, `${f} is in the report`);
    t.true(row!.lines.hit > 0 && row!.lines.hit <= row!.lines.found, `${f}: ${JSON.stringify(row)}`);
  }
  t.true(existsSync(join(out, k!.tracefile!)));
  t.true(existsSync(join(out, k!.html!)));
  // The outgoing kernel was read inside reboot(): its freeze and serialization ran, its restore did not.
  const [outgoing, incoming] = k!.sides.map((s) => ran(join(out, s.capture, 'side.info')));
  for (const f of ['liveupdate_reboot', 'luo_session_serialize', 'luo_file_freeze', 'memfd_luo_freeze']) t.true(outgoing!.has(f), `outgoing kernel counted ${f}`);
  for (const f of ['luo_session_deserialize', 'luo_retrieve_file', 'memfd_luo_retrieve', 'luo_file_finish']) t.true(incoming!.has(f), `incoming kernel counted ${f}`);
  t.false(incoming!.has('liveupdate_reboot'));
  t.false(outgoing!.has('memfd_luo_retrieve'));
  // The merged file adds both sides: a function of both boots counts in it.
  const merged = readFileSync(join(out, k!.tracefile!), 'utf8');
  t.regex(merged, /^FNDA:[1-9]\d*,luo_session_serialize$/m);
  t.regex(merged, /^FNDA:[1-9]\d*,luo_session_deserialize$/m);
  t.regex(r.stdout, /coverage of luo-7\.2-coverage \(7\.2\.\d+\), every boot added together/);
  t.regex(r.stdout, /mm\/memfd_luo\.c +\d+\/\d+ \(\d+\.\d%\)/);
  t.regex(r.stdout, /boot 0 up to its kexec \(read at machine_kexec\)/);
  t.regex(r.stdout, /NOT blackout figures/);
  t.regex(readFileSync(join(out, 'summary.md'), 'utf8'), /\*\*Coverage of luo-7\.2-coverage/);
  t.regex(readFileSync(join(out, 'junit.xml'), 'utf8'), /<testsuite name="luo-harness coverage"/);
  t.regex(readFileSync(join(out, 'report.html'), 'utf8'), /line by line \(genhtml\)/);
});

test.serial('a remote host has no debugger stub: the outgoing side is named as missing, the incoming one is counted, and the run keeps its verdict', async (t) => {
  // A QEMU machine standing in for a lab host, reached only as one is (target/stand-in.ts).
  const host = await StandInHost.boot({ kernel: await resolveKernelRef('luo-7.2'), runDir: newRunDir('stand-in') });
  t.teardown(() => host.stop());
  const out = join(work, 'remote');
  const argv = ['--coverage', '--suite', 'smoke', '--scenarios', 'memfd-basic', '--out', out, '--target', host.url, '--console', host.consoleCommand, '--host-key', host.hostKey, '--identity', host.identityFile, '--yes-reboot-the-target', '--reboot-timeout', '120'];
  const code = await runCommand(argv);
  const result = results(out);
  t.is(code, EXIT.ok, JSON.stringify(result.scenarios.map((s) => [s.status, s.reason])));
  const k = result.coverage!.kernels[0]!;
  t.deepEqual(k.sides.map((s) => [s.boot, s.when, !!s.missing]), [[0, 'at-kexec', true], [1, 'at-end', false]]);
  t.regex(k.sides[0]!.missing!, /the target has no debugger stub \(a remote host\): its counters up to the kexec cannot be read/);
  t.true(k.total.lines.hit > 0, 'the incoming side alone still makes a report');
  t.regex(readFileSync(join(out, 'summary.md'), 'utf8'), /vm0\/boot0: MISSING \(the target has no debugger stub/);
});

test('fuzz --coverage: the edges each program takes are counted over time, a program that takes new ones joins the corpus, one is carried on', async (t) => {
  const out = join(work, 'fuzz');
  const r = await harness('fuzz', '--coverage', '--programs', '4', '--seed', '7', '--out', out);
  t.is(r.exitCode, EXIT.ok, r.stdout + r.stderr);
  const result = results(out);
  const cov = result.scenarios[0]!.params!.coverage as { guided: boolean; edges: number; corpus: number; mutated: number; overTime: { programs: number; edges: number }[] };
  t.true(cov.guided);
  t.deepEqual(cov.overTime.map((p) => p.programs), [1, 2, 3, 4]);
  t.true(cov.overTime.every((p, i) => p.edges > 0 && (i === 0 || p.edges >= cov.overTime[i - 1]!.edges)), JSON.stringify(cov.overTime));
  t.is(cov.edges, cov.overTime.at(-1)!.edges);
  t.true(cov.corpus >= 1, 'the first program takes new edges');
  t.true(cov.mutated >= 1, `a corpus program was carried on (seed 7): ${JSON.stringify(cov)}`);
  const k = result.coverage!.kernels[0]!;
  t.true(k.sides.length >= 2 && k.sides.every((s) => !s.missing), JSON.stringify(k.sides));
  t.regex(result.scenarios[0]!.checks[0]!.name, /gcov edges of the live-update code taken \(guided: corpus of \d+, \d+ programs carried one on\)/);
  t.regex(r.stderr, /\d+ edges \(corpus \d+\)/);
});

test('bisect --coverage on a patch of our own: of the lines it adds, the one in the reboot path ran (read at machine_kexec) and its error path did not', async (t) => {
  // The patch adds a pr_info() before luo_session_serialize() in liveupdate_reboot(), and a pr_err() under its failure.
  const out = join(work, 'bisect');
  const r = await harness('bisect', '--patches', join(repoRoot, 'tests', 'fixtures', 'coverage', 'mark-patch'), '--kernel', 'luo-7.2', '--scenario', 'memfd-basic', '--each', '--coverage', '--out', out);
  t.is(r.exitCode, EXIT.ok, r.stdout + r.stderr);
  const [patched, ...others] = results(out).coverage!.kernels;
  t.is(others.length, 0, 'one prefix, one twin');
  t.regex(patched!.recipe, /^luo-7\.2-d[0-9a-f]+-coverage$/);
  const [p] = patched!.patches;
  t.regex(p!.patch, /0001-luo-coverage-mark\.patch/);
  t.true(p!.run['kernel/liveupdate/luo_core.c']?.includes(227), JSON.stringify(p));
  t.deepEqual(p!.notRun, { 'kernel/liveupdate/luo_core.c': [230] });
  t.deepEqual(p!.outside, {});
  t.regex(r.stdout, /0001-luo-coverage-mark\.patch: \d of \d executable added line\(s\) ran; not run: kernel\/liveupdate\/luo_core\.c:230/);
});

test('--coverage refuses a built kernel without gcov, naming the option, and a baseline gate', async (t) => {
  const plain = await findArtifact(cacheRoot(), 'luo-7.2');
  if (!plain) throw new Error(`no luo-7.2 kernel in ${cacheRoot()}; build it with \`luo-harness kernel build luo-7.2\``);
  const r = await harness('run', '--coverage', '--kernel', plain.manifest.key, '--scenarios', 'memfd-basic', '--out', join(work, 'refused'));
  t.is(r.exitCode, EXIT.badInput, r.stderr);
  t.regex(r.stderr, /was not built for coverage: CONFIG_GCOV_KERNEL is not set; give its recipe instead/);
  t.false(existsSync(join(work, 'refused', 'results.json')));
  const g = await harness('run', '--coverage', '--baseline', join(work, 'any-baseline.json'), '--out', join(work, 'refused2'));
  t.is(g.exitCode, EXIT.badInput, g.stderr);
  t.regex(g.stderr, /--coverage runs instrumented kernels, whose timings are not blackout figures: leave out --baseline/);
});

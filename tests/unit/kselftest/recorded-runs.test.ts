// The plan's command lines and verdicts against consoles recorded from real
// runs of the 7.2.13 selftests in a TCG guest (see tests/fixtures/kselftest/README.md).
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { classifySelftestRun, planKselftests, STAGE1_READY_LINE, type GuestCommand } from '../../../harness/kselftest/plan.ts';
import { FIXTURES, fixtureBuild } from './fixture-tree.ts';

interface RecordedRun {
  boot: number;
  cmd: string;
  rc: number;
  output: string;
  ms: number;
}

/** Runs between the experiment init's run-begin/run-end markers, kernel printk lines left out. */
async function recordedRuns(file: string): Promise<RecordedRun[]> {
  const lines = (await readFile(join(FIXTURES, file), 'utf8')).replace(/\r/g, '').split('\n');
  const runs: RecordedRun[] = [];
  let open: { cmd: string; out: string[]; start: number } | undefined;
  for (const raw of lines) {
    const m = /^\s*(\d+) (.*)$/.exec(raw);
    if (!m) continue;
    const [ms, text] = [Number(m[1]), m[2]!];
    const begin = /EXP-MARK run-begin cmd=(.*) boot=\d+ up=/.exec(text);
    const end = /EXP-MARK run-end rc=(\d+) cmd=(.*) boot=(\d+) up=/.exec(text);
    if (begin) open = { cmd: begin[1]!, out: [], start: ms };
    else if (end && open) {
      runs.push({ boot: Number(end[3]), cmd: end[2]!, rc: Number(end[1]), output: open.out.join('\n'), ms: ms - open.start });
      open = undefined;
    } else if (open && !/^\[\s*\d+\.\d+\]/.test(text)) open.out.push(text);
  }
  return runs;
}

async function plan(tests?: string[]) {
  return planKselftests(await fixtureBuild('7.2'), { KEXEC_FILE: true, KEXEC_HANDOVER: true, LIVEUPDATE: true, LIVEUPDATE_MEMFD: true }, tests ? { tests } : {});
}

const verdict = (cmd: GuestCommand, run: RecordedRun) => classifySelftestRun(cmd, run.rc, run.output);

test('luo_kexec_simple alone: the planned commands ran in the planned boots and pass', async (t) => {
  const p = await plan(['luo_kexec_simple']);
  const runs = await recordedRuns('console-7.2-luo_kexec_simple.txt');
  t.deepEqual(
    runs.map((r) => [r.boot, r.cmd]),
    p.boots.flatMap((b) => b.commands.map((c) => [b.boot, c.shell])),
  );
  const [s1, s2] = p.boots.flatMap((b) => b.commands);
  t.true(runs[0]!.output.includes(STAGE1_READY_LINE));
  t.deepEqual(verdict(s1!, runs[0]!), { status: 'pass', reason: 'luo_kexec_simple stage 1 passed' });
  t.regex(runs[1]!.output, /--- SIMPLE KEXEC TEST PASSED ---/);
  t.deepEqual(verdict(s2!, runs[1]!), { status: 'pass', reason: 'luo_kexec_simple stage 2 passed' });
  // Exit 0 decides even without the usual last line; the reason says so.
  t.regex(classifySelftestRun(s2!, 0, '# [STAGE 2] done\n').reason, /did not print "TEST PASSED"/);
  t.regex(classifySelftestRun(s1!, 0, '').reason, /did not print/);
  t.deepEqual(classifySelftestRun(s1!, null, ''), { status: 'fail', reason: 'luo_kexec_simple stage 1 was killed by a signal' });
});

test('batch: four stage 1 in one boot, one kexec, four stage 2 pass', async (t) => {
  const p = await plan();
  const runs = await recordedRuns('console-7.2-batch-and-chain.txt');
  const ok = runs.filter((r) => r.rc === 0);
  for (const b of p.boots) {
    // The recording's successful simple stage 1 used 7.2's long form --stage 1.
    const recorded = ok.filter((r) => r.boot === b.boot).map((r) => r.cmd.replace(/ --stage (\d)$/, ' -s $1'));
    for (const c of b.commands) t.true(recorded.includes(c.shell), `boot ${b.boot} ran ${c.shell}`);
  }
  for (const c of p.boots[1]!.commands) {
    const run = runs.find((r) => r.boot === 2 && r.cmd === c.shell)!;
    t.is(verdict(c, run).status, 'pass');
    t.regex(run.output, /TEST PASSED/);
  }
  // 7.2 also takes --stage; the plan uses -s, which 7.3 requires.
  t.true(ok.some((r) => r.cmd.endsWith('luo_kexec_simple --stage 1')));
});

test('recorded failure modes read as skip or fail with the test\'s own reason', async (t) => {
  const runs = await recordedRuns('console-7.2-batch-and-chain.txt');
  const p = await plan(['luo_kexec_simple']);
  const [s1, s2] = p.boots.flatMap((b) => b.commands);
  const simple1 = runs.filter((r) => r.boot === 1 && r.cmd === '/opt/selftests/luo_kexec_simple -s 1');
  // First while the shell held /dev/liveupdate, last after another instance's stage 1.
  t.deepEqual(verdict(s1!, simple1[0]!), {
    status: 'skip',
    reason: 'luo_kexec_simple stage 1 skipped: Failed to open /dev/liveupdate. Is the luo module loaded?',
  });
  const clash = verdict(s1!, simple1.at(-1)!);
  t.is(clash.status, 'fail');
  t.regex(clash.reason, /exit 1.*luo_create_session for state tracking \(errno: File exists\)/);
  const again = runs.filter((r) => r.boot === 2 && r.cmd === '/opt/selftests/luo_kexec_simple -s 2').at(-1)!;
  t.regex(verdict(s2!, again).reason, /Stage mismatch Requested --stage 2, but system is in stage 1/);
  const lu = runs.find((r) => r.cmd === '/opt/selftests/liveupdate')!;
  t.regex(lu.output, /# Totals: pass:15 fail:0/);
});

test('chained round: stage 2 and the next stage 1 share boot 2, whose stage 2 passes in boot 3', async (t) => {
  const runs = await recordedRuns('console-7.2-batch-and-chain.txt');
  const chained = runs.filter((r) => r.cmd.startsWith('/opt/selftests/luo_multi_session'));
  t.deepEqual(
    chained.map((r) => [r.boot, r.cmd.split(' ').slice(1).join(' '), r.rc]),
    [
      [1, '-s 1', 0],
      [2, '-s 2', 0],
      [2, '-s 1', 0],
      [3, '-s 2', 0],
    ],
  );
});

test('7.3 tests refuse --stage and take -s, which is what the plan emits for 7.3', async (t) => {
  const p = planKselftests(await fixtureBuild('7.3'), { KEXEC_FILE: true, KEXEC_HANDOVER: true, LIVEUPDATE: true, LIVEUPDATE_MEMFD: true }, {
    tests: ['luo_kexec_simple'],
    guestDir: '/opt/st73',
  });
  const [s1, s2] = p.boots.flatMap((b) => b.commands);
  const runs = await recordedRuns('console-7.3-tests-on-7.2-kernel.txt');
  const long = runs.find((r) => r.cmd.endsWith('--stage 1'))!;
  t.deepEqual(verdict(s1!, long), { status: 'fail', reason: 'luo_kexec_simple stage 1 failed (exit 1): [parse_stage_args:283] Unknown argument (errno: Success)' });
  const [r1, r2] = runs.filter((r) => r.rc === 0);
  t.deepEqual([r1!.boot, r1!.cmd, r2!.boot, r2!.cmd], [1, s1!.shell, 2, s2!.shell]);
  t.is(verdict(s2!, r2!).status, 'pass');
});

// The headline measurement, from recorded consoles of real live updates
// (tests/fixtures/liveupdate/): the phases and the clock agreement exactly,
// and a clear failure when a marker is missing or a line is out of order.
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../../harness/paths.ts';
import { parseConsoleLog } from '../../../harness/vm/console-log.ts';
import { blackoutTimeline, clockRestarted, kernelClockZero } from '../../../harness/liveupdate/timeline.ts';
import { blackoutTable } from '../../../harness/cli/summary.ts';
import { TestFailure } from '../../../harness/errors.ts';
import { iterationMetrics, type BlackoutTimeline, type IterationResult, type ScenarioResult } from '../../../harness/report/result.ts';

const dir = join(repoRoot, 'tests', 'fixtures', 'liveupdate');
function recorded(name: string) {
  const meta = JSON.parse(readFileSync(join(dir, `console-${name}.json`), 'utf8')) as { fromBoot: number; sshReadyMs: number; recorded: BlackoutTimeline };
  return { ...meta, text: readFileSync(join(dir, `console-${name}.log`), 'utf8') };
}
const phases = (t: BlackoutTimeline) => Object.fromEntries(t.phases.map((p) => [p.name, p.ms]));

/** The phases as the harness computed them live; service to the recording's rounding (SSH's instant is rebuilt from the total). */
function sameAsRecorded(t: ExecutionContext, timeline: BlackoutTimeline, recorded: BlackoutTimeline) {
  const { service, ...rest } = phases(timeline);
  const { service: recordedService, ...recordedRest } = phases(recorded);
  t.deepEqual(rest, recordedRest);
  t.true(Math.abs(service! - recordedService!) < 0.05);
}

test('7.2 -> 7.2: the phases and the clock agreement from the recorded console', (t) => {
  const r = recorded('7.2-to-7.2');
  const lines = parseConsoleLog(r.text);
  const timeline = blackoutTimeline({ lines, fromBoot: r.fromBoot, sshReadyMs: r.sshReadyMs });
  t.deepEqual(phases(timeline), { shutdown: 3.11, 'kexec-jump': 445.76, 'kernel-init': 1209.44, 'userspace-init': 128.52, restore: 60.26, service: 329.93 });
  t.is(timeline.totalMs, 2177.03);
  t.is(timeline.guestTscMs, 1845.09);
  t.deepEqual(timeline.agreement, { deltaMs: -2.02, ok: true });
  // The new kernel's clock started 4395.37 ms after QEMU's spawn: 445.76 ms after "Starting new kernel", 125 ms before its banner reached the console.
  t.is(kernelClockZero(lines, 1), 4395.365);
  // The total is what the harness computed live (the recording had the old phase names; the span is the same).
  t.is(timeline.totalMs, r.recorded.totalMs);
});

test('service ends when SSH answers and the guest said guest-ready, whichever is later', (t) => {
  const r = recorded('7.2-to-7.2');
  const lines = parseConsoleLog(r.text);
  const early = blackoutTimeline({ lines, fromBoot: r.fromBoot, sshReadyMs: r.sshReadyMs, guestReadyMs: r.sshReadyMs - 100 });
  t.is(early.totalMs, 2177.03, 'ready before SSH answered: SSH ends the blackout');
  const late = blackoutTimeline({ lines, fromBoot: r.fromBoot, sshReadyMs: r.sshReadyMs, guestReadyMs: r.sshReadyMs + 250 });
  t.is(late.totalMs, 2427.03, 'SSH answered before the guest was ready: readiness ends it');
  t.is(phases(late).service, 579.93);
});

test('7.2 -> 7.3: an upgrade; the phases follow the new kernel\'s own clock', (t) => {
  const r = recorded('7.2-to-7.3');
  const timeline = blackoutTimeline({ lines: parseConsoleLog(r.text), fromBoot: r.fromBoot, sshReadyMs: r.sshReadyMs });
  t.deepEqual(phases(timeline), { shutdown: 0.52, 'kexec-jump': 413.88, 'kernel-init': 1233.76, 'userspace-init': 125.74, restore: 55.98, service: 314.7 });
  t.is(timeline.totalMs, 2144.59);
  t.deepEqual(timeline.agreement, { deltaMs: 0.97, ok: true });
});

test('without printk timestamps the kernel\'s events are taken by their arrival', (t) => {
  const r = recorded('7.2-to-7.2');
  const bare = parseConsoleLog(r.text).map((l) => ({ ...l, text: l.text.replace(/^\[\s*\d+\.\d{6}\]\s/, '') }));
  const timeline = blackoutTimeline({ lines: bare, fromBoot: 0, sshReadyMs: r.sshReadyMs });
  // kexec-jump then ends at the banner's arrival: it holds the kernel's early boot too.
  t.true(phases(timeline)['kexec-jump']! > 445.76);
  t.is(timeline.totalMs, 2177.03);
});

test('a missing marker fails with its name, never a made-up phase', (t) => {
  const r = recorded('7.2-to-7.2');
  const without = (pattern: RegExp) => parseConsoleLog(r.text.split('\n').filter((l) => !pattern.test(l)).join('\n'));
  const noFreeze = t.throws(() => blackoutTimeline({ lines: without(/MARK freeze /), fromBoot: 0, sshReadyMs: r.sshReadyMs }), { instanceOf: TestFailure });
  t.is(noFreeze!.message, 'blackout timeline: no freeze marker in boot 0 on the console');
  t.throws(() => blackoutTimeline({ lines: without(/Starting new kernel/), fromBoot: 0, sshReadyMs: r.sshReadyMs }), { instanceOf: TestFailure, message: /no "Starting new kernel" in boot 0/ });
  t.throws(() => blackoutTimeline({ lines: without(/b1 LUO-HARNESS-MARK init /), fromBoot: 0, sshReadyMs: r.sshReadyMs }), { instanceOf: TestFailure, message: /no init marker in boot 1/ });
});

test('a line out of order is refused, naming both events', (t) => {
  const r = recorded('7.2-to-7.2');
  const lines = parseConsoleLog(r.text);
  const banner = lines.find((l) => l.boot === 1 && /Linux version/.test(l.text))!;
  const init = lines.find((l) => l.boot === 1 && /MARK init /.test(l.text))!;
  // The init marker stamped before the new kernel's banner: the console clock cannot be trusted.
  const reordered = lines.map((l) => (l === init ? { ...l, ms: banner.ms - 5 } : l));
  const e = t.throws(() => blackoutTimeline({ lines: reordered, fromBoot: 0, sshReadyMs: r.sshReadyMs }), { instanceOf: TestFailure });
  t.regex(e!.message, /^blackout timeline: the agent's restore start in boot 1 \(\d+(\.\d+)? ms\) comes before "Run \/init" of boot 1 \(\d+(\.\d+)? ms\) on the console$/);
});

test('a line whose stamp would put the new clock before the old kernel let go is not taken for the zero', (t) => {
  const lines = [
    { boot: 0, ms: 1000, text: 'LUO-HARNESS-MARK freeze tsc=1' },
    { boot: 0, ms: 1010, text: '[   10.000000] kexec_core: Starting new kernel' },
    { boot: 1, ms: 1400, text: '[    0.000000] Linux version 7.2.13 (luo-harness@luo-harness)' },
    { boot: 1, ms: 1410, text: '[    0.200000] printk: legacy console [ttyS0] enabled' },
    // Not on the new kernel's clock: it would put the zero 24 s before the kexec.
    { boot: 1, ms: 1420, text: '[   25.000000] something stamped on another clock' },
    { boot: 1, ms: 1500, text: '[    0.280000] later line' },
  ];
  t.is(kernelClockZero(lines, 1, 1010), 1210);
  t.is(kernelClockZero(lines, 1), 1420 - 25000, 'without the bound the bad line wins');
});

test("a new kernel whose clock restarted (its PIT calibration failed) is said to have a late clock: its kexec-jump/kernel-init split is marked and kept out of the metrics, the total stands", (t) => {
  const r = recorded('late-clock');
  const lines = parseConsoleLog(r.text);
  t.true(clockRestarted(lines, 1), 'boot 1 stamps 0.216 on jiffies, then 0.000433 on the TSC');
  const timeline = blackoutTimeline({ lines, fromBoot: r.fromBoot, sshReadyMs: r.sshReadyMs });
  t.true(timeline.lateClock);
  t.true(Math.abs(timeline.totalMs - r.recorded.totalMs) < 0.05, 'the total does not depend on the clock zero');
  const metrics = iterationMetrics({ index: 0, status: 'pass', blackout: timeline } as IterationResult);
  t.is(metrics['blackout.totalMs'], timeline.totalMs);
  t.false('blackout.kexecJumpMs' in metrics);
  t.false('blackout.kernelInitMs' in metrics);
  t.is(metrics['blackout.userspaceInitMs'], timeline.phases.find((p) => p.name === 'userspace-init')!.ms);
  const table = blackoutTable([{ name: 'memfd-basic', iterations: [{ index: 0, status: 'pass', blackout: timeline }] } as unknown as ScenarioResult]);
  const row = table.split('\n').find((l) => l.startsWith('memfd-basic'))!;
  t.regex(row, new RegExp(`\\b${Math.round(phases(timeline)['kexec-jump']!)}\\*`));
  t.regex(table, /\* 1 live update\(s\): the new kernel's clock started late \(its TSC calibration failed\)/);
});

test('told its TSC frequency, the kexec\'d kernel keeps one clock from setup_arch: no late clock (its cold boot, whose calibration failed, is no blackout)', (t) => {
  const r = recorded('tsc-early-khz');
  const lines = parseConsoleLog(r.text);
  t.true(clockRestarted(lines, 0), "the cold boot's PIT calibration failed too, on a busy host");
  t.false(clockRestarted(lines, 1));
  const timeline = blackoutTimeline({ lines, fromBoot: r.fromBoot, sshReadyMs: r.sshReadyMs });
  t.is(timeline.lateClock, undefined);
  sameAsRecorded(t, timeline, r.recorded);
  t.is(blackoutTable([{ name: 'memfd-basic', iterations: [{ index: 0, status: 'pass', blackout: timeline }] } as unknown as ScenarioResult]).includes('*'), false);
});

test("one line out of step (a secondary CPU's own clock while it comes up) is not a restarted clock", (t) => {
  const r = recorded('ap-stamp');
  const lines = parseConsoleLog(r.text);
  t.true(lines.some((l) => l.boot === 1 && l.text.includes('[    0.044019] calibrate_delay_direct()')), 'the fixture holds the stray line');
  t.false(clockRestarted(lines, 1));
  const timeline = blackoutTimeline({ lines, fromBoot: r.fromBoot, sshReadyMs: r.sshReadyMs });
  t.is(timeline.lateClock, undefined);
  sameAsRecorded(t, timeline, r.recorded);
});

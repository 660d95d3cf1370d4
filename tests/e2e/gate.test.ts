// The CI gate for real, on real live updates: an unchanged kernel passes
// against its own baseline, a slowdown planted in the guest (the agent
// really waits before its restore) fails it, and an impossible baseline
// fails with exit 1 naming the metric.
import test from 'ava';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';
import { saveBaseline } from '../../harness/report/baseline.ts';
import type { RunResult } from '../../harness/report/result.ts';

const work = mkdtempSync(join(tmpdir(), 'e2e-gate-'));
const cli = join(repoRoot, 'bin', 'luo-harness.js');

/** A baseline whose memfd-basic total blackout samples are all near `ms`. */
function baselineAt(ms: number, file: string): string {
  const run: RunResult = {
    schema: 1, runId: `synthetic-${ms}`, startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:01:00Z',
    host: { hostname: 'h', kernel: 'k', cpus: 2 }, accelerator: 'tcg', qemuVersion: '7.2', kernels: {},
    scenarios: [{
      name: 'memfd-basic', status: 'pass', durationMs: 1, checks: [{ name: 'c', status: 'pass' }], artifacts: [],
      iterations: [0.97, 0.99, 1, 1.01, 1.03].map((f, index) => ({ index, status: 'pass' as const, blackout: { totalMs: ms * f, phases: [] } })),
    }],
  };
  writeFileSync(file, JSON.stringify(saveBaseline(run)));
  return file;
}

const cliRun = (out: string, ...args: string[]) =>
  execa('node', [cli, 'run', '--suite', 'smoke', '--scenarios', 'memfd-basic', '--out', out, ...args], { reject: false });

const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;

test.serial('an impossible baseline fails the run with exit 1, naming the metric, even on one live update', async (t) => {
  const out = join(work, 'impossible');
  const r = await cliRun(out, '--iterations', '1', '--baseline', baselineAt(5, join(work, 'impossible.json')), '--junit', join(out, 'copy.xml'));
  t.is(r.exitCode, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /^REGRESSION memfd-basic\/blackout\.totalMs: .*beyond doubt/m);
  t.regex(r.stdout, /metric regression\(s\): memfd-basic\/blackout\.totalMs/);
  const junit = readFileSync(join(out, 'copy.xml'), 'utf8');
  t.regex(junit, /<testsuite name="luo-harness gate"[^>]* failures="1"/);
  t.is(results(out).gate?.comparison.outcome, 'regression');
});

test.serial('an unchanged kernel passes its own baseline; a planted +30 % slowdown in the guest fails it', async (t) => {
  // The baseline: 5 live updates (what --baseline takes by default).
  const base = join(work, 'base');
  const a = await cliRun(base, '--iterations', '5');
  t.is(a.exitCode, 0, a.stdout + a.stderr);
  const baseline = join(work, 'base.json');
  const saved = await execa('node', [cli, 'baseline', 'save', base, '--out', baseline], { reject: false });
  t.is(saved.exitCode, 0, saved.stdout + saved.stderr);

  const same = join(work, 'same');
  const b = await cliRun(same, '--baseline', baseline);
  t.is(b.exitCode, 0, b.stdout + b.stderr);
  t.regex(b.stderr, /gate: against .*base\.json; at least 5 live update\(s\) per scenario/);
  t.regex(b.stdout, /^GATE: no regression in 2 gated metric\(s\)/m);
  t.is(results(same).scenarios[0]!.iterations.length, 5, 'the gate took 5 live updates without being told');

  // +30 % of the baseline's median total, spent in the guest before the agent restores.
  const totals = results(base).scenarios[0]!.iterations.map((i) => i.blackout!.totalMs).sort((x, y) => x - y);
  const delayMs = Math.round(0.3 * totals[2]!);
  const slow = join(work, 'slow');
  const c = await cliRun(slow, '--baseline', baseline, '--cmdline', `luo_agent.restore_delay_ms=${delayMs}`);
  t.is(c.exitCode, 1, c.stdout + c.stderr);
  t.regex(c.stdout, /^REGRESSION memfd-basic\/blackout\.totalMs: /m);
  const slowRun = results(slow).scenarios[0]!;
  const restore = slowRun.iterations.map((i) => i.blackout!.phases.find((p) => p.name === 'restore')!.ms);
  t.true(restore.every((ms) => ms >= delayMs), `the restore phase holds the planted ${delayMs} ms: ${restore.join(', ')}`);
  const console = readFileSync(join(slow, slowRun.artifacts.find((x) => /boot 1/.test(x.name))!.path), 'utf8');
  t.regex(console, new RegExp(`LUO-HARNESS-MARK agent-restore-delay ms=${delayMs}`), 'the delay happened in the guest, and said so');
});

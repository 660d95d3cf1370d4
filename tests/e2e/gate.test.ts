// The CI gate for real: `run --baseline` on real live updates exits 1 and
// names the metric against an impossible baseline, and 0 against a generous one.
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

const run = (baseline: string, out: string) =>
  execa('node', [cli, 'run', '--scenarios', 'memfd-basic', '--iterations', '3', '--baseline', baseline, '--out', out, '--junit', join(out, 'copy.xml')], { reject: false });

test.serial('an impossible baseline fails the run with exit 1, naming the metric', async (t) => {
  const r = await run(baselineAt(5, join(work, 'impossible.json')), join(work, 'impossible'));
  t.is(r.exitCode, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /REGRESSION .*memfd-basic\/blackout\.totalMs/);
  t.regex(r.stdout, /metric regression\(s\): memfd-basic\/blackout\.totalMs/);
  t.regex(readFileSync(join(work, 'impossible', 'copy.xml'), 'utf8'), /<testsuites/);
});

test.serial('a generous baseline passes the same run with exit 0', async (t) => {
  const r = await run(baselineAt(600_000, join(work, 'generous.json')), join(work, 'generous'));
  t.is(r.exitCode, 0, r.stdout + r.stderr);
  t.notRegex(r.stdout, /REGRESSION/);
  const results = JSON.parse(readFileSync(join(work, 'generous', 'results.json'), 'utf8')) as RunResult;
  t.is(results.scenarios[0]!.iterations.length, 3);
});

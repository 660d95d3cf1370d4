import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baselineCommand, parseThresholdFor } from '../../../harness/cli/baseline.ts';
import { parsePercent } from '../../../harness/cli/args.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { readBaselineFile } from '../../../harness/report/baseline.ts';
import { run, scenario } from '../report/synthetic.ts';
import { capture, scratch, writeResultsDir } from './results-dirs.ts';

/** A baseline from two runs, and results directories 1x and 1.3x as slow. */
async function fixture() {
  const root = await scratch('gate');
  const b1 = await writeResultsDir(join(root, 'b1'), run({ runId: 'b1' }));
  const b2 = await writeResultsDir(join(root, 'b2'), run({ runId: 'b2' }, 1.01));
  const same = await writeResultsDir(join(root, 'same'), run({ runId: 'same' }, 1.005));
  const slow = await writeResultsDir(join(root, 'slow'), run({ runId: 'slow' }, 1.3));
  const file = join(root, 'baseline.json');
  const io = capture();
  const code = await baselineCommand(['save', b1, b2, '--out', file], io.out);
  return { root, file, same, slow, code, saved: io.lines };
}

test('save: samples of every run, passed iterations only', async (t) => {
  const f = await fixture();
  t.is(f.code, 0);
  t.regex(f.saved[0]!, /^wrote .*baseline\.json: 32 metric\(s\) from 2 run\(s\), 4\.\.10 sample\(s\) each$/);
  const b = await readBaselineFile(f.file);
  t.deepEqual(b.runs, ['b1', 'b2']);
  t.is(b.metrics['memfd-basic/blackout.totalMs']!.samples.length, 10);
  t.is(b.metrics['memfd-1g/blackout.totalMs']!.samples.length, 4, 'the failed iteration of each run is left out');
  t.false('iommufd-ioas/blackout.totalMs' in b.metrics);
});

test('save: nothing measured is bad input, and --out is required', async (t) => {
  const root = await scratch('empty');
  const dir = await writeResultsDir(join(root, 'r'), run({ scenarios: [scenario('only-skip', 'skip', [], { checks: [] })] }));
  await t.throwsAsync(baselineCommand(['save', dir, '--out', join(root, 'b.json')], capture().out), { instanceOf: ConfigError, message: /No passed iteration with figures/ });
  await t.throwsAsync(baselineCommand(['save', dir], capture().out), { instanceOf: ConfigError, message: /needs --out FILE/ });
});

test('compare: an unchanged run exits 0 and prints one sentence per metric', async (t) => {
  const f = await fixture();
  const io = capture();
  t.is(await baselineCommand(['compare', f.same, '--baseline', f.file], io.out), 0);
  t.is(io.lines.length, 32 + 1);
  t.regex(io.lines.find((l) => l.includes('memfd-basic/blackout.totalMs'))!, /^OK memfd-basic\/blackout\.totalMs: median/);
  // memfd-1g has too few passed iterations to judge: the third outcome, which still exits 0.
  t.regex(io.lines.at(-1)!, /^GATE: not enough evidence to judge memfd-1g\/blackout\.totalMs \(n=2 vs n=4\)/);
  t.is(await baselineCommand(['compare', f.same, '--baseline', f.file, '--strict'], capture().out), 1, '--strict fails on it');
});

test('compare: a 30% slower run is a regression, exit 1', async (t) => {
  const f = await fixture();
  const io = capture();
  const md = join(f.root, 'gate.md');
  t.is(await baselineCommand(['compare', f.slow, '--baseline', f.file, '--markdown', md], io.out), 1);
  t.true(io.lines.some((l) => /^REGRESSION memfd-basic\/blackout\.totalMs: .*\+2\d\.\d%/.test(l)));
  // Two passed iterations of memfd-1g per run: too few to judge a 30% change against a 10% threshold.
  t.regex(io.lines.find((l) => l.includes('memfd-1g/blackout.totalMs'))!, /^NOT ENOUGH EVIDENCE/);
  // Only the totals are gated; the phases that grew are reported as SLOWER (not gated).
  t.regex(io.lines.at(-1)!, /^GATE: 3 regression\(s\): memfd-256m\/blackout\.totalMs, memfd-64m\/blackout\.totalMs, memfd-basic\/blackout\.totalMs$/);
  t.true(io.lines.some((l) => /^SLOWER \(not gated\) memfd-basic\/blackout\.kernelInitMs/.test(l)));
  const summary = await readFile(md, 'utf8');
  t.regex(summary, /\*\*Baseline gate:\*\* GATE: 3 regression\(s\)/);
  t.regex(summary, /^❌ \*\*1 of 5 scenario\(s\) failed: memfd-1g; 3 metric regression\(s\)/);
  // --gate all gates every metric that grew.
  const all = capture();
  t.is(await baselineCommand(['compare', f.slow, '--baseline', f.file, '--gate', 'all'], all.out), 1);
  t.regex(all.lines.at(-1)!, /^GATE: 2\d regression\(s\)/);
});

test('compare: --threshold and --threshold-for move the line', async (t) => {
  const f = await fixture();
  t.is(await baselineCommand(['compare', f.slow, '--baseline', f.file, '--threshold', '40%'], capture().out), 0);
  const io = capture();
  t.is(await baselineCommand(['compare', f.slow, '--baseline', f.file, '--threshold-for', 'blackout.totalMs=40%', '--threshold-for', 'memfd-basic/blackout.totalMs=10'], io.out), 1);
  const regressed = io.lines.filter((l) => l.startsWith('REGRESSION')).map((l) => l.split(':')[0]);
  t.deepEqual(regressed, ['REGRESSION memfd-basic/blackout.totalMs']);
});

test('compare: a missing baseline or results file is bad input naming it', async (t) => {
  const f = await fixture();
  const absent = join(f.root, 'absent.json');
  await t.throwsAsync(baselineCommand(['compare', f.same, '--baseline', absent], capture().out), { instanceOf: ConfigError, message: new RegExp(`Cannot read the baseline file ${absent}`) });
  await t.throwsAsync(baselineCommand(['compare', f.root, '--baseline', f.file], capture().out), { instanceOf: ConfigError, message: /No results\.json in / });
  await t.throwsAsync(baselineCommand(['compare', f.same], capture().out), { instanceOf: ConfigError, message: /needs --baseline FILE/ });
  await t.throwsAsync(baselineCommand(['compare', f.same, '--baseline', f.file, '--threshold', 'ten'], capture().out), { instanceOf: ConfigError, message: /--threshold expects a percentage/ });
  await t.throwsAsync(baselineCommand(['frobnicate'], capture().out), { instanceOf: ConfigError, message: /unknown subcommand "baseline frobnicate"/ });
});

test('percentages: 10% and 10 mean ten percent; a bare fraction is refused as ambiguous', (t) => {
  t.is(parsePercent('10%', 'x'), 0.1);
  t.is(parsePercent('10', 'x'), 0.1);
  t.is(parsePercent('2.5%', 'x'), 0.025);
  t.is(parsePercent('0.5%', 'x'), 0.005);
  t.throws(() => parsePercent('0.1', '--threshold'), { instanceOf: ConfigError, message: /--threshold 0\.1 is ambiguous: write 10% or 0\.1%/ });
  t.throws(() => parsePercent('0%', 'x'), { instanceOf: ConfigError, message: /above 0%/ });
  t.throws(() => parsePercent('-5%', 'x'), { instanceOf: ConfigError });
  t.deepEqual(parseThresholdFor(['blackout.totalMs=15%', 'a/b=5']), { 'blackout.totalMs': { relative: 0.15 }, 'a/b': { relative: 0.05 } });
  t.throws(() => parseThresholdFor(['blackout.totalMs']), { instanceOf: ConfigError, message: /METRIC=PCT/ });
});

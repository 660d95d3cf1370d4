import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compareMetric, compareToBaseline, DEFAULT_THRESHOLDS, gateLine, parseBaseline, readBaselineFile, saveBaseline, writeBaselineFile } from '../../../harness/report/baseline.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { run, samples } from './synthetic.ts';
import { scratchDir } from '../../helpers/scratch.ts';

const T = DEFAULT_THRESHOLDS;
const KEY = 'memfd-basic/blackout.totalMs';

test('saveBaseline keys samples by scenario/metric from passing iterations only', (t) => {
  const b = saveBaseline(run(), new Date('2026-11-25T18:00:00Z'));
  t.is(b.schema, 1);
  t.deepEqual(b.runs, ['run-20261125-1700']);
  t.is(b.metrics[KEY]!.samples.length, 5);
  t.is(b.metrics[KEY]!.summary.n, 5);
  t.truthy(b.metrics['memfd-basic/blackout.kernelInitMs']);
  // memfd-1g failed its last iteration: only the two passing ones count.
  t.is(b.metrics['memfd-1g/blackout.totalMs']!.samples.length, 2);
  t.false(Object.keys(b.metrics).some((k) => k.startsWith('iommufd-ioas/')));
  t.deepEqual(Object.keys(b.metrics), [...Object.keys(b.metrics)].sort());
});

test('a true regression is flagged, with every figure in one sentence', (t) => {
  const v = compareMetric(KEY, samples(8, 1000, 0.04, 1), samples(8, 1250, 0.04, 2), T);
  t.is(v.kind, 'regression');
  t.true(v.ci!.low > 0);
  t.true(v.p! < 0.05);
  t.regex(v.sentence, /^REGRESSION memfd-basic\/blackout\.totalMs: median 12\d\d ms vs baseline (9|10)\d\d ms/);
  t.regex(v.sentence, /threshold 10%/);
  t.regex(v.sentence, /95% CI of the difference \[\+\d+, \+\d+\] ms/);
  t.regex(v.sentence, /n=8 current vs n=8 baseline/);
});

test('noise only: no regression even when the medians differ', (t) => {
  // Wide noise (±30 %), same centre, different seeds.
  for (let seed = 1; seed < 20; seed++) {
    const v = compareMetric(KEY, samples(6, 1000, 0.3, seed), samples(6, 1000, 0.3, seed + 100), T);
    t.not(v.kind, 'regression', v.sentence);
  }
});

test('a real change below the threshold is not a regression', (t) => {
  const v = compareMetric(KEY, samples(10, 1000, 0.01, 3), samples(10, 1050, 0.01, 4), T);
  t.is(v.kind, 'unchanged');
  t.regex(v.sentence, /real but below the margin/);
});

test('a large but noisy change is "within noise"', (t) => {
  const base = [1000, 1400, 900, 1500, 950];
  const cur = [1000, 1500, 1250, 1600, 900];
  const v = compareMetric(KEY, base, cur, T);
  t.is(v.kind, 'unchanged');
  t.regex(v.sentence, /within the baseline's own spread/);
});

test('floors hold on every path: a few ms of shutdown is never a regression', (t) => {
  const key = 'memfd-basic/blackout.shutdownMs';
  // +2.7 ms (+48 %) with every statistic agreeing: still below the 20 ms floor.
  const v = compareMetric(key, samples(8, 5.6, 0.02, 5), samples(8, 8.3, 0.02, 6), { ...T, gate: 'all' });
  t.is(v.kind, 'unchanged');
  t.regex(v.sentence, /floor 20 ms/);
  // The small-sample path too: n=1 against n=1.
  t.is(compareMetric(key, [5.6], [8.3], { ...T, gate: 'all' }).kind, 'insufficient-evidence');
  // An explicit floor overrides the default, per metric and per key (key beats metric).
  const purg = 'memfd-basic/blackout.kexecJumpMs';
  const base = samples(8, 400, 0.02, 5);
  const cur = samples(8, 480, 0.02, 6);
  t.is(compareMetric(purg, base, cur, { ...T, gate: 'all' }).kind, 'regression');
  const w = compareMetric(purg, base, cur, { ...T, gate: 'all', perMetric: { 'blackout.kexecJumpMs': { absolute: 100 } } });
  t.is(w.kind, 'unchanged');
  t.regex(w.sentence, /threshold 10%, floor 100 ms/);
  const x = compareMetric(purg, base, cur, { ...T, perMetric: { 'blackout.kexecJumpMs': { absolute: 100 }, [purg]: { relative: 0.5 } } });
  t.deepEqual(x.threshold, { relative: 0.5, absolute: 100 });
});

test('the baseline\'s own spread widens the margin', (t) => {
  // Baseline spread ±15 %: a +12 % shift beats the 10 % threshold but not twice the spread.
  const base = [850, 1000, 1150, 900, 1100, 950, 1050, 1000];
  const cur = base.map((x) => x * 1.12);
  const v = compareMetric(KEY, base, cur, T);
  t.true(v.margin! > 0.12 * 1000, `margin ${v.margin}`);
  t.not(v.kind, 'regression', v.sentence);
});

test('phases are compared but not gated by default; the total and the heartbeat gap are', (t) => {
  const base = samples(8, 800, 0.02, 5);
  const cur = samples(8, 1200, 0.02, 6);
  const phase = compareMetric('memfd-basic/blackout.kexecJumpMs', base, cur, T);
  t.is(phase.kind, 'regression');
  t.false(phase.gated);
  t.regex(phase.sentence, /^SLOWER \(not gated\) /);
  t.true(compareMetric('memfd-basic/workloadGapMs', base, cur, T).gated);
  t.true(compareMetric(KEY, base, cur, T).gated);
  t.true(compareMetric('memfd-basic/blackout.kexecJumpMs', base, cur, { ...T, gate: ['blackout.kexecJumpMs'] }).gated);
  t.true(compareMetric('memfd-basic/blackout.kexecJumpMs', base, cur, { ...T, gate: ['memfd-basic/blackout.kexecJumpMs'] }).gated);
});

test('fewer than 5 samples a side: not enough evidence, unless the change is beyond doubt', (t) => {
  const small = compareMetric(KEY, [1000, 1010, 990, 1005], [1200, 1210, 1190, 1205], T);
  t.is(small.kind, 'insufficient-evidence');
  t.regex(small.sentence, /^NOT ENOUGH EVIDENCE .*n=4 current vs n=4 baseline, the gate needs 5 on each side/);
  t.is(small.ci, undefined);
  // The unchanged-kernel case of a single live update each: +52 % of a phase, +20 % of the total.
  t.is(compareMetric(KEY, [2000], [2400], T).kind, 'insufficient-evidence');
  const huge = compareMetric(KEY, [1000, 1010], [1400], T);
  t.is(huge.kind, 'regression');
  t.regex(huge.sentence, /too few samples .* beyond doubt/);
  // Beyond 3x the threshold but overlapping the baseline: not beyond doubt.
  t.is(compareMetric(KEY, [1000, 1500], [1450, 1500], T).kind, 'insufficient-evidence');
});

test('5 vs 5 fully separated by +30 %: a regression', (t) => {
  const v = compareMetric(KEY, [1960, 1974, 1994, 2049, 1930], [2560, 2574, 2594, 2649, 2530], T);
  t.is(v.kind, 'regression');
  t.true(v.p! < 0.01);
});

test('improvements and missing metrics are reported, not gated', (t) => {
  const better = compareMetric(KEY, samples(8, 1000, 0.02, 7), samples(8, 700, 0.02, 8), T);
  t.is(better.kind, 'improvement');
  const b = saveBaseline(run());
  const cur = run({ scenarios: run().scenarios.filter((s) => s.name !== 'memfd-256m') });
  const cmp = compareToBaseline(b, cur);
  t.is(cmp.verdicts.find((v) => v.key === 'memfd-256m/blackout.totalMs')!.kind, 'missing-current');
  t.is(cmp.regressions.length, 0);
});

test('compareToBaseline on whole runs: a 20 % slowdown regresses every gated total; the gate decides its outcome', (t) => {
  const b = saveBaseline(run());
  const same = compareToBaseline(b, run());
  t.is(same.regressions.length, 0);
  const slow = compareToBaseline(b, run({}, 1.2));
  const keys = slow.regressions.map((v) => v.key);
  t.true(keys.includes(KEY));
  t.true(keys.includes('memfd-64m/blackout.totalMs'));
  t.true(keys.every((k) => k.endsWith('/blackout.totalMs')), 'only totals are gated by default');
  t.is(slow.outcome, 'regression');
  // memfd-1g has 2 passing samples: 20 % is below 3x10 %, so only "not enough evidence".
  t.is(slow.verdicts.find((v) => v.key === 'memfd-1g/blackout.totalMs')!.kind, 'insufficient-evidence');
  t.deepEqual(same.undecided.map((v) => v.key), ['memfd-1g/blackout.totalMs']);
  t.is(same.outcome, 'insufficient-evidence');
  t.regex(gateLine(same), /^GATE: not enough evidence to judge memfd-1g\/blackout\.totalMs \(n=2 vs n=2\); .*Exit 0/);
  t.regex(gateLine(same, true), /Failing because of --strict/);
});

test('baseline file round trip and schema check', async (t) => {
  const dir = scratchDir('luo-baseline-');
  const path = join(dir, 'baseline.json');
  const b = saveBaseline(run());
  await writeBaselineFile(path, b);
  t.deepEqual(await readBaselineFile(path), b);
  await writeFile(path, JSON.stringify({ ...b, schema: 2 }));
  await t.throwsAsync(readBaselineFile(path), { instanceOf: ConfigError, message: /schema 1/ });
  await t.throwsAsync(readBaselineFile(join(dir, 'missing.json')), { instanceOf: ConfigError });
  t.throws(() => parseBaseline('{"schema":1,"metrics":{"a/b":{"samples":["x"]}}}'), { instanceOf: ConfigError, message: /a\/b/ });
});

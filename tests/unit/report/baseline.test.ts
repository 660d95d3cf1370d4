import test from 'ava';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareMetric, compareToBaseline, DEFAULT_THRESHOLDS, parseBaseline, readBaselineFile, saveBaseline, writeBaselineFile } from '../../../harness/report/baseline.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { run, samples } from './synthetic.ts';

const T = DEFAULT_THRESHOLDS;
const KEY = 'memfd-basic/blackout.totalMs';

test('saveBaseline keys samples by scenario/metric from passing iterations only', (t) => {
  const b = saveBaseline(run(), new Date('2026-11-25T18:00:00Z'));
  t.is(b.schema, 1);
  t.deepEqual(b.runs, ['run-20261125-1700']);
  t.is(b.metrics[KEY]!.samples.length, 5);
  t.is(b.metrics[KEY]!.summary.n, 5);
  t.truthy(b.metrics['memfd-basic/blackout.kernelBootMs']);
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
  t.regex(v.sentence, /real but below the threshold/);
});

test('a large but noisy change is "within noise"', (t) => {
  const base = [1000, 1400, 900, 1500, 950];
  const cur = [1000, 1500, 1250, 1600, 900];
  const v = compareMetric(KEY, base, cur, T);
  t.is(v.kind, 'unchanged');
  t.regex(v.sentence, /within noise/);
});

test('absolute floor: a 20 % change of a tiny phase stays below a 50 ms floor', (t) => {
  const key = 'memfd-basic/blackout.purgatoryMs';
  const base = samples(8, 40, 0.02, 5);
  const cur = samples(8, 48, 0.02, 6);
  t.is(compareMetric(key, base, cur, T).kind, 'regression');
  const v = compareMetric(key, base, cur, { ...T, perMetric: { 'blackout.purgatoryMs': { absolute: 50 } } });
  t.is(v.kind, 'unchanged');
  t.regex(v.sentence, /threshold 10% and 50 ms/);
  // Per-key override beats per-metric.
  const w = compareMetric(key, base, cur, { ...T, perMetric: { 'blackout.purgatoryMs': { absolute: 50 }, [key]: { relative: 0.5 } } });
  t.deepEqual(w.threshold, { relative: 0.5, absolute: 50 });
});

test('tiny samples: insufficient unless beyond 3x the threshold', (t) => {
  const small = compareMetric(KEY, [1000, 1010], [1200, 1210], T);
  t.is(small.kind, 'insufficient-samples');
  t.regex(small.sentence, /INSUFFICIENT SAMPLES .*n=2 current vs n=2 baseline/);
  t.is(small.ci, undefined);
  const huge = compareMetric(KEY, [1000, 1010], [1400], T);
  t.is(huge.kind, 'regression');
  t.regex(huge.sentence, /too few samples .* exceeds 3x the threshold/);
});

test('3 vs 3 fully separated: the CI decides because Mann-Whitney cannot reach alpha', (t) => {
  const v = compareMetric(KEY, [1000, 1010, 990], [1300, 1310, 1290], T);
  t.is(v.kind, 'regression');
  t.regex(v.sentence, /cannot reach alpha/);
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

test('compareToBaseline on whole runs: a 20 % slowdown regresses every scenario total', (t) => {
  const b = saveBaseline(run());
  const same = compareToBaseline(b, run());
  t.is(same.regressions.length, 0);
  const slow = compareToBaseline(b, run({}, 1.2));
  const keys = slow.regressions.map((v) => v.key);
  t.true(keys.includes(KEY));
  t.true(keys.includes('memfd-64m/blackout.totalMs'));
  // memfd-1g has 2 passing samples: 20 % is below 3x10 %, so only "insufficient".
  t.is(slow.verdicts.find((v) => v.key === 'memfd-1g/blackout.totalMs')!.kind, 'insufficient-samples');
});

test('baseline file round trip and schema check', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'luo-baseline-'));
  const path = join(dir, 'baseline.json');
  const b = saveBaseline(run());
  await writeBaselineFile(path, b);
  t.deepEqual(await readBaselineFile(path), b);
  await writeFile(path, JSON.stringify({ ...b, schema: 2 }));
  await t.throwsAsync(readBaselineFile(path), { instanceOf: ConfigError, message: /schema 1/ });
  await t.throwsAsync(readBaselineFile(join(dir, 'missing.json')), { instanceOf: ConfigError });
  t.throws(() => parseBaseline('{"schema":1,"metrics":{"a/b":{"samples":["x"]}}}'), { instanceOf: ConfigError, message: /a\/b/ });
});

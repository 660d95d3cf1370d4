import test from 'ava';
import { bootstrapMedianDiff, mad, mannWhitneyU, mean, median, normalCdf, p95, quantile, seededRandom, stddev, summarize } from '../../../harness/report/stats.ts';
import { samples } from './synthetic.ts';

test('median, quantile (linear interpolation, type 7) and p95', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  // h = (n-1)p = 3 * 0.25 = 0.75 -> 10 + 0.75 * (20 - 10)
  t.is(quantile([40, 10, 30, 20], 0.25), 17.5);
  // numpy.percentile([1..10], 95) == 9.55
  t.is(Number(p95([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).toFixed(10)), 9.55);
  t.is(quantile([7], 0.95), 7);
  t.throws(() => median([]), { instanceOf: RangeError });
  t.throws(() => quantile([1], 1.5), { instanceOf: RangeError });
});

test('mean, sample stddev, MAD', (t) => {
  t.is(mean([2, 4, 4, 4, 5, 5, 7, 9]), 5);
  t.is(Number(stddev([2, 4, 4, 4, 5, 5, 7, 9]).toFixed(6)), 2.13809);
  t.is(stddev([5]), 0);
  // deviations from median 4: 3,2,0,0,1,1,3,5 -> median 1.5
  t.is(mad([1, 2, 4, 4, 5, 5, 7, 9]), 1.5);
  const s = summarize([5, 1, 3]);
  t.deepEqual([s.n, s.min, s.max, s.median], [3, 1, 5, 3]);
});

test('seeded PRNG is deterministic and uniform enough', (t) => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 10000 }, () => a());
  t.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()));
  t.true(xs.every((x) => x >= 0 && x < 1));
  t.true(Math.abs(mean(xs) - 0.5) < 0.02);
  t.notDeepEqual(seededRandom(1)(), seededRandom(2)());
});

test('normal CDF', (t) => {
  t.is(Number(normalCdf(0).toFixed(6)), 0.5);
  t.is(Number(normalCdf(1.959964).toFixed(4)), 0.975);
  t.is(Number(normalCdf(-1).toFixed(4)), 0.1587);
});

test('bootstrap CI of the median difference: deterministic, excludes 0 for a true shift, covers 0 for noise', (t) => {
  const base = samples(10, 1000, 0.05, 11);
  const slower = samples(10, 1200, 0.05, 12);
  const same = samples(10, 1000, 0.05, 13);
  const ci = bootstrapMedianDiff(base, slower, { seed: 7 });
  t.deepEqual(ci, bootstrapMedianDiff(base, slower, { seed: 7 }));
  t.true(ci.low > 100 && ci.high < 300, `CI [${ci.low}, ${ci.high}]`);
  t.is(ci.estimate, median(slower) - median(base));
  const noise = bootstrapMedianDiff(base, same, { seed: 7 });
  t.true(noise.low < 0 && noise.high > 0, `CI [${noise.low}, ${noise.high}]`);
});

test('Mann-Whitney U: exact for small untied samples', (t) => {
  // Fully separated 5 vs 5: U = 0, p = 2 / C(10,5) = 2/252.
  const r = mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
  t.is(r.method, 'exact');
  t.is(r.u, 0);
  t.is(Number(r.p.toFixed(6)), Number((2 / 252).toFixed(6)));
  t.true(r.reliable);
  // 3 vs 3 can never reach 0.05: the smallest two-sided p is 2/20.
  const small = mannWhitneyU([1, 2, 3], [4, 5, 6]);
  t.is(small.minAttainableP, 0.1);
  t.is(small.p, 0.1);
  // a=[1,3,5], b=[2,4,6,8]: U = 3 (3>2, 5>2, 5>4); of the C(7,3) = 35 orderings, 1+1+2+3 = 7 have U <= 3, so p = 2 * 7/35.
  const mixed = mannWhitneyU([1, 3, 5], [2, 4, 6, 8]);
  t.is(mixed.u, 3);
  t.is(Number(mixed.p.toFixed(4)), Number(((2 * 7) / 35).toFixed(4)));
  t.false(mannWhitneyU([1, 2], [3, 4, 5]).reliable);
});

test('Mann-Whitney U: normal approximation with ties', (t) => {
  const a = [10, 10, 11, 12, 12, 12, 13, 14, 14, 15];
  const b = [14, 15, 15, 16, 16, 17, 18, 18, 19, 20];
  const r = mannWhitneyU(a, b);
  t.is(r.method, 'normal');
  t.true(r.p < 0.01, `p=${r.p}`);
  t.true(r.reliable);
  const tiesOnly = mannWhitneyU([5, 5, 5], [5, 5, 5]);
  t.is(tiesOnly.p, 1);
});

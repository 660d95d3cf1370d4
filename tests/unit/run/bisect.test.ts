// The search over a series' prefixes: the first failing one, in at most
// ceil(log2(N+1)) tries of the series, for every place the culprit can be.
import test from 'ava';
import { findFirstChange, findFirstFailing, stackFirsts } from '../../../harness/run/bisect.ts';
import type { Status } from '../../../harness/report/result.ts';

const search = async (n: number, culprit: number | undefined, baseFails = false) => {
  const tried: number[] = [];
  const found = await findFirstFailing(n, async (k) => {
    tried.push(k);
    if (k === 0) return !baseFails;
    return culprit === undefined || k < culprit;
  });
  return { found, tried };
};

test('every culprit position of series of 1 to 16 patches is found within ceil(log2(N+1)) tries', async (t) => {
  for (let n = 1; n <= 16; n++) {
    for (const culprit of [...Array.from({ length: n }, (_, i) => i + 1), undefined]) {
      const { found, tried } = await search(n, culprit);
      t.is(found, culprit, `n=${n} culprit=${culprit}`);
      const ofSeries = tried.filter((k) => k > 0);
      t.true(ofSeries.length <= Math.ceil(Math.log2(n + 1)), `n=${n} culprit=${culprit}: tried ${tried.join(',')}`);
      t.is(new Set(tried).size, tried.length, 'no prefix is tried twice');
    }
  }
});

test('the 4-patch series with patch 3 breaking: prefixes 3 then 2', async (t) => {
  t.deepEqual(await search(4, 3), { found: 3, tried: [3, 2] });
});

test('blaming patch 1 checks the base first: a base that fails already blames no patch', async (t) => {
  t.deepEqual(await search(4, 1), { found: 1, tried: [3, 2, 1, 0] });
  t.is((await search(4, 1, true)).found, 0);
});

test('a series whose every prefix passes has no culprit', async (t) => {
  t.deepEqual(await search(4, undefined), { found: undefined, tried: [3, 4] });
});

test('a capability\'s verdict that changes (unsupported -> pass) is found at its first patch, after the base and the whole stack, within ceil(log2(N)) more tries', async (t) => {
  for (let n = 1; n <= 33; n++) {
    for (let at = 1; at <= n; at++) {
      const tried: number[] = [];
      const seen = new Map<number, Status>();
      const change = await findFirstChange(n, async (k) => {
        if (!seen.has(k)) {
          tried.push(k);
          seen.set(k, k >= at ? 'pass' : 'unsupported');
        }
        return seen.get(k)!;
      });
      t.deepEqual(change, { from: 'unsupported', to: 'pass', at }, `n=${n} at=${at}`);
      t.deepEqual(tried.slice(0, 2), [0, n]);
      t.true(tried.length - 2 <= Math.ceil(Math.log2(n)), `n=${n} at=${at}: tried ${tried.join(',')}`);
    }
  }
});

test('a verdict met on the way (unsupported, then fail, then pass) does not stop the search: the patch named is where the stack\'s verdict starts to hold', async (t) => {
  const verdict = (k: number): Status => (k < 17 ? 'unsupported' : k < 20 ? 'fail' : 'pass');
  t.deepEqual(await findFirstChange(32, async (k) => verdict(k)), { from: 'unsupported', to: 'pass', at: 20 });
});

test('a verdict the whole stack keeps is no change, after two tries; a pass that breaks is found the same way', async (t) => {
  const tried: number[] = [];
  t.deepEqual(await findFirstChange(32, async (k) => (tried.push(k), 'unsupported')), { from: 'unsupported' });
  t.deepEqual(tried, [0, 32]);
  t.deepEqual(await findFirstChange(4, async (k) => (k >= 3 ? 'fail' : 'pass')), { from: 'pass', to: 'fail', at: 3 });
});

test('stacked series: the first k patches of the stack, per series', (t) => {
  t.deepEqual(stackFirsts([12, 20], 0), [0, 0]);
  t.deepEqual(stackFirsts([12, 20], 5), [5, 0]);
  t.deepEqual(stackFirsts([12, 20], 12), [undefined, 0]);
  t.deepEqual(stackFirsts([12, 20], 17), [undefined, 5]);
  t.deepEqual(stackFirsts([12, 20], 32), [undefined, undefined]);
});

import test from 'ava';
import { ConfigError } from '../../../harness/errors.ts';
import { assignShards, fnv1a, mergeShardResults, parseShard, selectShard } from '../../../harness/report/shard.ts';
import { overallVerdict } from '../../../harness/report/result.ts';
import { run } from './synthetic.ts';

const NAMES = Array.from({ length: 23 }, (_, i) => `scenario-${String.fromCharCode(97 + (i % 26))}${i}`);

test('parseShard accepts i/n and explains what is wrong', (t) => {
  t.deepEqual(parseShard('2/4'), { index: 2, count: 4 });
  t.deepEqual(parseShard(' 1 / 1 '), { index: 1, count: 1 });
  t.throws(() => parseShard('0/4'), { instanceOf: ConfigError, message: /numbered from 1/ });
  t.throws(() => parseShard('5/4'), { instanceOf: ConfigError, message: /between 1 and 4/ });
  t.throws(() => parseShard('1/0'), { instanceOf: ConfigError, message: /at least 1/ });
  t.throws(() => parseShard('2of4'), { instanceOf: ConfigError, message: /i\/n such as 2\/4/ });
  t.throws(() => parseShard('-1/4'), { instanceOf: ConfigError });
});

test('fnv1a is the standard 32-bit FNV-1a', (t) => {
  t.is(fnv1a(''), 0x811c9dc5);
  t.is(fnv1a('a'), 0xe40c292c);
  t.is(fnv1a('foobar'), 0xbf9cf968);
});

test('partition is complete, disjoint and balanced', (t) => {
  for (const n of [1, 2, 3, 4, 7, 23, 30]) {
    const parts = Array.from({ length: n }, (_, i) => selectShard(NAMES, { index: i + 1, count: n }));
    const all = parts.flat();
    t.is(all.length, NAMES.length, `n=${n}`);
    t.deepEqual([...all].sort(), [...NAMES].sort());
    const cap = Math.ceil(NAMES.length / n);
    t.true(parts.every((p) => p.length <= cap), `n=${n}: ${parts.map((p) => p.length)}`);
  }
});

test('assignment does not depend on list order', (t) => {
  const a = assignShards(NAMES, 4);
  const b = assignShards([...NAMES].reverse(), 4);
  const c = assignShards([...NAMES].sort(), 4);
  t.deepEqual([...a].sort(), [...b].sort());
  t.deepEqual([...a].sort(), [...c].sort());
  // Selection keeps the caller's order.
  const s = selectShard(NAMES, { index: 1, count: 4 });
  t.deepEqual(s, NAMES.filter((x) => s.includes(x)));
});

test('names that remain mostly keep their shard when others come and go', (t) => {
  const before = assignShards(NAMES, 4);
  const after = assignShards([...NAMES.slice(0, 20), 'new-one', 'new-two'], 4);
  const moved = NAMES.slice(0, 20).filter((n) => before.get(n) !== after.get(n));
  t.true(moved.length <= 5, `moved: ${moved.join(', ')}`);
});

test('duplicate names are refused', (t) => {
  t.throws(() => assignShards(['a', 'b', 'a'], 2), { instanceOf: ConfigError, message: /"a" is listed twice/ });
});

test('merging shard results gives one run; overlapping shards are refused', (t) => {
  const full = run();
  const a = { ...full, scenarios: full.scenarios.slice(0, 2), finishedAt: '2026-11-25T17:02:00.000Z' };
  const b = { ...full, scenarios: full.scenarios.slice(2), startedAt: '2026-11-25T16:59:00.000Z', kernels: { other: { release: 'x' } } };
  const m = mergeShardResults([b, a]);
  t.deepEqual(
    m.scenarios.map((s) => s.name),
    full.scenarios.map((s) => s.name).sort(),
  );
  t.is(m.startedAt, '2026-11-25T16:59:00.000Z');
  t.is(m.finishedAt, full.finishedAt);
  t.is(m.runId, full.runId);
  t.deepEqual(Object.keys(m.kernels).sort(), ['luo-7.2', 'other']);
  t.is(overallVerdict(m).exitCode, overallVerdict(full).exitCode);
  t.throws(() => mergeShardResults([a, a]), { instanceOf: ConfigError, message: /appears in two shard results/ });
  t.throws(() => mergeShardResults([]), { instanceOf: ConfigError });
});

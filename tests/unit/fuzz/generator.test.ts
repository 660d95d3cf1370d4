// Programs come from their seed alone, end in a kexec, stay within their
// limits, and aim at the corners: over a few hundred programs the model
// predicts every interesting refusal at least once.
import test from 'ava';
import { DEFAULT_LIMITS, generateProgram, mutateProgram } from '../../../harness/fuzz/generator.ts';
import { EdgeSet, edgesOf } from '../../../harness/fuzz/guidance.ts';
import { Model, outcomeClass } from '../../../harness/fuzz/model.ts';
import { OP_NAMES, expand, parseOp, type Op } from '../../../harness/fuzz/ops.ts';
import { Rng, programSeed } from '../../../harness/fuzz/rng.ts';

const programs = Array.from({ length: 300 }, (_, i) => generateProgram(programSeed(1234, i)));

test('the same seed gives the same program; other seeds give others', (t) => {
  t.deepEqual(generateProgram(99), generateProgram(99));
  t.deepEqual(generateProgram(programSeed(1234, 5)), programs[5]);
  t.notDeepEqual(generateProgram(99).ops, generateProgram(100).ops);
  t.not(programSeed(1, 0), programSeed(1, 1));
  t.not(programSeed(1, 0), programSeed(2, 0));
});

test('the PRNG is splitmix64: fixed values for a fixed seed, on every machine', (t) => {
  const r = new Rng(0);
  t.is(r.next64(), 0xe220a8397b1dcdafn);
  t.is(r.next64(), 0x6e789e6aa1b965f4n);
  const ints = Array.from({ length: 1000 }, () => r.int(3, 5));
  t.true(ints.every((x) => x >= 3 && x <= 5) && new Set(ints).size === 3);
});

test('every program ends in a kexec and holds 1 to 3 of them; every op reads back as written', (t) => {
  for (const p of programs) {
    t.is(p.ops.at(-1)!.op, 'kexec');
    const k = p.ops.filter((o) => o.op === 'kexec').length;
    t.true(k >= 1 && k <= DEFAULT_LIMITS.maxKexecs);
    const json = JSON.parse(JSON.stringify(p.ops)) as unknown[];
    t.deepEqual(json.map((o, i) => parseOp(o, `op ${i}`)), p.ops);
  }
  t.true(programs.some((p) => p.ops.filter((o) => o.op === 'kexec').length >= 2), 'some programs hold several kexecs');
  t.true(programs.some((p) => p.ops.length >= 30), 'long sequences occur');
});

test('every operation occurs, and content in flight stays under the limits', (t) => {
  const seen = new Set(programs.flatMap((p) => p.ops.map((o) => o.op)));
  t.deepEqual(OP_NAMES.filter((n) => !seen.has(n)), []);
  for (const p of programs) {
    const model = new Model();
    let large = 0;
    for (const op of p.ops) {
      if (op.op === 'memfd' && op.size >= 32 << 20) large++;
      for (const call of expand(op)) model.commit(call, model.predict(call).expect[0]!);
      t.true(model.bytesInUse() <= DEFAULT_LIMITS.maxBytes, `seed ${p.seed}: ${model.bytesInUse()} bytes in use`);
    }
    t.true(large <= DEFAULT_LIMITS.maxLarge);
  }
});

test('the corners are reached: the model predicts each refusal somewhere in 300 programs', (t) => {
  const pairs = new Set<string>();
  const names = (o: Op) => (o.op === 'create' ? Buffer.byteLength(o.name) : -1);
  for (const p of programs) {
    const model = new Model();
    for (const op of p.ops) {
      for (const call of expand(op)) {
        const e = model.predict(call).expect[0]!;
        pairs.add(`${call.label} -> ${outcomeClass(e)}`);
        model.commit(call, e);
      }
    }
  }
  for (const want of [
    'raw-preserve -> EEXIST', // a token reused
    'raw-preserve -> EBUSY', // a memfd preserved twice, or a retrieved one before its finish
    'raw-preserve -> EINVAL', // into an incoming session
    'raw-preserve -> ENOENT', // a hugetlb memfd
    'raw-preserve:pipe -> ENOENT',
    'raw-preserve:badfd -> EBADF',
    'raw-retrieve -> ENOENT', // a wrong token, or after a finish
    'raw-retrieve -> EINVAL', // from an outgoing session
    'raw-session-create -> EINVAL', // a name past the limit
    'raw-session-create -> EEXIST',
    'raw-session-retrieve -> EINVAL', // twice
    'raw-session-retrieve -> ENOENT',
    'raw-session-finish -> ok',
    'raw-session-finish -> EINVAL',
    'memfd-create:memfd+sealed -> ok',
    'memfd-create:hugetlb -> ok',
    'memfd-create:tmpfile -> ok',
    'kill -> ok',
  ]) t.true(pairs.has(want), want);
  const lengths = new Set(programs.flatMap((p) => p.ops.map(names)));
  for (const n of [0, 63, 64]) t.true(lengths.has(n), `a session name of ${n} bytes`);
  const sizes = programs.flatMap((p) => p.ops.flatMap((o) => (o.op === 'memfd' && !o.hugetlb ? [o.size] : [])));
  t.true(sizes.includes(0) && sizes.some((s) => s >= 32 << 20) && sizes.some((s) => s % 4096 !== 0), 'sizes from 0 to large, some unaligned');
  const counts = programs.flatMap((p) => p.ops.flatMap((o) => (o.op === 'many-fds' || o.op === 'many-sessions' ? [o.count] : [])));
  t.true(counts.some((c) => c >= 50), 'many sessions or fds near a serialization block boundary');
});

test('a corpus program carried on: a prefix of it kept, new operations from the state it built, a kexec at the end, no name handed out twice', (t) => {
  let differs = 0;
  for (const [i, base] of programs.slice(0, 120).entries()) {
    const m = mutateProgram(base.ops, 1000 + i);
    t.deepEqual(mutateProgram(base.ops, 1000 + i), m, 'the same seed carries it on the same way');
    const kept = m.ops.findIndex((op, j) => JSON.stringify(op) !== JSON.stringify(base.ops[j]));
    t.true(kept === -1 || kept >= 1, 'at least the first operation is kept');
    if (JSON.stringify(m.ops) !== JSON.stringify(base.ops)) differs++;
    t.is(m.ops.at(-1)!.op, 'kexec');
    t.true(m.ops.filter((o) => o.op === 'kexec').length <= DEFAULT_LIMITS.maxKexecs + 1);
    const made = m.ops.filter((o) => o.op === 'memfd' || o.op === 'create').map((o) => ('id' in o ? o.id : o.h));
    const creates = m.ops.filter((o): o is Extract<Op, { op: 'memfd' }> => o.op === 'memfd').map((o) => o.id);
    t.is(new Set(creates).size, creates.length, `seed ${1000 + i}: a memfd name made twice in ${JSON.stringify(made)}`);
    const model = new Model();
    for (const op of m.ops) for (const call of expand(op)) model.commit(call, model.predict(call).expect[0]!);
  }
  t.true(differs > 100, `most carried-on programs differ from their parent (${differs} of 120)`);
});

test('edges are the arcs a unit took; the set counts only new ones', (t) => {
  const unit = { filename: 'x.gcda', version: 0, stamp: 0, checksum: 0, functions: [{ ident: 7, linenoChecksum: 0, cfgChecksum: 0, counters: [{ kind: 0, values: [0n, 3n, 1n] }] }] };
  t.deepEqual(edgesOf('kernel/x.c', unit), ['kernel/x.c:7:1', 'kernel/x.c:7:2']);
  const set = new EdgeSet();
  t.is(set.add(edgesOf('kernel/x.c', unit)), 2);
  t.is(set.add(['kernel/x.c:7:2', 'kernel/x.c:7:0']), 1);
  t.is(set.size, 3);
});

// Delta debugging on fake executors: the logic of the slices and of ddmin,
// and, end to end on a kernel simulated by the model with the planted
// series' sealed-memfd bug, a generated program shrunk to the four
// operations that show it.
import test from 'ava';
import { minimize, narrowSlice, slice } from '../../../harness/fuzz/minimize.ts';
import { executeProgram } from '../../../harness/fuzz/executor.ts';
import { generateProgram } from '../../../harness/fuzz/generator.ts';
import { programSeed } from '../../../harness/fuzz/rng.ts';
import type { Op } from '../../../harness/fuzz/ops.ts';
import { ModelKernel, sealedOnePageShort } from './model-kernel.ts';

const ops: Op[] = [
  { op: 'create', h: 'a', name: 's' },
  { op: 'create', h: 'b', name: 't' },
  { op: 'memfd', id: 'm', size: 8192, seed: 1, sealed: true },
  { op: 'memfd', id: 'n', size: 4096, seed: 2 },
  { op: 'preserve', h: 'a', token: '0x1', memfd: 'm' },
  { op: 'preserve', h: 'a', token: '0x2', memfd: 'n' },
  { op: 'preserve', h: 'b', token: '0x1', memfd: 'n' },
  { op: 'get-name', h: 'b' },
  { op: 'kexec' },
  { op: 'retrieve', h: 'i', name: 's' },
  { op: 'retrieve-fd', h: 'i', token: '0x1', id: 'r' },
];

test('slice keeps what shares a handle, id or name with the seeds (to a fixpoint), and every kexec', (t) => {
  const unrelated: Op[] = [{ op: 'create', h: 'c', name: 'u' }, { op: 'memfd', id: 'o', size: 0, seed: 3 }, { op: 'preserve', h: 'c', token: '0x1', memfd: 'o' }];
  const program = [...unrelated, ...ops];
  // r <- i <- "s" <- a <- m, n <- b: everything of the first two sessions, nothing of the third.
  t.deepEqual(slice(program, ['m:r']), ops);
  t.deepEqual(slice(program, ['h:c']), [...unrelated, ops[8]]);
});

test('the narrow slice follows only what defines what the diverging operation uses', (t) => {
  const n = narrowSlice(ops, [], 10);
  t.deepEqual(n, [ops[0], ops[2], ops[4], ops[8], ops[9], ops[10]]);
  // From an audit call: the session name and the token it was after.
  t.deepEqual(narrowSlice(ops.slice(0, 9), ['n:s', 't:0x2']), [ops[0], ops[3], ops[5], ops[8]]);
});

test('ddmin finds the two operations a fake divergence needs, and counts every candidate it runs', async (t) => {
  const items: Op[] = Array.from({ length: 16 }, (_, i) => ({ op: 'memfd', id: `m${i}`, size: 0, seed: i }));
  let runs = 0;
  const needs = (c: Op[]) => c.some((o) => o.op === 'memfd' && o.id === 'm3') && c.some((o) => o.op === 'memfd' && o.id === 'm11');
  const m = await minimize(items, async (c) => (runs++, needs(c)));
  t.deepEqual(m.ops.map((o) => (o.op === 'memfd' ? o.id : '')), ['m3', 'm11']);
  t.is(m.runs, runs, 'every test was a real run');
  t.true(m.complete);
  t.true(runs < 40, `${runs} runs`);
});

test('maxRuns bounds the work and says the result may not be minimal', async (t) => {
  const items: Op[] = Array.from({ length: 32 }, (_, i) => ({ op: 'memfd', id: `m${i}`, size: 0, seed: i }));
  let runs = 0;
  const m = await minimize(items, async (c) => (runs++, c.length >= 3), { maxRuns: 5 });
  t.is(runs, 5);
  t.false(m.complete);
});

test('many-* counts are halved and memfds shrunk to a page while the divergence holds', async (t) => {
  const start: Op[] = [{ op: 'many-sessions', prefix: 'x', count: 52 }, { op: 'memfd', id: 'big', size: 1 << 20, seed: 1 }];
  const m = await minimize(start, async (c) => c.some((o) => o.op === 'many-sessions' && o.count >= 6) && c.some((o) => o.op === 'memfd'));
  t.deepEqual(m.ops, [{ op: 'many-sessions', prefix: 'x', count: 6 }, { op: 'memfd', id: 'big', size: 4096, seed: 1 }]);
});

test('on a simulated kernel with the sealed-memfd bug, a generated program diverges and shrinks to the 4 operations that show it', async (t) => {
  // The first generated program that preserves a sealed, non-empty memfd.
  let program: Op[] | undefined;
  for (let i = 0; !program; i++) {
    const p = generateProgram(programSeed(7, i));
    const run = await executeProgram(new ModelKernel(sealedOnePageShort), p.ops);
    if (run.divergence) program = p.ops;
  }
  const first = await executeProgram(new ModelKernel(sealedOnePageShort), program);
  const d = first.divergence!;
  t.regex(d.signature, /^(raw-retrieve|memfd-verify): size differ/);
  t.is((await executeProgram(new ModelKernel(), program)).divergence, undefined, 'the honest kernel agrees with the model');
  let runs = 0;
  const prefix = d.phase === 'audit' ? program : program.slice(0, d.opIndex + 1);
  const m = await minimize(prefix, async (c) => {
    runs++;
    return (await executeProgram(new ModelKernel(sealedOnePageShort), c)).divergence?.signature === d.signature;
  }, { seeds: d.entities, ...(d.phase === 'op' ? { diverging: d.opIndex } : {}) });
  const kinds = m.ops.map((o) => o.op);
  t.true(m.ops.length <= 5, kinds.join(', '));
  for (const k of ['create', 'memfd', 'preserve', 'kexec'] as const) t.true(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
  t.true(m.ops.some((o) => o.op === 'memfd' && o.sealed === true));
  t.is(runs, m.runs);
});

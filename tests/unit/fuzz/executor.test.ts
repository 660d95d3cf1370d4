// The executor against simulated kernels: an honest one never diverges over
// hundreds of generated programs (the generator, the model's predictions and
// its implicit checks agree with each other); a wrong errno, a crash, a hang
// and a host failure each come out as what they are.
import test from 'ava';
import { executeProgram, pairOf } from '../../../harness/fuzz/executor.ts';
import { generateProgram } from '../../../harness/fuzz/generator.ts';
import { programSeed } from '../../../harness/fuzz/rng.ts';
import type { Op } from '../../../harness/fuzz/ops.ts';
import { GuestTimeout, GuestConnectionLost } from '../../../harness/guest/errors.ts';
import { lateWritesKernel, ModelKernel } from './model-kernel.ts';

const program: Op[] = [
  { op: 'create', h: 'a', name: 's' },
  { op: 'memfd', id: 'm', size: 8192, seed: 1 },
  { op: 'preserve', h: 'a', token: '0x1', memfd: 'm' },
  { op: 'create', h: 'b', name: 'gone' },
  { op: 'close', h: 'b' },
  { op: 'kexec' },
];

test('an honest kernel never diverges from the model over 200 generated programs', async (t) => {
  const pairs = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = generateProgram(programSeed(31, i));
    const run = await executeProgram(new ModelKernel(), p.ops);
    t.is(run.divergence, undefined, `program ${i} (seed ${p.seed}): ${run.divergence?.summary}`);
    for (const x of run.pairs) pairs.add(x);
  }
  t.true(pairs.size > 40, `${pairs.size} pairs`);
});

test('after the kexec the closed session is probed (ENOENT), then the audit retrieves, verifies and resets', async (t) => {
  const k = new ModelKernel();
  const run = await executeProgram(k, program, { keepSteps: true });
  t.is(run.divergence, undefined);
  t.deepEqual(run.steps.filter((s) => s.phase !== 'op').map((s) => `${s.phase} ${s.call.label}`), [
    'probe probe:raw-session-retrieve',
    'audit audit:raw-session-retrieve',
    'audit audit:raw-retrieve',
    'audit audit:memfd-verify',
    'audit audit:raw-reset',
  ]);
  const verify = k.calls.find((c) => c.kind === 'agent' && c.verb === 'memfd-verify');
  t.is(verify?.kind === 'agent' ? verify.options.seed : undefined, 1, 'memfd-verify gets the seed the model knows');
  t.is(run.kexecs, 1);
  t.true(run.pairs.has('raw-session-retrieve -> ENOENT'));
});

test('a wrong errno is a mismatch with its rule, and the first divergence ends the program', async (t) => {
  const k = new ModelKernel((call, o) => (call.kind === 'agent' && call.verb === 'raw-preserve' ? { ok: false, op: 'LIVEUPDATE_SESSION_PRESERVE_FD', errno: 'ENOENT' } : o));
  const run = await executeProgram(k, program);
  const d = run.divergence!;
  t.is(d.kind, 'mismatch');
  t.is(d.opIndex, 2);
  t.is(d.signature, 'raw-preserve: ok -> ENOENT');
  t.regex(d.why!, /memfd_luo_preserve/);
  t.deepEqual(d.entities, ['h:a', 'm:m']);
  t.is(k.calls.length, 3, 'nothing ran after it');
});

test('a kernel fault on the console is a crash, with the report', async (t) => {
  const k = new ModelKernel();
  k.fault_ = { kind: 'bug', line: '[   12.5] BUG: kernel NULL pointer dereference, address: 0000000000000010', report: 'BUG: ...\nCall Trace:' };
  const d = (await executeProgram(k, program)).divergence!;
  t.is(d.kind, 'crash');
  t.is(d.report, 'BUG: ...\nCall Trace:');
  t.is(d.signature, 'crash: bug: BUG: kernel NULL pointer dereference, address: X');
});

test('no answer in time is a hang; a host failure is thrown, not blamed on the kernel', async (t) => {
  class Hangs extends ModelKernel {
    override async kexec() {
      throw new GuestTimeout('luo-agent kexec-exec did not answer within 60000 ms.');
    }
  }
  const d = (await executeProgram(new Hangs(), program)).divergence!;
  t.is(d.kind, 'hang');
  t.is(d.signature, 'hang: kexec');
  class Breaks extends ModelKernel {
    override async kexec() {
      throw new GuestConnectionLost('The SSH connection closed.');
    }
  }
  await t.throwsAsync(executeProgram(new Breaks(), program), { instanceOf: GuestConnectionLost });
});

test('coverage pairs name the operation and the kernel\'s outcome, the agent\'s own refusals apart', (t) => {
  t.is(pairOf({ kind: 'agent', verb: 'raw-preserve', options: {}, label: 'audit:raw-preserve' }, { ok: false, op: 'X', errno: 'EBUSY' }), 'raw-preserve -> EBUSY');
  t.is(pairOf({ kind: 'agent', verb: 'raw-preserve', options: {}, label: 'raw-preserve' }, { ok: false, op: 'lookup', errno: 'ENOENT' }), 'raw-preserve -> agent ENOENT');
  t.is(pairOf({ kind: 'kexec', label: 'kexec' }, { ok: true, fields: {} }), 'kexec -> ok');
});

test('the late-writes kernel: the generator reaches both planted bugs (fallocated pages written after PRESERVE_FD lost, fallocate let through on a preserved memfd)', async (t) => {
  const kinds = new Set<string>();
  for (let s = 1; s < 300 && kinds.size < 2; s++) {
    const p = generateProgram(programSeed(s, 0));
    const run = await executeProgram(new ModelKernel(lateWritesKernel()), p.ops);
    const sig = run.divergence?.signature ?? '';
    if (/memfd-fallocate/.test(sig)) kinds.add('fallocate');
    else if (/memfd-verify/.test(sig) && /mismatched_pages/.test(JSON.stringify(run.divergence))) kinds.add('lost');
  }
  t.deepEqual([...kinds].sort(), ['fallocate', 'lost']);
  // The same programs on a model of the stock kernel diverge nowhere.
  for (let s = 1; s < 60; s++) {
    const run = await executeProgram(new ModelKernel(), generateProgram(programSeed(s, 0)).ops);
    t.is(run.divergence, undefined, `seed ${s}`);
  }
});

// The model's rules, each against the kernel source it cites: what a call
// must do in a given state, and what exists after a kexec, a kill, a finish.
import test from 'ava';
import { Model, matches, renderRuns, sealsOf, type Outcome } from '../../../harness/fuzz/model.ts';
import { expand, type Op } from '../../../harness/fuzz/ops.ts';

/** Runs ops through a model (each call committed as predicted) and returns every call's first expected outcome. */
function play(ops: Op[], model = new Model()): { model: Model; outcomes: Outcome[] } {
  const outcomes: Outcome[] = [];
  for (const op of ops) {
    for (const call of expand(op)) {
      const e = model.predict(call).expect[0]!;
      outcomes.push(e);
      model.commit(call, e);
    }
  }
  return { model, outcomes };
}
/** The outcome of the last call of `ops`, as "ok" or "OP ERRNO". */
const last = (ops: Op[]) => {
  const o = play(ops).outcomes.at(-1)!;
  return o.ok ? 'ok' : `${o.op} ${o.errno}`;
};
const C = 'LIVEUPDATE_IOCTL_CREATE_SESSION';
const P = 'LIVEUPDATE_SESSION_PRESERVE_FD';
const R = 'LIVEUPDATE_IOCTL_RETRIEVE_SESSION';
const RF = 'LIVEUPDATE_SESSION_RETRIEVE_FD';
const session = (h: string, name = h): Op => ({ op: 'create', h, name });
const memfd = (id: string, size = 4096, extra: Partial<Extract<Op, { op: 'memfd' }>> = {}): Op => ({ op: 'memfd', id, size, seed: 7, ...extra });
const preserve = (h: string, token: number, m: string): Op => ({ op: 'preserve', h, token: `0x${token.toString(16)}`, memfd: m });
const retrieveFd = (h: string, token: number, id: string): Op => ({ op: 'retrieve-fd', h, token: `0x${token.toString(16)}`, id });
const kexec: Op = { op: 'kexec' };

test('session names: 1..63 bytes are taken, 0 and 64 or more are EINVAL (luo_session_create: strnlen over 64)', (t) => {
  t.is(last([session('a', 'x'.repeat(63))]), 'ok');
  t.is(last([session('a', '')]), `${C} EINVAL`);
  t.is(last([session('a', 'x'.repeat(64))]), `${C} EINVAL`);
  t.is(last([session('a', 'x'.repeat(200))]), `${C} EINVAL`);
  t.is(last([session('a', 'a "quoted" / name')]), 'ok');
});

test('an outgoing name twice is EEXIST; an incoming one may be reused (two lists); a handle twice is the agent\'s EEXIST', (t) => {
  t.is(last([session('a', 'n'), session('b', 'n')]), `${C} EEXIST`);
  t.is(last([session('a', 'n'), kexec, session('b', 'n')]), 'ok');
  t.is(last([session('a', 'n'), session('a', 'm')]), 'lookup EEXIST');
});

test('preserve: token reuse EEXIST, the same memfd twice EBUSY (also across sessions), hugetlb and other fds ENOENT, no fd EBADF', (t) => {
  const base: Op[] = [session('a'), session('b'), memfd('m'), memfd('n'), preserve('a', 1, 'm')];
  t.is(last([...base, preserve('a', 1, 'n')]), `${P} EEXIST`);
  t.is(last([...base, preserve('a', 2, 'm')]), `${P} EBUSY`);
  t.is(last([...base, preserve('b', 1, 'm')]), `${P} EBUSY`);
  t.is(last([...base, preserve('b', 1, 'n')]), 'ok', 'tokens are per session');
  t.is(last([...base, memfd('h', 2 << 20, { hugetlb: true }), preserve('a', 3, 'h')]), `${P} ENOENT`);
  t.is(last([...base, { op: 'preserve-other', h: 'a', token: '0x9', kind: 'pipe' }]), `${P} ENOENT`);
  t.is(last([...base, { op: 'preserve-other', h: 'a', token: '0x9', kind: 'badfd' }]), `${P} EBADF`);
  t.is(last([...base, { op: 'preserve-other', h: 'a', token: '0x1', kind: 'badfd' }]), `${P} EEXIST`, 'the token is checked before the fd');
  t.is(last([...base, memfd('t', 8192, { tmpfile: true }), preserve('a', 4, 't')]), 'ok', 'an unlinked tmpfs file is a shmem file with no links');
  t.is(last([...base, { op: 'close', h: 'a' }, preserve('b', 2, 'm')]), 'ok', 'closing the session unpreserved it');
  t.is(last([...base, { op: 'close-memfd', id: 'm' }, preserve('b', 2, 'm')]), 'lookup ENOENT');
});

test('direction: FINISH and RETRIEVE_FD on an outgoing session, PRESERVE_FD on an incoming one, are EINVAL', (t) => {
  t.is(last([session('a'), { op: 'finish', h: 'a' }]), 'LIVEUPDATE_SESSION_FINISH EINVAL');
  t.is(last([session('a'), retrieveFd('a', 1, 'r')]), `${RF} EINVAL`);
  t.is(last([session('a'), kexec, { op: 'retrieve', h: 'i', name: 'a' }, memfd('m'), preserve('i', 1, 'm')]), `${P} EINVAL`);
});

test('after a kexec: outgoing sessions arrive unretrieved; a second retrieve is EINVAL, a gone or too long name ENOENT', (t) => {
  const before: Op[] = [session('a', 'keep'), session('b', 'closed'), memfd('m', 5000, { sealed: true }), preserve('a', 1, 'm'), { op: 'close', h: 'b' }, kexec];
  t.is(last([...before, { op: 'retrieve', h: 'i', name: 'keep' }]), 'ok');
  t.is(last([...before, { op: 'retrieve', h: 'i', name: 'keep' }, { op: 'retrieve', h: 'j', name: 'keep' }]), `${R} EINVAL`);
  t.is(last([...before, { op: 'retrieve', h: 'i', name: 'closed' }]), `${R} ENOENT`);
  t.is(last([...before, { op: 'retrieve', h: 'i', name: 'k'.repeat(64) }]), `${R} ENOENT`);
  const got = play([...before, { op: 'retrieve', h: 'i', name: 'keep' }, retrieveFd('i', 1, 'r')]).outcomes.at(-1)!;
  t.deepEqual(got, { ok: true, fields: { size: 5000, seals: 15 } }, 'the preserved size and seals');
  t.is(last([...before, { op: 'retrieve', h: 'i', name: 'keep' }, retrieveFd('i', 1, 'r'), retrieveFd('i', 1, 's')]), 'ok', 'the same file again');
  t.is(last([...before, { op: 'retrieve', h: 'i', name: 'keep' }, retrieveFd('i', 2, 'r')]), `${RF} ENOENT`);
});

test('a finish before every fd was retrieved succeeds and discards the rest; a closed incoming session is gone', (t) => {
  const up: Op[] = [session('a', 's'), memfd('m'), memfd('n'), preserve('a', 1, 'm'), preserve('a', 2, 'n'), kexec, { op: 'retrieve', h: 'i', name: 's' }, retrieveFd('i', 1, 'r')];
  t.is(last([...up, { op: 'finish', h: 'i' }]), 'ok');
  t.is(last([...up, { op: 'finish', h: 'i' }, { op: 'finish', h: 'i' }]), 'ok', 'finish again: nothing left to finish');
  t.is(last([...up, { op: 'finish', h: 'i' }, retrieveFd('i', 2, 'x')]), `${RF} ENOENT`);
  t.is(last([...up, { op: 'finish', h: 'i' }, { op: 'retrieve', h: 'j', name: 's' }]), `${R} EINVAL`, 'finished but still open: still retrieved');
  t.is(last([...up, { op: 'close', h: 'i' }, { op: 'retrieve', h: 'j', name: 's' }]), `${R} ENOENT`);
});

test('a retrieved memfd cannot be preserved again until its session is finished (the inode stays in luo_preserved_files)', (t) => {
  const up: Op[] = [session('a', 's'), memfd('m'), preserve('a', 1, 'm'), kexec, { op: 'retrieve', h: 'i', name: 's' }, retrieveFd('i', 1, 'r'), session('o', 'next')];
  t.is(last([...up, preserve('o', 1, 'r')]), `${P} EBUSY`);
  t.is(last([...up, { op: 'finish', h: 'i' }, preserve('o', 1, 'r')]), 'ok');
  const chained = play([...up, { op: 'finish', h: 'i' }, preserve('o', 1, 'r'), kexec, { op: 'retrieve', h: 'j', name: 'next' }, retrieveFd('j', 1, 'q'), { op: 'verify', id: 'q' }]);
  t.deepEqual(chained.outcomes.at(-1), { ok: true, fields: { size: 4096, mismatched_pages: 0, seals: 0 } }, 'carried through two kexecs');
});

test('a kill closes everything the agent held: outgoing sessions are gone, incoming ones not yet retrieved survive', (t) => {
  const ops: Op[] = [session('a', 'out'), memfd('m'), preserve('a', 1, 'm'), kexec, session('b', 'later'), { op: 'kill' }, kexec];
  const { model } = play(ops);
  t.deepEqual(model.incomingNames(), [], '"later" was unpreserved by the kill; "out" was dropped at the second kexec');
  const m2 = play([session('a', 'out'), memfd('m'), preserve('a', 1, 'm'), kexec, { op: 'retrieve', h: 'x', name: 'out' }, { op: 'kill' }]).model;
  t.deepEqual(m2.incomingNames(), [], 'a retrieved session is finished when its holder dies');
  const m3 = play([session('a', 'out'), kexec, { op: 'kill' }]).model;
  t.deepEqual(m3.unretrievedNames(), ['out']);
});

test('a kexec drops incoming sessions, retrieved or not', (t) => {
  const { model } = play([session('a', 's'), kexec, kexec]);
  t.deepEqual(model.incomingNames(), []);
});

test('hugetlb: unaligned sizes fail ftruncate; the pool may run out, which the model accepts either way', (t) => {
  const m = new Model();
  const [call] = expand(memfd('h', 3 << 20, { hugetlb: true }));
  t.deepEqual(m.predict(call!).expect, [{ ok: false, op: 'ftruncate', errno: 'EINVAL' }]);
  const [two] = expand(memfd('h', 2 << 20, { hugetlb: true }));
  t.is(m.predict(two!).expect.length, 2);
  t.is(last([memfd('t', 4096, { tmpfile: true, sealed: true })]), 'fcntl(F_ADD_SEALS) EPERM');
});

test('seals as F_GET_SEALS shows them: the agent\'s four, F_SEAL_SEAL on a tmpfs file, none otherwise', (t) => {
  t.is(sealsOf({ sealed: true, tmpfile: false }), 15);
  t.is(sealsOf({ sealed: false, tmpfile: true }), 1);
  t.is(sealsOf({ sealed: false, tmpfile: false }), 0);
});

test('after a kexec the names that must be gone are probed, and the audit retrieves, verifies and closes the rest', (t) => {
  const { model } = play([session('a', 'kept'), session('b', 'closed'), session('c', ''), memfd('m'), preserve('a', 1, 'm'), { op: 'close', h: 'b' }, kexec]);
  const probes = model.probesAfterKexec();
  t.deepEqual(probes.map((c) => (c.kind === 'agent' ? c.options.name : '')), ['closed', '']);
  for (const p of probes) t.deepEqual(model.predict(p).expect, [{ ok: false, op: 'LIVEUPDATE_IOCTL_RETRIEVE_SESSION', errno: 'ENOENT' }]);
  const audit = model.audit();
  t.deepEqual(audit.map((c) => c.label), ['audit:raw-session-retrieve', 'audit:raw-retrieve', 'audit:memfd-verify', 'audit:raw-reset']);
  for (const call of audit) {
    const p = model.predict(call);
    t.true(p.expect[0]!.ok, `${call.label}: ${p.why}`);
    model.commit(call, p.expect[0]!);
  }
  t.deepEqual([model.incomingNames(), model.outgoingNames(), model.handles(), model.memfds()], [[], [], [], []], 'nothing left for the next program');
});

test('matches: an outcome is right when success and the expected fields agree, or op and errno do', (t) => {
  const p = { expect: [{ ok: true, fields: { size: 4096 } } as Outcome], why: '' };
  t.truthy(matches(p, { ok: true, fields: { size: 4096, fd: 7 } }));
  t.falsy(matches(p, { ok: true, fields: { size: 0 } }));
  t.falsy(matches(p, { ok: false, op: 'x', errno: 'ENOENT' }));
  t.truthy(matches({ expect: [{ ok: false, op: 'x', errno: 'EBUSY' }], why: '' }, { ok: false, op: 'x', errno: 'EBUSY' }));
  t.falsy(matches({ expect: [{ ok: false, op: 'x', errno: 'EBUSY' }], why: '' }, { ok: false, op: 'y', errno: 'EBUSY' }));
});

test('ftruncate: EPERM while preserved (SHMEM_F_MAPPING_FROZEN) or sealed; free again once unpreserved; a retrieved memfd is not frozen', (t) => {
  const base: Op[] = [session('a', 's'), memfd('m', 8192), preserve('a', 1, 'm')];
  t.is(last([...base, { op: 'truncate', id: 'm', size: 4096 }]), 'ftruncate EPERM');
  t.is(last([...base, { op: 'truncate', id: 'm', size: 8192 }]), 'ok', 'the same size changes nothing');
  t.is(last([...base, { op: 'close', h: 'a' }, { op: 'truncate', id: 'm', size: 4096 }]), 'ok');
  t.is(last([memfd('x', 8192, { sealed: true }), { op: 'truncate', id: 'x', size: 0 }]), 'ftruncate EPERM');
  t.is(last([...base, kexec, { op: 'retrieve', h: 'i', name: 's' }, retrieveFd('i', 1, 'r'), { op: 'truncate', id: 'r', size: 100 }]), 'ok');
});

test('a grown memfd reads zeros past its pattern: the agent is told so, and only the page the truncate cut short (which its terms cannot say) mismatches, before and after a kexec', (t) => {
  const grown: Op[] = [session('a', 's'), memfd('m', 5000), { op: 'truncate', id: 'm', size: 3000 }, { op: 'truncate', id: 'm', size: 9000 }, { op: 'verify', id: 'm' }];
  t.deepEqual(play(grown).outcomes.at(-1), { ok: true, fields: { size: 9000, mismatched_pages: 1, seals: 0 } });
  const carried = play([...grown, preserve('a', 1, 'm'), kexec, { op: 'retrieve', h: 'i', name: 's' }, retrieveFd('i', 1, 'r'), { op: 'verify', id: 'r' }]);
  t.deepEqual(carried.outcomes.at(-1), { ok: true, fields: { size: 9000, mismatched_pages: 1, seals: 0 } });
  const shrunk = play([memfd('m', 5000), { op: 'truncate', id: 'm', size: 3000 }, { op: 'verify', id: 'm' }]);
  t.deepEqual(shrunk.outcomes.at(-1), { ok: true, fields: { size: 3000, mismatched_pages: 0, seals: 0 } });
  const again = play([session('a', 's'), memfd('m', 8192), preserve('a', 1, 'm'), kexec, { op: 'retrieve', h: 'i', name: 's' }, retrieveFd('i', 1, 'r'), { op: 'truncate', id: 'r', size: 100 }, retrieveFd('i', 1, 'q')]);
  t.deepEqual(again.outcomes.at(-1), { ok: true, fields: { size: 100, seals: 0 } }, 'a second retrieval is the same file, as it is now');
});

test('another open file of a preserved memfd is the same inode to LUO: EBUSY', (t) => {
  const base: Op[] = [session('a'), memfd('m'), preserve('a', 1, 'm')];
  t.is(last([...base, { op: 'preserve', h: 'a', token: '0x2', memfd: 'm', reopen: true }]), `${P} EBUSY`);
  t.is(last([session('a'), memfd('m'), { op: 'preserve', h: 'a', token: '0x2', memfd: 'm', reopen: true }, preserve('a', 3, 'm')]), `${P} EBUSY`);
});

test('writes and fallocate: pages written before and after PRESERVE_FD and after retrieval hold their last write; fallocate is frozen while preserved; the agent is told every run', (t) => {
  const base: Op[] = [session('a', 's'), { op: 'memfd', id: 'm', size: 10 * 4096, seed: 5, fill: 'fallocate' }];
  const write = (id: string, first: number, pages: number, seed: number, via: 'mmap' | 'write' = 'mmap'): Op => ({ op: 'write', id, first, pages, seed, via });
  t.is(last([...base, write('m', 0, 2, 9)]), 'ok');
  t.is(last([...base, write('m', 9, 2, 9)]), 'argument EINVAL', 'past the end');
  t.is(last([...base, preserve('a', 1, 'm'), write('m', 2, 3, 9, 'write')]), 'ok', 'a preserved memfd is written on');
  t.is(last([...base, preserve('a', 1, 'm'), { op: 'fallocate', id: 'm', first: 0, pages: 1 }]), 'fallocate EPERM');
  t.is(last([...base, preserve('a', 1, 'm'), { op: 'fallocate', id: 'm', first: 0, pages: 1, punch: true }]), 'fallocate EPERM');
  t.is(last([...base, { op: 'fallocate', id: 'm', first: 0, pages: 1, punch: true }]), 'ok', 'not preserved: free');
  t.is(last([memfd('x', 8192, { sealed: true }), write('x', 0, 1, 3)]), 'mmap EPERM', 'F_SEAL_WRITE');
  const carried = play([...base, write('m', 0, 2, 9), preserve('a', 1, 'm'), write('m', 4, 2, 11), kexec, { op: 'retrieve', h: 'i', name: 's' }, retrieveFd('i', 1, 'r'), write('r', 8, 1, 13), { op: 'fallocate', id: 'r', first: 9, pages: 1, punch: true }, { op: 'verify', id: 'r' }]);
  t.deepEqual(carried.outcomes.at(-1), { ok: true, fields: { size: 10 * 4096, mismatched_pages: 0, seals: 0 } });
  // What the agent is told: a hole's zeros, then each run of written pages.
  const m = carried.model;
  t.deepEqual(m.expectationOf('r'), { seed: 5, fill: 'hole', runs: [[0, 2, 9, false], [4, 2, 11, false], [8, 1, 13, false]] });
  t.is(renderRuns(m.expectationOf('r')!.runs), '3 0:2:9:0 4:2:11:0 8:1:13:0');
});

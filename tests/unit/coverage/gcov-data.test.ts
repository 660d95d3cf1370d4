import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../../harness/paths.ts';
import { decodeGcda, encodeGcda, pagedReader, readGcovList, type ReadMemory } from '../../../harness/coverage/gcov-data.ts';

// luo_core.gcda as a luo-7.2 coverage kernel's debugfs gave it after a live update.
const debugfs = readFileSync(join(repoRoot, 'tests', 'fixtures', 'coverage', 'luo_core-debugfs.gcda'));

test("the .gcda the harness writes is byte for byte what the kernel's debugfs gives for the same counters", (t) => {
  const unit = decodeGcda(debugfs, 'luo_core.gcda');
  t.true(unit.functions.length > 5);
  t.true(unit.functions.some((f) => f.counters[0]!.values.some((v) => v > 0n)));
  t.deepEqual(encodeGcda(unit), debugfs);
});

test('a damaged .gcda is refused, naming it', (t) => {
  const e = t.throws(() => decodeGcda(Buffer.from('not a gcda file at all'), 'x.gcda'));
  t.regex(e!.message, /x\.gcda does not start with the gcda magic/);
});

/** Guest memory as a sparse map of (address -> bytes), read the way the debugger stub reads it. */
function memory(): { write: (at: bigint, b: Buffer) => void; read: ReadMemory; reads: () => number } {
  const chunks: { at: bigint; bytes: Buffer }[] = [];
  let reads = 0;
  return {
    write: (at, bytes) => chunks.push({ at, bytes }),
    reads: () => reads,
    read: async (address, length) => {
      reads++;
      const out = Buffer.alloc(length);
      for (const c of chunks) {
        const start = Number(c.at - address);
        if (start < length && start + c.bytes.length > 0) c.bytes.copy(out, Math.max(0, start), Math.max(0, -start), Math.min(c.bytes.length, length - start));
      }
      return out;
    },
  };
}

const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

/** One gcov_info with two functions (arc counters only), laid out as GCC 12 lays it out on x86_64. */
function gcovInfoAt(mem: ReturnType<typeof memory>, base: bigint, next: bigint, name: string, fns: { ident: number; values: bigint[] }[]) {
  const info = Buffer.alloc(112);
  info.writeUInt32LE(0x4330322a, 0); // "C02*"
  info.writeBigUInt64LE(next, 8);
  info.writeUInt32LE(0x1234, 16);
  info.writeUInt32LE(0, 20);
  info.writeBigUInt64LE(base + 0x1000n, 24); // filename
  info.writeBigUInt64LE(0xffffffff81000000n, 32); // merge[0] (arcs): active
  info.writeUInt32LE(fns.length, 96);
  info.writeBigUInt64LE(base + 0x2000n, 104);
  mem.write(base, info);
  mem.write(base + 0x1000n, Buffer.from(name + '\0'));
  fns.forEach((f, i) => {
    const at = base + 0x3000n + BigInt(i) * 0x100n;
    mem.write(base + 0x2000n + BigInt(8 * i), u64(at));
    const fn = Buffer.alloc(40);
    fn.writeUInt32LE(f.ident, 8);
    fn.writeUInt32LE(7, 12);
    fn.writeUInt32LE(9, 16);
    fn.writeUInt32LE(f.values.length, 24);
    fn.writeBigUInt64LE(at + 0x80n, 32);
    mem.write(at, fn);
    mem.write(at + 0x80n, Buffer.concat(f.values.map(u64)));
  });
}

test('the kernel\'s gcov list is walked from its head: every object, its functions and their counters', async (t) => {
  const mem = memory();
  const head = 0xffffffff82000000n;
  const a = 0xffffffff82100000n;
  const b = 0xffffffff82200000n;
  mem.write(head, u64(a));
  gcovInfoAt(mem, a, b, '/build/kernel/liveupdate/luo_core.gcda', [{ ident: 1, values: [3n, 0n] }, { ident: 2, values: [1n] }]);
  gcovInfoAt(mem, b, 0n, '/build/mm/memfd_luo.gcda', [{ ident: 5, values: [2n ** 40n] }]);
  const units = await readGcovList(pagedReader(mem.read), head);
  t.deepEqual(units.map((u) => u.filename), ['/build/kernel/liveupdate/luo_core.gcda', '/build/mm/memfd_luo.gcda']);
  t.deepEqual(units[0]!.functions.map((f) => [f.ident, f.linenoChecksum, f.cfgChecksum, f.counters]), [
    [1, 7, 9, [{ kind: 0, values: [3n, 0n] }]],
    [2, 7, 9, [{ kind: 0, values: [1n] }]],
  ]);
  t.deepEqual(units[1]!.functions[0]!.counters[0]!.values, [2n ** 40n]);
  // Written and read back, the counters are the same.
  t.deepEqual(decodeGcda(encodeGcda(units[1]!), units[1]!.filename), units[1]);
});

test('the paged reader asks for each page once', async (t) => {
  const mem = memory();
  mem.write(0x10000n, Buffer.from('abcdefgh'));
  const read = pagedReader(mem.read);
  t.is((await read(0x10002n, 3)).toString(), 'cde');
  t.is((await read(0x10000n, 8)).toString(), 'abcdefgh');
  t.is((await read(0x10ffen, 4)).length, 4); // across a page boundary
  t.is(mem.reads(), 2);
});

test('memory that is not a gcov list is refused, naming the address', async (t) => {
  const mem = memory();
  mem.write(0x5000n, u64(0x6000n));
  mem.write(0x6000n, Buffer.alloc(112, 0x01));
  const e = await t.throwsAsync(readGcovList(mem.read, 0x5000n));
  t.regex(e!.message, /gcov_info at 0x6000 has version 0x1010101, which no GCC writes/);
});

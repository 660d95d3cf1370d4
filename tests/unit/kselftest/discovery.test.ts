import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../harness/errors.ts';
import { analyzeTestSource, discoverSelftests, parseConfigFragment } from '../../../harness/kselftest/discovery.ts';
import { isStaticElf, parseSelftestMakefile } from '../../../harness/kernel/selftest-build.ts';

test('Makefile parsing follows continuations, := resets, ?= and comments', (t) => {
  const parsed = parseSelftestMakefile(
    [
      'TEST_GEN_PROGS := old',
      'TEST_GEN_PROGS := a \\',
      '\tb # c',
      'TEST_GEN_PROGS += $(EXTRA) d',
      'TEST_GEN_PROGS_EXTENDED ?= e',
      'TEST_GEN_PROGS_EXTENDED ?= f',
      '# TEST_GEN_PROGS += commented',
      'TEST_FILES += script.sh',
    ].join('\n'),
  );
  t.deepEqual(parsed, { progs: ['a', 'b', 'd'], extended: ['e'] });
});

test('config fragment: values, quotes and "is not set"', (t) => {
  t.deepEqual(parseConfigFragment('CONFIG_A=y\nCONFIG_B="x y"\n# CONFIG_C is not set\n# comment\nCONFIG_D=m\n'), {
    A: 'y',
    B: 'x y',
    C: 'n',
    D: 'm',
  });
});

test('a test whose session name comes from an unknown expression is marked unknown', (t) => {
  const facts = analyzeTestSource(`
    #define STATE "st"
    static void s1(int fd) { luo_create_session(fd, make_name()); create_state_file(fd, STATE, 1, 2); }
    int main(int argc, char *argv[]) { return luo_test(argc, argv, STATE, s1, s2); }`);
  t.true(facts.staged);
  t.is(facts.stateSession, 'st');
  t.is(facts.sessions, null);
});

test('commented-out calls do not count', (t) => {
  const facts = analyzeTestSource(`
    /* luo_create_session(fd, "ghost"); */
    // return luo_test(argc, argv, "x", a, b);
    int main(void) { return 0; }`);
  t.false(facts.staged);
  t.deepEqual(facts.sessions, []);
});

test('discovery of a tree without the liveupdate selftests is a ConfigError', async (t) => {
  const tree = await mkdtemp(join(tmpdir(), 'luo-empty-tree-'));
  try {
    const err = await t.throwsAsync(discoverSelftests(tree), { instanceOf: ConfigError });
    t.regex(err!.message, /predates the Live Update selftests/);
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
});

function elf(phdrTypes: number[]): Buffer {
  const buf = Buffer.alloc(64 + 56 * phdrTypes.length);
  buf.writeUInt32BE(0x7f454c46, 0);
  buf[4] = 2; // ELFCLASS64
  buf[5] = 1; // little-endian
  buf.writeBigUInt64LE(64n, 0x20);
  buf.writeUInt16LE(56, 0x36);
  buf.writeUInt16LE(phdrTypes.length, 0x38);
  phdrTypes.forEach((type, i) => buf.writeUInt32LE(type, 64 + 56 * i));
  return buf;
}

test('isStaticElf: no PT_INTERP means static; a loader or a non-ELF does not', (t) => {
  t.true(isStaticElf(elf([6 /* PHDR */, 1 /* LOAD */, 1])));
  t.false(isStaticElf(elf([6, 3 /* INTERP */, 1])));
  t.false(isStaticElf(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(64))));
});

import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../harness/errors.ts';
import {
  analyzeTestSource,
  buildSelftests,
  discoverSelftests,
  isStaticElf,
  parseConfigFragment,
  parseSelftestMakefile,
  stageArgsFromLibrary,
} from '../../../harness/kernel/selftests.ts';
import { fixtureFile, fixtureTree } from './fixture-tree.ts';

const STAGED = ['luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files'];

for (const version of ['7.2', '7.3'] as const) {
  test(`${version} Makefile: liveupdate is a TEST_GEN_PROG, the kexec tests are EXTENDED`, async (t) => {
    const parsed = parseSelftestMakefile(await fixtureFile(version, 'Makefile'));
    t.deepEqual(parsed.progs, ['liveupdate']);
    t.deepEqual(parsed.extended, STAGED);
  });

  test(`${version}: discovery reads staging and session names from the sources`, async (t) => {
    await using fx = await fixtureTree(version);
    const build = await discoverSelftests(fx.tree);
    t.deepEqual(
      build.tests.map((x) => [x.name, x.staged]),
      [['liveupdate', false], ...STAGED.map((n) => [n, true])],
    );
    const simple = build.tests.find((x) => x.name === 'luo_kexec_simple')!;
    t.is(simple.stateSession, 'kexec_simple_state');
    t.deepEqual(simple.sessions, ['test-session', 'kexec_simple_state']);
    t.deepEqual(simple.stageArgs, ['-s', 'N']);
    t.deepEqual(simple.requires, ['LIVEUPDATE', 'LIVEUPDATE_MEMFD', 'KEXEC_FILE', 'KEXEC_HANDOVER']);
    t.deepEqual(build.tests.find((x) => x.name === 'luo_stress_sessions')!.sessions, ['many-test-%d', 'kexec_many_state']);
    t.deepEqual(build.tests.find((x) => x.name === 'luo_multi_session')!.sessions, [
      'multi-test-empty-1',
      'multi-test-empty-2',
      'multi-test-files-1',
      'multi-test-files-2',
      'kexec_multi_state',
    ]);
    t.deepEqual(build.tests.find((x) => x.name === 'liveupdate')!.requires, ['LIVEUPDATE', 'LIVEUPDATE_MEMFD']);
    t.is(build.configRequirements.LIVEUPDATE_TEST, 'y');
    t.is(build.configRequirements.KEXEC_HANDOVER, 'y');
  });
}

test('7.3 config adds DEVTMPFS, and its config.x86_64 the serial console; 7.2 has neither', async (t) => {
  await using fx72 = await fixtureTree('7.2');
  await using fx73 = await fixtureTree('7.3');
  const c72 = (await discoverSelftests(fx72.tree)).configRequirements;
  const c73 = (await discoverSelftests(fx73.tree)).configRequirements;
  t.false('DEVTMPFS' in c72);
  t.false('SERIAL_8250_CONSOLE' in c72);
  t.is(c73.DEVTMPFS, 'y');
  t.is(c73.SERIAL_8250_CONSOLE, 'y');
  t.false('SERIAL_AMBA_PL011' in c73);
});

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

test('stage flag: both 7.2 (getopt_long) and 7.3 (getopt) libraries take -s', async (t) => {
  t.deepEqual(stageArgsFromLibrary(await fixtureFile('7.2', 'luo_test_utils.c')), ['-s', 'N']);
  t.deepEqual(stageArgsFromLibrary(await fixtureFile('7.3', 'lib/lu_utils.c')), ['-s', 'N']);
  t.is(stageArgsFromLibrary('int main(int c, char **v) { return getopt(c, v, "x:"); }'), null);
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

test('building against a directory without liveupdate.h is a ConfigError before any compile', async (t) => {
  await using fx = await fixtureTree('7.2');
  const out = await mkdtemp(join(tmpdir(), 'luo-st-out-'));
  try {
    await t.throwsAsync(buildSelftests({ tree: fx.tree, headersDir: out, outDir: join(out, 'bin') }), {
      instanceOf: ConfigError,
      message: /liveupdate\.h/,
    });
  } finally {
    await rm(out, { recursive: true, force: true });
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

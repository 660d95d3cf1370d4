// The kernel's own Live Update selftests: learnt from their sources (the
// tree's, or the copy a kernel artifact carries), how each one must be run.
//
// What the 7.2 and 7.3 sources say (read, then checked in a TCG guest with the
// 7.2.13 kernel):
// - The Makefile lists `liveupdate` in TEST_GEN_PROGS and the kexec tests in
//   TEST_GEN_PROGS_EXTENDED. 7.2 links them with luo_test_utils.c (LIB_C);
//   7.3 moved that library to lib/lu_utils.c (lib/libliveupdate.mk) and added
//   vmtest.sh/init.c, which are not part of the Makefile's programs.
// - `liveupdate` is a kselftest_harness binary (TAP output, no kexec). One of
//   its cases checks that a second open of /dev/liveupdate fails with EBUSY,
//   so it needs the device free.
// - A staged test's main() calls the library's `luo_test(argc, argv,
//   STATE_SESSION_NAME, stage1, stage2)`. It takes its stage as `-s N`: 7.2
//   parses with getopt_long("s:", {"stage"}) so `--stage N` works too, 7.3 uses
//   plain getopt("s:") so only `-s N` works. The test double-checks the stage:
//   it opens /dev/liveupdate and retrieves its own state session (the third
//   argument); ENOENT means stage 1, success means stage 2, and a mismatch is a
//   "Bail out! Stage mismatch" failure. Beware: that retrieve already claims the
//   state session, so running the wrong stage destroys the test's handed-over
//   state (the fd is closed on exit and the session finished).
// - Stage 1 creates the state session (a memfd holding "2") and its test
//   sessions, CLOSES /dev/liveupdate, then forks: the child calls setsid(),
//   closes stdio and sleeps forever holding the session fds; the parent prints
//   "[STAGE 1] You may now perform kexec reboot." and exits 0. So stage 1 runs
//   in the foreground and is ready when it exits 0; no `setsid ... &` is needed,
//   and because /dev/liveupdate is released before the fork, several stage-1
//   runs can share one boot (verified: all four staged tests in one boot, one
//   kexec, all four stage 2 passed).
// - Stage 2 retrieves every session, verifies the memfds, finishes them, prints
//   "--- ... TEST PASSED ..." (the line 7.3's vmtest.sh greps for) and returns 0.
// - Exit codes are kselftest's: 0 pass, 1 fail ("Bail out! ..."), 4 skip. A
//   staged test that cannot open /dev/liveupdate (absent, or EBUSY because
//   another process holds it) exits 4 with "1..0 # SKIP Failed to open ...".
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { ConfigError } from '../errors.ts';
import { parseKconfig } from '../kernel/kconfig.ts';
import { modesOfTest, parseIommuModes, type ModeUse } from './vfio-modes.ts';
import { stripComments } from './c-source.ts';
import { LIVEUPDATE_SELFTEST_DIR, parseSelftestMakefile, SELFTEST_BUILD_FILE, SELFTEST_SOURCES, VFIO_LIVEUPDATE_TEST, VFIO_SELFTEST_DIR, type SelftestPrograms } from '../kernel/selftest-build.ts';

export interface SelftestInfo {
  name: string;
  /** The binary's path relative to the build's outDir (its bare name). */
  binary: string;
  /** Runs as stage 1, then a kexec, then stage 2. */
  staged: boolean;
  /** Arguments that select stage N, with `N` standing for the number (staged tests only). */
  stageArgs?: string[];
  /** The session that tells the test which stage it is in (staged tests only). */
  stateSession?: string;
  /**
   * Session names the test creates and holds across the kexec, read from its
   * source; printf patterns such as `many-test-%d` stand for many. `null` when
   * some name could not be learned (the planner then keeps the test alone).
   */
  sessions: string[] | null;
  /** Kconfig options (no CONFIG_ prefix) the test cannot work without. */
  requires: string[];
  /** Where it comes from when not the liveupdate directory: the VFIO series' own tests. */
  suite?: 'vfio';
  /** It drives a PCI device that must be bound to vfio-pci before each stage; its BDF goes in VFIO_SELFTESTS_BDF. */
  device?: 'vfio-pci';
  /** The VFIO library's IOMMU modes it runs, and what each needs of the kernel (vfio-modes.ts). */
  modes?: ModeUse[];
}

export interface SelftestBuild {
  tests: SelftestInfo[];
  /** Why some tests the tree has are not in `tests` (e.g. the VFIO series' tests did not build). */
  notes?: string[];
  /** The selftests' `config` (+ `config.x86_64` where there is one), keyed without the CONFIG_ prefix: { LIVEUPDATE: 'y' }. */
  configRequirements: Record<string, string>;
}

const dedupe = (xs: string[]) => [...new Set(xs)];

/** The `config` fragment: `CONFIG_X=y` lines (and `# CONFIG_X is not set` as 'n'). */
export function parseConfigFragment(text: string): Record<string, string> {
  const { values } = parseKconfig(text.replace(/\r/g, ''), 'config');
  return Object.fromEntries([...values].map(([option, value]) => [option, value.replace(/^"(.*)"$/, '$1')]));
}

function defines(src: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const m of src.matchAll(/^\s*#\s*define\s+([A-Za-z_]\w*)\s+"([^"]*)"/gm)) map.set(m[1]!, m[2]!);
  return map;
}

/** Splits a C argument list at top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (inStr) {
      cur += ch;
      if (ch === '\\') cur += s[++i] ?? '';
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    if (ch === '(') depth++;
    if (ch === ')') {
      if (depth === 0) break;
      depth--;
    }
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

function callArgs(src: string, fn: string): string[][] {
  const calls: string[][] = [];
  for (const m of src.matchAll(new RegExp(`\\b${fn}\\s*\\(`, 'g'))) calls.push(splitArgs(src.slice(m.index! + m[0].length)));
  return calls;
}

/** A session-name expression: a literal, a #define, or a buffer filled by snprintf. */
function resolveName(expr: string, defs: Map<string, string>, src: string): string | null {
  const lit = /^"([^"]*)"$/.exec(expr);
  if (lit) return lit[1]!;
  if (defs.has(expr)) return defs.get(expr)!;
  if (/^[A-Za-z_]\w*$/.test(expr)) {
    // snprintf(buf, size, fmt, ...) and sprintf(buf, fmt, ...): the format names the session.
    const fmts = [...callArgs(src, 'snprintf').map((a) => [a[0], a[2]]), ...callArgs(src, 'sprintf').map((a) => [a[0], a[1]])]
      .filter(([buf, fmt]) => buf === expr && fmt !== undefined)
      .map(([, fmt]) => resolveName(fmt!, defs, src));
    const unique = dedupe(fmts.filter((f): f is string => f !== null));
    if (unique.length === 1 && fmts.every((f) => f !== null)) return unique[0]!;
  }
  return null;
}

export interface SourceFacts {
  staged: boolean;
  stateSession?: string;
  sessions: string[] | null;
  usesMemfd: boolean;
}

/** What a test's main source says about staging and the sessions it holds. */
export function analyzeTestSource(source: string): SourceFacts {
  const src = stripComments(source);
  const defs = defines(src);
  const luoTest = callArgs(src, 'luo_test')[0];
  const staged = luoTest !== undefined && luoTest.length >= 5;
  const names: (string | null)[] = [];
  for (const a of callArgs(src, 'luo_create_session')) names.push(a[1] === undefined ? null : resolveName(a[1], defs, src));
  for (const a of callArgs(src, 'create_state_file')) names.push(a[1] === undefined ? null : resolveName(a[1], defs, src));
  const stateSession = staged ? (resolveName(luoTest![2]!, defs, src) ?? undefined) : undefined;
  if (stateSession !== undefined) names.push(stateSession);
  const sessions = names.some((n) => n === null) || (staged && stateSession === undefined) ? null : dedupe(names as string[]);
  const usesMemfd = /\b(memfd_create|create_and_preserve_memfd|create_state_file)\s*\(/.test(src) || staged;
  return { staged, ...(stateSession !== undefined ? { stateSession } : {}), sessions, usesMemfd };
}

/** How the shared helper library takes the stage: `-s N` when it parses "s:". */
export function stageArgsFromLibrary(librarySource: string): string[] | null {
  const src = stripComments(librarySource);
  return /\bgetopt(?:_long)?\s*\([^;]*"[^"]*s:[^"]*"/.test(src) ? ['-s', 'N'] : null;
}

async function listCFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listCFiles(p)));
    else if (e.name.endsWith('.c')) out.push(p);
  }
  return out;
}

/** Reads the Makefile, config and sources of a tree's liveupdate selftests; writes nothing. */
export async function discoverSelftests(tree: string): Promise<SelftestBuild> {
  const dir = join(tree, LIVEUPDATE_SELFTEST_DIR);
  let makefile: string;
  try {
    makefile = await readFile(join(dir, 'Makefile'), 'utf8');
  } catch (cause) {
    throw new ConfigError(`kernel tree ${tree} has no ${LIVEUPDATE_SELFTEST_DIR}/Makefile; its kernel predates the Live Update selftests`, { cause });
  }
  const { progs, extended } = parseSelftestMakefile(makefile);
  if (progs.length + extended.length === 0) throw new ConfigError(`found no TEST_GEN_PROGS in ${LIVEUPDATE_SELFTEST_DIR}/Makefile of ${tree}`);
  // 7.3 adds per-arch fragments (config.x86_64: the serial console), as vmtest.sh merges them;
  // a VFIO selftest directory's own fragment counts too, where a tree has one.
  const fragments = [dir, join(tree, VFIO_SELFTEST_DIR)].flatMap((d) => ['config', 'config.x86_64'].map((f) => join(d, f)));
  const configText = (await Promise.all(fragments.map((f) => readFile(f, 'utf8').catch(() => '')))).join('\n');
  const mains = new Set([...progs, ...extended].map((p) => join(dir, `${p}.c`)));
  const library = (await Promise.all((await listCFiles(dir)).filter((f) => !mains.has(f)).map((f) => readFile(f, 'utf8')))).join('\n');
  const stageArgs = stageArgsFromLibrary(library);
  const tests: SelftestInfo[] = [];
  for (const name of dedupe([...progs, ...extended])) {
    const source = await readFile(join(dir, `${name}.c`), 'utf8').catch((cause: unknown) => {
      throw new ConfigError(`the Makefile of ${dir} lists ${name}, but ${name}.c is not there; cannot learn how it runs`, { cause });
    });
    const facts = analyzeTestSource(source);
    if (facts.staged && !stageArgs) {
      throw new ConfigError(`${name} is a staged test, but the selftest library of ${tree} parses no "s:" option; cannot tell how it takes its stage`);
    }
    const requires = ['LIVEUPDATE', ...(facts.usesMemfd ? ['LIVEUPDATE_MEMFD'] : []), ...(facts.staged ? ['KEXEC_FILE', 'KEXEC_HANDOVER'] : [])];
    tests.push({
      name,
      binary: name,
      staged: facts.staged,
      ...(facts.staged ? { stageArgs: stageArgs! } : {}),
      ...(facts.stateSession !== undefined ? { stateSession: facts.stateSession } : {}),
      sessions: facts.sessions,
      requires,
    });
  }
  tests.push(...(await discoverVfioLiveUpdateTests(tree)));
  return { tests, configRequirements: parseConfigFragment(configText) };
}

/**
 * The C sources of the libraries a selftest Makefile includes (`include
 * ../liveupdate/lib/libliveupdate.mk`): every .c file beside each .mk file,
 * keyed by path. The kselftest framework's own ../lib.mk is not a library.
 */
async function includedLibraries(dir: string, makefile: string): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  for (const m of makefile.matchAll(/^\s*-?include\s+(\S+\.mk)\s*$/gm)) {
    const mk = m[1]!;
    if (mk.includes('$') || /(^|\/)lib\.mk$/.test(mk)) continue;
    const libDir = join(dir, dirname(mk));
    const files = await listCFiles(libDir).catch(() => [] as string[]);
    for (const f of files) sources.set(f, await readFile(f, 'utf8'));
  }
  return sources;
}

/** The stage option of the library that defines `luo_test()`, the function a staged test hands its argv to. */
function stageArgsOfLuoTest(libraries: Map<string, string>): { file: string; args: string[] | null } | undefined {
  for (const [file, text] of libraries) {
    if (/\bint\s+luo_test\s*\([^;{]*\)\s*\{/.test(stripComments(text))) return { file, args: stageArgsFromLibrary(text) };
  }
  return undefined;
}

/**
 * The VFIO live-update series' tests in a tree; none in a stock tree. Like
 * the liveupdate ones, a test is staged when it calls `luo_test()`, and its
 * stage option is the one that function parses in the library the VFIO
 * Makefile includes (the liveupdate selftests' lib/); the IOMMU modes it runs
 * come from the VFIO library (vfio-modes.ts).
 */
export async function discoverVfioLiveUpdateTests(tree: string): Promise<SelftestInfo[]> {
  const dir = join(tree, VFIO_SELFTEST_DIR);
  const makefile = await readFile(join(dir, 'Makefile'), 'utf8').catch(() => '');
  const { progs, extended } = parseSelftestMakefile(makefile);
  const names = dedupe([...progs, ...extended]).filter((n) => VFIO_LIVEUPDATE_TEST.test(n));
  if (names.length === 0) return [];
  const libraries = await includedLibraries(dir, makefile.replace(/\\\r?\n/g, ' '));
  const [iommuC, iommuH] = await Promise.all(['lib/iommu.c', 'lib/include/libvfio/iommu.h'].map((f) => readFile(join(dir, f), 'utf8').catch(() => '')));
  const modes = parseIommuModes(iommuC!, iommuH!);
  const luoTestLibrary = stageArgsOfLuoTest(libraries);
  const tests: SelftestInfo[] = [];
  for (const name of names) {
    const source = await readFile(join(dir, `${name}.c`), 'utf8').catch((cause: unknown) => {
      throw new ConfigError(`the Makefile of ${dir} lists ${name}, but ${name}.c is not there; cannot learn how it runs`, { cause });
    });
    const facts = analyzeTestSource(source);
    let stageArgs: string[] | undefined;
    if (facts.staged) {
      const lib = luoTestLibrary;
      if (!lib) throw new ConfigError(`${name} calls luo_test(), but no library the ${VFIO_SELFTEST_DIR}/Makefile includes defines it; cannot tell how it takes its stage`);
      if (!lib.args) throw new ConfigError(`${name} calls luo_test(), whose library ${relative(tree, lib.file)} parses no "s:" option; cannot tell how it takes its stage`);
      stageArgs = lib.args;
    }
    tests.push({
      name,
      binary: name,
      staged: facts.staged,
      ...(stageArgs ? { stageArgs } : {}),
      ...(facts.stateSession !== undefined ? { stateSession: facts.stateSession } : {}),
      sessions: facts.sessions,
      // The IOMMU interfaces each mode opens are in `modes`; these are the series' own options.
      requires: ['LIVEUPDATE', 'PCI_LIVEUPDATE', 'VFIO_PCI_LIVEUPDATE', ...(facts.staged ? ['KEXEC_FILE', 'KEXEC_HANDOVER'] : [])],
      modes: modesOfTest(source, modes),
      suite: 'vfio',
      device: 'vfio-pci',
    });
  }
  return tests;
}

/** What a kernel artifact's selftests/ directory holds: the tests it built, learnt from the sources it carries. */
export async function readSelftestBuild(dir: string): Promise<SelftestBuild> {
  let built: Partial<SelftestPrograms> & { schema?: number };
  try {
    built = JSON.parse(await readFile(join(dir, SELFTEST_BUILD_FILE), 'utf8'));
  } catch (cause) {
    throw new ConfigError(`cannot read ${join(dir, SELFTEST_BUILD_FILE)}; rebuild the kernel artifact so it carries its selftests`, { cause });
  }
  if (built.schema !== 1 || !Array.isArray(built.programs)) throw new ConfigError(`${join(dir, SELFTEST_BUILD_FILE)} is not a selftest build of schema 1`);
  const found = await discoverSelftests(join(dir, SELFTEST_SOURCES));
  const programs = new Set(built.programs);
  return { ...found, tests: found.tests.filter((t) => programs.has(t.binary)), ...(built.notes?.length ? { notes: built.notes } : {}) };
}

// Build the kernel's own Live Update selftests (tools/testing/selftests/liveupdate)
// as static binaries, and learn from their sources how each one must be run.
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
import { constants } from 'node:fs';
import { access, copyFile, cp, mkdir, mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { BuildFailure, ConfigError, InfraError } from '../errors.ts';
import { parseKconfig } from './kconfig.ts';

/** The selftest directory inside a kernel tree. */
export const LIVEUPDATE_SELFTEST_DIR = 'tools/testing/selftests/liveupdate';
/**
 * The VFIO selftests; a tree carrying the VFIO live-update series has
 * `vfio_pci_liveupdate_*` programs there (uapi test without kexec, kexec
 * test in two stages), which take the device's BDF from VFIO_SELFTESTS_BDF
 * (or their command line) and need it bound to vfio-pci before each stage.
 */
export const VFIO_SELFTEST_DIR = 'tools/testing/selftests/vfio';
export const VFIO_LIVEUPDATE_TEST = /^vfio_pci_liveupdate_\w+$/;
export const SELFTESTS_MANIFEST = 'selftests.json';

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
}

export interface SelftestBuild {
  tests: SelftestInfo[];
  /** Why some tests the tree has are not in `tests` (e.g. the VFIO series' tests did not build). */
  notes?: string[];
  /** The selftests' `config` (+ `config.x86_64` where there is one), keyed without the CONFIG_ prefix: { LIVEUPDATE: 'y' }. */
  configRequirements: Record<string, string>;
}

export interface BuildSelftestsOptions {
  /** A kernel source tree; it is only read. */
  tree: string;
  /** A `make headers_install` output: holds include/linux/liveupdate.h. */
  headersDir: string;
  /** Receives the binaries and selftests.json. */
  outDir: string;
  log?: (line: string) => void;
  /** Deadline for the compile; default 5 minutes. */
  timeoutMs?: number;
}

// ---- Makefile discovery -------------------------------------------------

/** Programs a kselftest Makefile builds: TEST_GEN_PROGS then TEST_GEN_PROGS_EXTENDED, in order. */
export function parseSelftestMakefile(text: string): { progs: string[]; extended: string[] } {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const vars: Record<string, string[]> = { TEST_GEN_PROGS: [], TEST_GEN_PROGS_EXTENDED: [] };
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.replace(/#.*/, '');
    const m = /^\s*(TEST_GEN_PROGS(?:_EXTENDED)?)\s*(\+=|:=|::=|\?=|=)\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, name, op, value] = m as unknown as [string, string, string, string];
    // Only plain words; a $(...) value would need make itself to expand.
    const words = value.split(/\s+/).filter((w) => w && !w.includes('$'));
    if (op === '+=') vars[name]!.push(...words);
    else if (op === '?=') {
      if (vars[name]!.length === 0) vars[name] = words;
    } else vars[name] = words;
  }
  return { progs: dedupe(vars.TEST_GEN_PROGS!), extended: dedupe(vars.TEST_GEN_PROGS_EXTENDED!) };
}

const dedupe = (xs: string[]) => [...new Set(xs)];

/** The `config` fragment: `CONFIG_X=y` lines (and `# CONFIG_X is not set` as 'n'). */
export function parseConfigFragment(text: string): Record<string, string> {
  const { values } = parseKconfig(text.replace(/\r/g, ''), 'config');
  return Object.fromEntries([...values].map(([option, value]) => [option, value.replace(/^"(.*)"$/, '$1')]));
}

// ---- Source analysis ----------------------------------------------------

const stripComments = (c: string) => c.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '');

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
    const fmts = callArgs(src, 'snprintf')
      .filter((a) => a[0] === expr && a[2] !== undefined)
      .map((a) => resolveName(a[2]!, defs, src));
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

// ---- Build ----------------------------------------------------------------

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
  // 7.3 adds per-arch fragments (config.x86_64: the serial console), as vmtest.sh merges them.
  const configText = (await Promise.all(['config', 'config.x86_64'].map((f) => readFile(join(dir, f), 'utf8').catch(() => '')))).join('\n');
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

/** The VFIO live-update series' tests in a tree; none in a stock tree. */
export async function discoverVfioLiveUpdateTests(tree: string): Promise<SelftestInfo[]> {
  const dir = join(tree, VFIO_SELFTEST_DIR);
  const makefile = await readFile(join(dir, 'Makefile'), 'utf8').catch(() => '');
  const { progs, extended } = parseSelftestMakefile(makefile);
  const tests: SelftestInfo[] = [];
  for (const name of dedupe([...progs, ...extended]).filter((n) => VFIO_LIVEUPDATE_TEST.test(n))) {
    const source = stripComments(await readFile(join(dir, `${name}.c`), 'utf8').catch(() => ''));
    // Staged when it takes a stage: a --stage option (getopt_long) or a -s one.
    const longStage = /"stage"/.test(source) || /--stage/.test(source);
    const shortStage = /\bgetopt(?:_long)?\s*\([^;]*"[^"]*s:[^"]*"/.test(source);
    const staged = longStage || shortStage || /kexec/.test(name);
    tests.push({
      name,
      binary: name,
      staged,
      ...(staged ? { stageArgs: longStage || !shortStage ? ['--stage', 'N'] : ['-s', 'N'] } : {}),
      // Its session names live in the series' library: keep it alone around its kexec.
      sessions: null,
      requires: ['LIVEUPDATE', 'VFIO_DEVICE_CDEV', 'PCI_LIVEUPDATE', 'VFIO_PCI_LIVEUPDATE', ...(staged ? ['KEXEC_FILE', 'KEXEC_HANDOVER'] : [])],
      suite: 'vfio',
      device: 'vfio-pci',
    });
  }
  return tests;
}

/**
 * A scratch mirror of the tree in which only one selftest directory is a
 * real copy: kselftest Makefiles compile `%.o` into the current directory,
 * so running make in the tree itself would write there.
 */
async function mirrorTree(tree: string, scratch: string, selftestDir: string): Promise<string> {
  const parts = selftestDir.split('/');
  let src = tree;
  let dst = join(scratch, 'tree');
  for (const part of parts) {
    await mkdir(dst, { recursive: true });
    for (const e of await readdir(src)) if (e !== part) await symlink(join(src, e), join(dst, e));
    src = join(src, part);
    dst = join(dst, part);
  }
  await cp(src, dst, { recursive: true });
  return dst;
}

/** True when an ELF file has no PT_INTERP program header (no dynamic loader). */
export function isStaticElf(head: Buffer): boolean {
  if (head.length < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return false; // ELF64 little-endian only
  const phoff = Number(head.readBigUInt64LE(0x20));
  const phentsize = head.readUInt16LE(0x36);
  const phnum = head.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > head.length) return false;
    if (head.readUInt32LE(at) === 3) return false;
  }
  return true;
}

async function elfHead(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Runs one selftest directory's make in a scratch mirror, static; returns the output directory. */
async function makeSelftests(opts: BuildSelftestsOptions, scratch: string, selftestDir: string, targets: string[], what: string): Promise<string> {
  const log = opts.log ?? (() => {});
  const srcDir = await mirrorTree(opts.tree, join(scratch, selftestDir.replace(/\//g, '_')), selftestDir);
  const output = join(scratch, `out-${selftestDir.replace(/\//g, '_')}`);
  await mkdir(output, { recursive: true });
  const args = ['-C', srcDir, `OUTPUT=${output}`, `KHDR_INCLUDES=-isystem ${join(opts.headersDir, 'include')}`, ...targets.map((t) => join(output, t))];
  log(`make ${args.join(' ')}`);
  // CFLAGS/LDFLAGS go through the environment: on the command line they would
  // override the Makefile's own `CFLAGS +=` (the header and library paths).
  const result = await execa('make', args, {
    reject: false,
    all: true,
    timeout: opts.timeoutMs ?? 300_000,
    env: { CFLAGS: '-static', LDFLAGS: '-static', LC_ALL: 'C' },
  });
  for (const line of (result.all ?? '').split('\n')) if (line) log(line);
  if (result.failed) {
    const tail = (result.all ?? '').trimEnd().split('\n').slice(-30).join('\n');
    if ((result as { code?: string }).code === 'ENOENT') throw new InfraError('`make` is not installed on this host', { cause: result });
    if (result.timedOut) throw new InfraError(`building the ${what} took longer than ${(opts.timeoutMs ?? 300_000) / 1000} s`, { detail: tail });
    const hint = /cannot find -lc|crt1\.o/.test(tail) ? ' (static glibc missing: install the libc development package)' : '';
    throw new BuildFailure(`building the ${what} of ${opts.tree} failed (make exited ${result.exitCode})${hint}`, { detail: tail });
  }
  return output;
}

/** Compiles the liveupdate selftests of `tree` (and the VFIO series' ones, when it has them) into static binaries in outDir, plus selftests.json. */
export async function buildSelftests(opts: BuildSelftestsOptions): Promise<SelftestBuild> {
  const found = await discoverSelftests(opts.tree);
  try {
    await access(join(opts.headersDir, 'include', 'linux', 'liveupdate.h'), constants.R_OK);
  } catch (cause) {
    throw new ConfigError(`${opts.headersDir} holds no include/linux/liveupdate.h; pass the kernel's headers_install output`, { cause });
  }
  await mkdir(opts.outDir, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'luo-selftests-'));
  const notes: string[] = [];
  let tests = found.tests;
  try {
    const built = new Map<string, string>();
    const own = tests.filter((t) => t.suite === undefined);
    const lu = await makeSelftests(opts, scratch, LIVEUPDATE_SELFTEST_DIR, [], 'liveupdate selftests');
    for (const t of own) built.set(t.name, join(lu, t.binary));
    const vfio = tests.filter((t) => t.suite === 'vfio');
    if (vfio.length) {
      // The series' tests are extra: when they do not build, the liveupdate ones still count.
      try {
        const out = await makeSelftests(opts, scratch, VFIO_SELFTEST_DIR, vfio.map((t) => t.binary), 'VFIO live-update selftests');
        for (const t of vfio) built.set(t.name, join(out, t.binary));
      } catch (error) {
        if (!(error instanceof BuildFailure)) throw error;
        notes.push(`${vfio.map((t) => t.name).join(', ')}: ${error.message}`);
        tests = own;
      }
    }
    for (const t of tests) {
      const file = built.get(t.name)!;
      if (!isStaticElf(await elfHead(file).catch(() => Buffer.alloc(0)))) {
        throw new BuildFailure(`selftest ${t.name} was not built as a static x86_64 ELF (${relative(scratch, file)})`);
      }
      await copyFile(file, join(opts.outDir, t.binary));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const result: SelftestBuild = { ...found, tests, ...(notes.length ? { notes } : {}) };
  await writeFile(join(opts.outDir, SELFTESTS_MANIFEST), JSON.stringify({ schema: 1, ...result }, null, 2) + '\n');
  return result;
}

/** Reads a selftests.json written by buildSelftests (e.g. from an artifact's selftests/). */
export async function readSelftestBuild(dir: string): Promise<SelftestBuild> {
  const file = join(dir, SELFTESTS_MANIFEST);
  let parsed: { schema?: number; tests?: SelftestInfo[]; configRequirements?: Record<string, string>; notes?: string[] };
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`cannot read ${file}; rebuild the kernel artifact so it carries its selftests`, { cause });
  }
  if (parsed.schema !== 1 || !Array.isArray(parsed.tests)) throw new ConfigError(`${file} is not a selftests manifest of schema 1`);
  return { tests: parsed.tests, configRequirements: parsed.configRequirements ?? {}, ...(parsed.notes ? { notes: parsed.notes } : {}) };
}

// Builds the kernel's own selftests that concern live update, from the very
// tree the kernel was built from, as static binaries the guest can run:
// tools/testing/selftests/liveupdate (every program of its Makefile) and, in
// a tree carrying the VFIO live-update series, the vfio_pci_liveupdate_*
// programs of tools/testing/selftests/vfio. The artifact keeps the binaries
// and the sources of both directories (Makefiles, configs, C files): how each
// test must be run is learnt from those sources when a run is planned
// (harness/kselftest/discovery.ts), not here.
import { constants } from 'node:fs';
import { access, copyFile, cp, mkdir, mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { BuildFailure, ConfigError, InfraError } from '../errors.ts';

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
/** What a build of the selftests left in an artifact's selftests/ directory. */
export const SELFTEST_BUILD_FILE = 'build.json';
/** Where the artifact keeps the selftest sources, in the tree's own layout. */
export const SELFTEST_SOURCES = 'src';

export interface SelftestPrograms {
  /** Static binaries in the artifact's selftests/ directory. */
  programs: string[];
  /** Why programs of the tree are missing (e.g. the VFIO series' tests did not build). */
  notes: string[];
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

const dedupe = (xs: string[]) => [...new Set(xs)];

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

/** The programs a selftest directory's Makefile builds, [] when the tree has no such directory. */
async function programsOf(tree: string, dir: string): Promise<string[]> {
  const text = await readFile(join(tree, dir, 'Makefile'), 'utf8').catch(() => undefined);
  if (text === undefined) return [];
  const { progs, extended } = parseSelftestMakefile(text);
  return dedupe([...progs, ...extended]);
}

/** Compiles the live-update selftests of `tree` into static binaries in outDir, with their sources and build.json. */
export async function buildSelftests(opts: BuildSelftestsOptions): Promise<SelftestPrograms> {
  const ownPrograms = await programsOf(opts.tree, LIVEUPDATE_SELFTEST_DIR);
  if (ownPrograms.length === 0) throw new ConfigError(`kernel tree ${opts.tree} has no programs in ${LIVEUPDATE_SELFTEST_DIR}/Makefile; its kernel predates the Live Update selftests`);
  const vfioPrograms = (await programsOf(opts.tree, VFIO_SELFTEST_DIR)).filter((p) => VFIO_LIVEUPDATE_TEST.test(p));
  try {
    await access(join(opts.headersDir, 'include', 'linux', 'liveupdate.h'), constants.R_OK);
  } catch (cause) {
    throw new ConfigError(`${opts.headersDir} holds no include/linux/liveupdate.h; pass the kernel's headers_install output`, { cause });
  }
  await mkdir(opts.outDir, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'luo-selftests-'));
  const notes: string[] = [];
  const built = new Map<string, string>();
  try {
    const lu = await makeSelftests(opts, scratch, LIVEUPDATE_SELFTEST_DIR, [], 'liveupdate selftests');
    for (const p of ownPrograms) built.set(p, join(lu, p));
    if (vfioPrograms.length) {
      // The series' tests are extra: when they do not build, the liveupdate ones still count.
      try {
        const out = await makeSelftests(opts, scratch, VFIO_SELFTEST_DIR, vfioPrograms, 'VFIO live-update selftests');
        for (const p of vfioPrograms) built.set(p, join(out, p));
      } catch (error) {
        if (!(error instanceof BuildFailure)) throw error;
        notes.push(`${vfioPrograms.join(', ')}: ${error.message}`);
      }
    }
    for (const [name, file] of built) {
      if (!isStaticElf(await elfHead(file).catch(() => Buffer.alloc(0)))) {
        throw new BuildFailure(`selftest ${name} was not built as a static x86_64 ELF (${relative(scratch, file)})`);
      }
      await copyFile(file, join(opts.outDir, name));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  // The sources go along: discovery reads them when a run is planned.
  for (const dir of [LIVEUPDATE_SELFTEST_DIR, ...(vfioPrograms.length ? [VFIO_SELFTEST_DIR] : [])]) {
    const dest = join(opts.outDir, SELFTEST_SOURCES, dir);
    await mkdir(dirname(dest), { recursive: true });
    await cp(join(opts.tree, dir), dest, { recursive: true, dereference: true });
  }
  const result: SelftestPrograms = { programs: [...built.keys()], notes };
  await writeFile(join(opts.outDir, SELFTEST_BUILD_FILE), JSON.stringify({ schema: 1, ...result }, null, 2) + '\n');
  return result;
}

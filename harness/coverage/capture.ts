// Counters from every kernel a machine runs, each read once, when that
// kernel's run ends: at its kexec (inside reboot(), stopped at
// machine_kexec through QEMU's debugger stub, after the freeze, the
// serialization and KHO's finalization ran), or at the end of the run
// (debugfs, over SSH). One capture per boot, under <dir>/boot<N>/: the
// .gcda files by source path, and capture.json saying which kernel, how
// read, or why nothing could be.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { COVERAGE_DIR, COVERAGE_FILES, type CoverageIndex } from '../kernel/coverage-build.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { GdbRemote, type StubAddress } from './gdb-remote.ts';
import { decodeGcda, encodeGcda, pagedReader, readGcovList, type GcovUnit } from './gcov-data.ts';
import { readSymbols } from './system-map.ts';

export const CAPTURE_FILE = 'capture.json';

/** One boot's counters, as capture.json records them. */
export interface CaptureRecord {
  boot: number;
  /** The kernel that ran in that boot: its recipe, release and content key. */
  kernel: { recipe: string; release: string; key: string; dir: string };
  /** at-kexec: read at machine_kexec (the reboot path counted); at-end: debugfs when the run ended. */
  when: 'at-kexec' | 'at-end';
  /** The instrumented files whose counters were read. */
  files: string[];
  /** Why this boot's counters could not be read (then `files` is empty). */
  missing?: string;
  /** When the counters were read (ISO time): the order of a campaign's captures. */
  at?: string;
}

/** The .gcda name the kernel gives a unit -> its source path in the tree ("<objtree>/kernel/x.gcda" -> "kernel/x.c"). */
export function sourceOfUnit(filename: string, index: Pick<CoverageIndex, 'objtree' | 'files'>): string | undefined {
  const stem = filename.replace(/\.gcda$/, '');
  const relative = stem.startsWith(index.objtree + '/') ? stem.slice(index.objtree.length + 1) : undefined;
  return index.files.find((f) => f.replace(/\.c$/, '') === relative) ?? index.files.find((f) => stem.endsWith('/' + f.replace(/\.c$/, '')));
}

/** What reading a coverage kernel's counters takes: its index and the addresses the probe needs. */
export interface CoverageKernel {
  index: CoverageIndex;
  symbols: { text: bigint; machineKexec: bigint; gcovInfoHead: bigint };
}

const kernels = new Map<string, Promise<CoverageKernel>>();

/** A coverage kernel's index and symbols, read once per process (an artifact is checked when it runs and never changes). */
export function coverageKernel(kernelDir: string): Promise<CoverageKernel> {
  let known = kernels.get(kernelDir);
  if (!known) {
    const dir = join(kernelDir, COVERAGE_DIR);
    known = Promise.all([
      readFile(join(dir, COVERAGE_FILES.index), 'utf8').then((t) => JSON.parse(t) as CoverageIndex),
      readSymbols(join(dir, COVERAGE_FILES.systemMap), ['_text', 'machine_kexec', 'gcov_info_head']),
    ]).then(([index, s]) => ({ index, symbols: { text: s.get('_text')!, machineKexec: s.get('machine_kexec')!, gcovInfoHead: s.get('gcov_info_head')! } }));
    kernels.set(kernelDir, known);
  }
  return known;
}

async function writeCapture(dir: string, read: CaptureRecord, units: { source: string; bytes: Buffer }[]): Promise<CaptureRecord> {
  const record = { ...read, at: new Date().toISOString() };
  const bootDir = join(dir, `boot${record.boot}`);
  for (const u of units) {
    const file = join(bootDir, u.source.replace(/\.c$/, '.gcda'));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, u.bytes);
  }
  await mkdir(bootDir, { recursive: true });
  await writeFile(join(bootDir, CAPTURE_FILE), JSON.stringify(record, null, 1) + '\n');
  return record;
}

const kernelOf = (k: KernelArtifact): CaptureRecord['kernel'] => ({ recipe: k.manifest.recipe, release: k.manifest.release, key: k.manifest.key, dir: k.dir });

/** Records that boot `boot`'s counters could not be read, and why. */
export const writeMissing = (dir: string, kernel: KernelArtifact, boot: number, when: CaptureRecord['when'], why: string): Promise<CaptureRecord> =>
  writeCapture(dir, { boot, kernel: kernelOf(kernel), when, files: [], missing: why }, []);

/** A breakpoint armed at the running kernel's machine_kexec; `collect` reads the counters when it is hit. */
export interface KexecProbe {
  /** Waits for the stop, reads and writes the counters, lets the kexec go on. Never throws: a miss is recorded. */
  collect(timeoutMs: number): Promise<CaptureRecord>;
  /** The kexec was never asked for after all: the breakpoint goes, the debugger lets go, the miss is recorded. */
  cancel(why: string): Promise<CaptureRecord>;
}

/**
 * Arms the probe for boot `boot`'s kexec. Connecting stops the guest for
 * the few packets it takes; it runs on once the breakpoint is set.
 * `kaslrOffset`: how far the running kernel sits from System.map's addresses.
 */
export async function armKexecProbe(stub: StubAddress, kernel: KernelArtifact, dir: string, boot: number, kaslrOffset = 0n): Promise<KexecProbe> {
  const { index, symbols } = await coverageKernel(kernel.dir);
  const at = (name: 'machineKexec' | 'gcovInfoHead') => symbols[name] + kaslrOffset;
  const missing = (why: string) => writeMissing(dir, kernel, boot, 'at-kexec', why);
  const gdb = await GdbRemote.open(stub);
  try {
    await gdb.insertBreakpoint(at('machineKexec'));
  } catch (e) {
    await gdb.detach();
    throw e;
  }
  const running = gdb.continueUntilStop(24 * 3600_000).catch((e: Error) => e);
  return {
    async collect(timeoutMs) {
      try {
        const stop = await Promise.race([running, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref())]);
        if (stop === 'timeout') return await missing(`the kernel did not reach machine_kexec within ${Math.round(timeoutMs / 1000)} s`);
        if (stop instanceof Error) return await missing(`the debugger stub failed before machine_kexec: ${stop.message}`);
        if (stop?.kind !== 'stopped') return await missing(`the machine ended before machine_kexec (${stop?.reply ?? 'no stop reply'})`);
        const placed = placeUnits(await readGcovList(pagedReader((a, n) => gdb.readMemory(a, n)), at('gcovInfoHead')), index);
        if (placed.length === 0) return await missing('the kernel\'s gcov list at machine_kexec holds none of the instrumented files');
        return await writeCapture(dir, { boot, kernel: kernelOf(kernel), when: 'at-kexec', files: placed.map((u) => u.source).sort() }, placed);
      } catch (e) {
        return await missing(`reading the counters at machine_kexec failed: ${(e as Error).message}`);
      } finally {
        await gdb.detach();
      }
    },
    async cancel(why) {
      await gdb.detach();
      return missing(why);
    },
  };
}

function placeUnits(units: readonly GcovUnit[], index: CoverageIndex): { source: string; bytes: Buffer }[] {
  return units.flatMap((u) => {
    const source = sourceOfUnit(u.filename, index);
    return source ? [{ source, bytes: encodeGcda(u) }] : [];
  });
}

/** A boot's captured counters, by source path (none when the capture is missing or was never written). */
export async function readCapturedUnits(dir: string, boot: number): Promise<{ source: string; unit: GcovUnit }[]> {
  const bootDir = join(dir, `boot${boot}`);
  const record = await readFile(join(bootDir, CAPTURE_FILE), 'utf8').then((t) => JSON.parse(t) as CaptureRecord, () => undefined);
  return Promise.all(
    (record?.files ?? []).map(async (source) => {
      const file = join(bootDir, source.replace(/\.c$/, '.gcda'));
      return { source, unit: decodeGcda(await readFile(file), file) };
    }),
  );
}

/** Runs a shell command in the guest; resolves its stdout, rejects when it fails (with its stderr). */
export type GuestShell = (command: string) => Promise<string>;

/** The gcov debugfs tree, every .gcda as "@@ <path>" and its bytes in base64. */
const DEBUGFS_SCRIPT = `d=/sys/kernel/debug/gcov; [ -d $d ] || { echo "no $d: debugfs is not mounted or the kernel has no gcov" >&2; exit 3; }; find $d -name '*.gcda' | while read f; do echo "@@ $f"; base64 < "$f"; done`;

/** Parses the script's output into (debugfs path, bytes). */
export function parseDebugfsDump(text: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; lines: string[] }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('@@ ')) out.push({ path: line.slice(3).trim(), lines: [] });
    else if (out.length && line.trim()) out.at(-1)!.lines.push(line.trim());
  }
  return out.map((o) => ({ path: o.path, bytes: Buffer.from(o.lines.join(''), 'base64') }));
}

/** The running kernel's counters of the instrumented files, through its own debugfs files (a damaged file throws). */
export async function readLiveUnits(shell: GuestShell, index: CoverageIndex): Promise<{ source: string; bytes: Buffer; unit: GcovUnit }[]> {
  return parseDebugfsDump(await shell(DEBUGFS_SCRIPT)).flatMap(({ path, bytes }) => {
    const source = sourceOfUnit(path.replace(/^\/sys\/kernel\/debug\/gcov/, ''), index);
    // A damaged dump is a miss, never a wrong count.
    return source ? [{ source, bytes, unit: decodeGcda(bytes, path) }] : [];
  });
}

/** The running kernel's counters through its own debugfs files, when the run ends. Never throws: a miss is recorded. */
export async function captureAtEnd(shell: GuestShell, kernel: KernelArtifact, dir: string, boot: number): Promise<CaptureRecord> {
  const record = { boot, kernel: kernelOf(kernel), when: 'at-end' as const };
  try {
    const units = await readLiveUnits(shell, (await coverageKernel(kernel.dir)).index);
    if (units.length === 0) return await writeCapture(dir, { ...record, files: [], missing: 'the kernel\'s gcov debugfs holds none of the instrumented files' }, []);
    return await writeCapture(dir, { ...record, files: units.map((u) => u.source).sort() }, units);
  } catch (e) {
    // A failed command's own words (its stderr), else the error's first line.
    const why = (e as { stderr?: string }).stderr?.trim() || (e as Error).message.split('\n')[0];
    return writeCapture(dir, { ...record, files: [], missing: `reading debugfs over SSH failed: ${why}` }, []);
  }
}

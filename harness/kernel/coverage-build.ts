// A kernel built for coverage: gcov (CONFIG_GCOV_KERNEL) for the
// live-update code and every C file the recipe's patches touch, nothing
// else (instrumenting the whole kernel would slow every boot and blackout
// for code nobody asked about). Beside the kernel the artifact keeps what
// gcov needs to read its counters later: the notes files (.gcno) the
// compiler wrote, the sources, System.map (where the counters live), and
// per patch the lines it added.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { addedLinesPerPatch, type PatchLines } from './patch-lines.ts';
import { unitsOf, type PatchInput } from './patches.ts';

/** The Kconfig options a coverage build adds (kernels/config/coverage.config holds them too). */
export const COVERAGE_OPTIONS = ['GCOV_KERNEL', 'DEBUG_FS'] as const;

/** Folders whose live-update C files are always instrumented (the ones a tree has). */
const LIVEUPDATE_DIRS = ['kernel/liveupdate'];
/** Files of the live-update path that lived elsewhere in older trees. */
const LIVEUPDATE_FILES = ['kernel/kexec_handover.c', 'mm/memfd_luo.c'];
/** C files a patch may touch that are not kernel objects. */
const NOT_KERNEL = /^(tools|samples|scripts|Documentation|usr)\/|^arch\/[^/]+\/boot\//;

export const COVERAGE_DIR = 'coverage';
export const COVERAGE_FILES = {
  index: 'coverage.json',
  systemMap: 'System.map',
  notes: 'gcno', // <path>.gcno, by source path without .c
  sources: 'src', // the instrumented sources as built
} as const;

/** What a coverage artifact records about itself (coverage/coverage.json). */
export interface CoverageIndex {
  schema: 1;
  /** The build directory the compiler ran in: the prefix of every .gcda name the kernel knows. */
  objtree: string;
  /** The source tree: the prefix of every source path in the notes. */
  srctree: string;
  /** The instrumented C files, relative to the tree, that this kernel holds. */
  files: string[];
  /** Files asked for that this config does not compile (no notes were written). */
  notBuilt: string[];
  /** Per patch of the recipe, the lines it added (final line numbers). */
  patches: PatchLines[];
}

/** The C files to instrument: the tree's live-update files and the kernel C files the patches touch. */
export async function filesToInstrument(tree: string, patchTexts: readonly { label: string; text: string }[]): Promise<string[]> {
  const files = new Set<string>();
  for (const dir of LIVEUPDATE_DIRS) {
    const entries = await readdir(join(tree, dir)).catch(() => [] as string[]);
    for (const f of entries) if (f.endsWith('.c')) files.add(`${dir}/${f}`);
  }
  for (const f of LIVEUPDATE_FILES) if (existsSync(join(tree, f))) files.add(f);
  for (const p of addedLinesPerPatch(patchTexts)) {
    for (const f of Object.keys(p.files)) if (f.endsWith('.c') && !NOT_KERNEL.test(f) && existsSync(join(tree, f))) files.add(f);
  }
  return [...files].sort();
}

/**
 * kbuild's per-object switch, on make's command line: `GCOV_PROFILE_<stem>.o=y`.
 * It goes by object name, so another object of the same name elsewhere is
 * instrumented too (it costs speed, and the reports leave it out).
 */
export function gcovMakeArgs(files: readonly string[]): string[] {
  return [...new Set(files.map((f) => `GCOV_PROFILE_${basename(f, '.c')}.o=y`))];
}

/** The patch units of the recipe's inputs, as they were applied (label and text). */
export async function patchUnits(inputs: readonly PatchInput[]): Promise<{ label: string; text: string }[]> {
  const units: { label: string; text: string }[] = [];
  for (const input of inputs) units.push(...unitsOf(input, await readFile(input.path, 'utf8')));
  return units;
}

/** Writes coverage/ into a staged artifact: notes, sources, System.map and the index. */
export async function collectCoverageNotes(options: {
  tree: string;
  buildDir: string;
  files: readonly string[];
  units: readonly { label: string; text: string }[];
  outDir: string;
}): Promise<CoverageIndex> {
  const { tree, buildDir, outDir } = options;
  const built: string[] = [];
  const notBuilt: string[] = [];
  for (const file of options.files) {
    const stem = file.replace(/\.c$/, '');
    const notes = join(buildDir, `${stem}.gcno`);
    if (!existsSync(notes)) {
      notBuilt.push(file);
      continue;
    }
    built.push(file);
    for (const [from, to] of [
      [notes, join(outDir, COVERAGE_FILES.notes, `${stem}.gcno`)],
      [join(tree, file), join(outDir, COVERAGE_FILES.sources, file)],
    ] as const) {
      await mkdir(dirname(to), { recursive: true });
      await copyFile(from, to);
    }
  }
  await copyFile(join(buildDir, 'System.map'), join(outDir, COVERAGE_FILES.systemMap));
  const index: CoverageIndex = { schema: 1, objtree: buildDir, srctree: tree, files: built, notBuilt, patches: addedLinesPerPatch(options.units) };
  await writeFile(join(outDir, COVERAGE_FILES.index), JSON.stringify(index, null, 1) + '\n');
  return index;
}

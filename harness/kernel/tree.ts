// The source tree a recipe builds from, with the recipe's patches applied.
//
// A source the cache fetched (Debian, git, tarball) is patched in place, so
// every recipe of one source compiles the same paths and the compiler cache
// hits across them. Before a file is patched for the first time its original
// is kept under .luo-harness/orig/ (or it is noted as absent, for a file a
// patch creates); switching to another recipe restores the files the last
// series touched, then applies the new one. Every file that changes gets a
// fresh mtime (patch and copy both write anew), so an incremental build
// recompiles exactly what changed. A state file records the applied series;
// while it is missing the tree counts as dirty, and the next preparation
// restores every file ever kept, so an interrupted run never leaves a
// half-patched tree behind.
//
// A user's own tree (a local source) is never written: a recipe that patches
// it gets a private copy.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { InfraError } from '../errors.ts';
import type { FileDigest } from './artifact.ts';
import { applyPatches, type FuzzedPatch, type PatchInput } from './patches.ts';

const META = '.luo-harness';
const STATE = join(META, 'state.json');
const ORIG = join(META, 'orig');
const ABSENT = join(META, 'absent.json');

interface TreeState {
  /** What was applied: each input's digest (and prefix), and the fuzz allowed. */
  patches: string[];
  touched: string[];
  fuzzed?: FuzzedPatch[];
}

/** A patch input and its digest (what the tree's state records). */
export interface TreePatch extends PatchInput {
  digest: FileDigest;
}

export interface PrepareTreeOptions {
  /** Patch this tree in place (a source the cache owns); false: patch a copy at `copyDir`. */
  inPlace: boolean;
  /** Where a copy goes when the tree must not be written. */
  copyDir: string;
  say: (phase: string) => void;
  /** Context lines a hunk may miss (GNU patch --fuzz); 0 by default. */
  fuzz?: number;
}

export interface PreparedTree {
  tree: string;
  /** Units that only applied with fuzz. */
  fuzzed: FuzzedPatch[];
}

const readJson = async <T>(path: string): Promise<T | undefined> => readFile(path, 'utf8').then((t) => JSON.parse(t) as T, () => undefined);

/** The tree to build: `source` itself (patched in place, or restored to pristine), or a patched copy of a user's tree. */
export async function preparePatchedTree(source: string, patches: TreePatch[], options: PrepareTreeOptions): Promise<PreparedTree> {
  if (!options.inPlace) {
    if (patches.length === 0) return { tree: source, fuzzed: [] };
    await copyTree(source, options.copyDir, options.say);
    return { tree: options.copyDir, fuzzed: await patchInPlace(options.copyDir, patches, options) };
  }
  return { tree: source, fuzzed: await patchInPlace(source, patches, options) };
}

/** A fresh full copy of a user's tree, unless one of it with the same series is already there. */
async function copyTree(source: string, dest: string, say: (phase: string) => void): Promise<void> {
  if (existsSync(join(dest, STATE)) && (await readFile(join(dest, META, 'source'), 'utf8').catch(() => '')) === source) return;
  say('copying the source tree');
  await rm(dest, { recursive: true, force: true });
  await mkdir(dirname(dest), { recursive: true });
  try {
    await execa('cp', ['-a', '--reflink=auto', source, dest]);
    await rm(join(dest, META), { recursive: true, force: true });
    await mkdir(join(dest, META), { recursive: true });
    await writeFile(join(dest, META, 'source'), source);
    await writeFile(join(dest, STATE), JSON.stringify({ patches: [], touched: [] } satisfies TreeState));
  } catch (cause) {
    await rm(dest, { recursive: true, force: true });
    throw new InfraError(`cannot copy ${source} to ${dest}`, { cause });
  }
}

async function patchInPlace(tree: string, patches: TreePatch[], options: PrepareTreeOptions): Promise<FuzzedPatch[]> {
  const { say } = options;
  const fuzz = options.fuzz ?? 0;
  const wanted = [...patches.map((p) => (p.first === undefined ? p.digest.sha256 : `${p.digest.sha256}:first=${p.first}`)), ...(fuzz ? [`fuzz=${fuzz}`] : [])];
  const state = await readJson<TreeState>(join(tree, STATE));
  if (state && JSON.stringify(state.patches) === JSON.stringify(wanted)) return state.fuzzed ?? [];

  // Dirty from here until the new state is written.
  await mkdir(join(tree, ORIG), { recursive: true });
  await rm(join(tree, STATE), { force: true });
  const absent = new Set((await readJson<string[]>(join(tree, ABSENT))) ?? []);
  const kept = state ? state.touched : [...(await keptFiles(tree)), ...absent];
  if (kept.length) say(`restoring ${kept.length} patched file(s)`);
  for (const f of kept) await restoreFile(tree, f, absent);

  const keep = async (file: string) => {
    const orig = join(tree, ORIG, file);
    if (existsSync(orig) || absent.has(file)) return;
    if (existsSync(join(tree, file))) {
      await mkdir(dirname(orig), { recursive: true });
      await copyFile(join(tree, file), orig);
    } else {
      absent.add(file);
      await writeFile(join(tree, ABSENT), JSON.stringify([...absent].sort()));
    }
  };
  const { touched, fuzzed } = await applyPatches(patches.map((p) => ({ path: p.path, ...(p.first !== undefined ? { first: p.first } : {}) })), tree, say, keep, fuzz);
  await writeFile(join(tree, STATE), JSON.stringify({ patches: wanted, touched, ...(fuzzed.length ? { fuzzed } : {}) } satisfies TreeState));
  return fuzzed;
}

/** Every file whose original is kept, relative to the tree. */
async function keptFiles(tree: string): Promise<string[]> {
  const { listFiles } = await import('../util/hash.ts');
  return existsSync(join(tree, ORIG)) ? listFiles(join(tree, ORIG)) : [];
}

async function restoreFile(tree: string, file: string, absent: ReadonlySet<string>): Promise<void> {
  const target = join(tree, file);
  if (absent.has(file)) {
    await rm(target, { force: true });
    return;
  }
  const orig = join(tree, ORIG, file);
  if (!existsSync(orig)) return;
  await rm(target, { force: true });
  await mkdir(dirname(target), { recursive: true });
  // A new write: the fresh mtime makes every build directory recompile it.
  await copyFile(orig, target);
}
